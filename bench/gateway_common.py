# Shared set-up for the gateway benchmarks: import paths, a gateway process, metrics scraping.
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("tests/host", "tests", "lib", "host"):
    p = os.path.join(ROOT, sub)
    if p not in sys.path:
        sys.path.insert(0, p)

from gateway_helpers import base_data, free_port, record, write_toml  # noqa: E402


def tmpdir(name):
    import pathlib
    return pathlib.Path(tempfile.mkdtemp(prefix="outpost-bench-" + name + "-"))


def alert_json(device, seq, severity="warning"):
    return json.dumps(record(device=device, seq=seq, severity=severity)).encode()


class Gateway:
    """`python -m outpost_gateway run` as a child process, with its HTTP listener for metrics."""

    def __init__(self, tmp, **sections):
        self.http_port = free_port()
        sections.setdefault("http", {}).update(enabled=True, port=self.http_port)
        sections.setdefault("watchdog", {}).update(enabled=False)
        sections.setdefault("gateway", {}).update(log_level="warning")
        self.config = write_toml(tmp / "gateway.toml", base_data(tmp, **sections))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.join(ROOT, "host"), os.path.join(ROOT, "lib")]))
        self.log = open(str(tmp / "gateway.log"), "ab")
        self.p = subprocess.Popen([sys.executable, "-m", "outpost_gateway", "run", "--config", self.config],
                                  env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.wait(lambda: self.health() is not None, 60)

    def get(self, path):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=10) as r:
            return r.read()

    def health(self):
        try:
            return json.loads(self.get("/health"))
        except urllib.error.HTTPError as e:
            return json.loads(e.read())
        except OSError:
            return None

    def metrics(self):
        out = {}
        for line in self.get("/metrics").decode().splitlines():
            if line and not line.startswith("#") and "{" not in line:
                k, v = line.split()
                out[k] = float(v)
        return out

    def rss_kib(self):
        for line in open("/proc/%d/status" % self.p.pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return None

    @staticmethod
    def wait(pred, timeout, step=0.01):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if pred():
                return True
            time.sleep(step)
        raise TimeoutError("benchmark condition not reached in %s s" % timeout)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(60)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def percentile(values, q):
    v = sorted(values)
    if not v:
        return float("nan")
    i = min(len(v) - 1, max(0, int(round(q / 100.0 * (len(v) - 1)))))
    return v[i]
