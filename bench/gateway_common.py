# Shared set-up for the gateway benchmarks: import paths, a gateway process, metrics scraping.
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("tests/host", "tests", "lib", "host"):
    p = os.path.join(ROOT, sub)
    if p not in sys.path:
        sys.path.insert(0, p)

from gateway_helpers import (GatewayProcess, Publisher, base_data, free_port, metrics, mqtt_subscribed,  # noqa: E402,F401
                             record, wait_for, write_toml)


def tmpdir(name):
    import pathlib
    return pathlib.Path(tempfile.mkdtemp(prefix="outpost-bench-" + name + "-"))


def alert_json(device, seq, severity="warning"):
    return json.dumps(record(device=device, seq=seq, severity=severity)).encode()


class Gateway(GatewayProcess):
    """`python -m outpost_gateway run` as a child process (the tests' GatewayProcess), with its
    HTTP listener for metrics; returns once /health answers."""

    def __init__(self, tmp, **sections):
        http_port = free_port()
        sections.setdefault("http", {}).update(enabled=True, port=http_port)
        sections.setdefault("watchdog", {}).update(enabled=False)
        sections.setdefault("gateway", {}).update(log_level="warning")
        config = write_toml(tmp / "gateway.toml", base_data(tmp, **sections))
        super().__init__(config, tmp / "gateway.log", http_port=http_port)
        self.wait(lambda: self.health() is not None, 60)

    def metrics(self):
        return metrics(self.http_port)

    @staticmethod
    def wait(pred, timeout, step=0.01):
        # a fixed step: the benches time what they wait for
        if not wait_for(pred, timeout, step=step, most=step):
            raise TimeoutError("benchmark condition not reached in %s s" % timeout)
        return True


def percentile(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    i = min(len(v) - 1, max(0, int(round(q / 100.0 * (len(v) - 1)))))
    return v[i]
