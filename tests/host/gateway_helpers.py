# One home for what the gateway tests and benchmarks (bench/) share: configs, alert records,
# a gateway process (start-up, its log as events, /health, kill, stop), a board's MQTT
# publisher, and waiting with a timeout.
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = os.path.join(ROOT, "host")
if HOST not in sys.path:
    sys.path.insert(0, HOST)

from outpost_gateway import config  # noqa: E402
from peers.ports import free_port  # noqa: E402,F401 (the gateway tests import it from here)
from peers.process import end  # noqa: E402


def base_data(tmp_path, **sections):
    # a minimal valid config as TOML-shaped data; sections override whole keys
    data = {
        "gateway": {"state_dir": str(tmp_path / "state"), "log_level": "debug"},
        "mqtt": {"enabled": False},
        "relay": {"host": "127.0.0.1", "port": 2525, "mode": "plain", "sender": "outpost@example.org",
                  "backoff_base": 10.0, "jitter": 0.0},
        "routing": {"owner": "owner@example.org", "default": ["ops@example.org"]},
        "http": {"enabled": False},
    }
    for name, sect in sections.items():
        data.setdefault(name, {}).update(sect)
    return data


def make_cfg(tmp_path, **sections):
    return config.merge(base_data(tmp_path, **sections), env={})


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (json.dumps(k), toml_value(x)) for k, x in v.items()) + "}"
    raise TypeError(v)


def write_toml(path, data):
    lines = []
    for sect, keys in data.items():
        lines.append("[%s]" % sect)
        for k, v in keys.items():
            lines.append("%s = %s" % (k, toml_value(v)))
        lines.append("")
    path.write_text("\n".join(lines))
    return str(path)


def record(device="dev1", seq=1, severity="warning", boot=1, **extra):
    r = {"v": 1, "id": "%s-%d-%d" % (device, boot, seq), "device": device, "severity": severity,
         "kind": "threshold", "subject": "temperature high on %s #%d" % (device, seq), "ts": 1700000000 + seq}
    r.update(extra)
    return r


def record_bytes(**kw):
    return json.dumps(record(**kw)).encode()


def fill_spool(spool, recs, source="test", rcpts=("ops@example.org",), batch=1000):
    # alert records straight into a spool, `batch` to a commit
    from outpost_gateway.spool import Alert
    ops = []
    for rec in recs:
        ops.append(Alert(rec["id"], rec["device"], rec["severity"], rec["kind"], rec["subject"], source,
                         json.dumps(rec).encode(), list(rcpts)))
        if len(ops) == batch:
            spool.write(ops)
            ops = []
    if ops:
        spool.write(ops)


def ingress_on_a_spool(cls, cfg, tmp_path, max_pending=None, bounce=None, name="s.db"):
    """A broker ingress (cls: MqttIngress, AmqpIngress) started on a spool of its own (room for
    max_pending alerts, if given); a delivery the spool refused goes back to the broker after
    `bounce` seconds, if given (else the ingress's own BOUNCE_DELAY). -> (ingress, spool, metrics)"""
    from outpost_gateway.clock import SystemClock
    from outpost_gateway.ingest import Ingest
    from outpost_gateway.metrics import Metrics
    from outpost_gateway.spool import Spool
    kw = {} if max_pending is None else {"max_pending": max_pending}
    spool = Spool(str(tmp_path / name), SystemClock(), **kw).open()
    spool.start_writer()
    m = Metrics()
    ing = cls(cfg, Ingest(cfg, spool, m, SystemClock()))
    if bounce is not None:
        ing.BOUNCE_DELAY = bounce
    ing.start()
    return ing, spool, m


def full_spool_keeps_alerts_with_the_broker(spool, metrics, publish, recs, when_full=None):
    """The stated policy of every broker ingress: a spool with room for 5 (max_pending=5) refuses
    the rest of recs without acknowledging them, so the broker keeps them and delivers them again
    once 5 are done; nothing is lost. publish(rec) hands one record to the broker and waits for
    its acknowledgement; when_full() checks more while the spool is full."""
    for r in recs:
        publish(r)
    assert wait_for(lambda: metrics.c["spool_full"] >= 3, 30)
    assert spool.counts()["alerts"] == 5
    if when_full is not None:
        when_full()
    from outpost_gateway.clock import SystemClock
    from outpost_gateway.spool import Outcome
    now = SystemClock().time()
    spool.finish([Outcome(r["id"], "ops@example.org", "done", 1, now, None, 250, None) for r in recs[:5]], now)
    assert wait_for(lambda: spool.counts()["alerts"] == len(recs), 60)
    assert sorted(a["id"] for a in spool.list(limit=100)) == sorted(r["id"] for r in recs)


def wait_for(pred, timeout=20.0, step=0.005, most=0.1):
    # for state no event reports: checked at once, then at growing gaps (5 ms up to 100 ms),
    # so a quick answer is seen quickly and a slow one costs few checks (each may be an HTTP
    # request or a spool query)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(min(step, max(0.0, end - time.monotonic())))
        step = min(most, step * 1.5)
    return pred()


def http_text(port, path, timeout=10):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read().decode()


def http_json(port, path="/health", timeout=10):
    # (status, JSON body): /health answers 503 with the same body when a path has failed
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def metrics(port):
    # /metrics as {name: value}, the samples without labels
    out = {}
    for line in http_text(port, "/metrics").splitlines():
        if line and not line.startswith("#") and "{" not in line:
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def mqtt_subscribed(health):
    # a /health body that says the MQTT ingress holds its subscription
    return bool((health.get("mqtt") or {}).get("subscribed"))


class GatewayProcess:
    """`python -m outpost_gateway run --config CONFIG` as a child process, as the service runs.

    Its output is appended to log_path (a restarted gateway adds to the same log) by a reader
    thread, which also wakes whoever waits for a line (wait_line): an event, not a poll of the
    file. health() and get() read its HTTP listener when http_port is given.
    """

    def __init__(self, config, log_path, http_port=None, env=None, preexec_fn=None, cond=None):
        self.config = str(config)
        self.log_path = str(log_path)
        self.http_port = http_port
        self.env = dict(os.environ, PYTHONPATH=os.pathsep.join([HOST, os.path.join(ROOT, "lib")]))
        self.env.update(env or {})
        self.preexec_fn = preexec_fn
        self.p = None
        # gateways given one condition can be waited on together (wait_line_of_any)
        self._cond = cond if cond is not None else threading.Condition()
        self._lines = []
        self._reading = None
        self.start()

    def start(self):
        self.p = subprocess.Popen([sys.executable, "-m", "outpost_gateway", "run", "--config", self.config],
                                  env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, preexec_fn=self.preexec_fn)
        with self._cond:
            self._lines = []
        self._reading = threading.Thread(target=self._read, args=(self.p.stdout,), daemon=True)
        self._reading.start()
        return self

    def _read(self, pipe):
        with open(self.log_path, "ab") as log:
            for raw in pipe:
                log.write(raw)
                log.flush()
                with self._cond:
                    self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self._cond.notify_all()
        pipe.close()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, match, timeout=60.0):
        """The lines of this run that hold `match` (text, or a function of a line), once there is
        one; [] after timeout, or as soon as the gateway's output ended."""
        test = match if callable(match) else (lambda line: match in line)
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [ln for ln in self._lines if test(ln)]
                left = end - time.monotonic()
                if found or left <= 0 or not self._reading.is_alive():
                    return found
                self._cond.wait(left)

    def lines(self, match):
        # the lines of this run that hold match (text), as they are now
        with self._cond:
            return [ln for ln in self._lines if match in ln]

    def text(self):
        # the whole log, earlier runs included
        if self._reading is not None and self.p.poll() is not None:
            self._reading.join(10)
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def get(self, path, timeout=10):
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.http_port, path), timeout=timeout) as r:
            return r.read()

    def health(self):
        # /health as JSON (a failed path answers 503 with the same body); None while it is not up
        try:
            return http_json(self.http_port, "/health", timeout=5)[1]
        except (OSError, ValueError):
            return None

    def wait_healthy(self, pred=lambda h: True, timeout=60.0):
        """/health once it answers and pred(health) holds; fails naming the log's end if not."""
        h = wait_for(lambda: (lambda x: x if x is not None and pred(x) else None)(self.health()), timeout)
        assert h, "gateway not ready in %s s; log:\n%s" % (timeout, self.text()[-3000:])
        return h

    def rss_kib(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def kill(self):
        # a crash: SIGKILL, nothing saved on the way out
        self.p.kill()
        self.p.wait(30)
        self._reading.join(30)

    def stop(self, timeout=60):
        """A clean stop (SIGTERM, as systemd does); its exit code. SIGKILL past timeout."""
        end(self.p, signal.SIGTERM, timeout)
        self._reading.join(30)
        return self.p.returncode

    def cleanup(self):
        if self.p is not None and self.p.poll() is None:
            self.p.kill()
            self.p.wait(30)
        if self._reading is not None:
            self._reading.join(30)


def wait_line_of_any(procs, match, timeout=60.0):
    """The first of procs (GatewayProcess made with one shared cond) whose output of this run
    holds match, once one does: woken by each new line, not a poll; None after timeout."""
    cond = procs[0]._cond
    assert all(p._cond is cond for p in procs), "wait_line_of_any needs one shared cond"
    end = time.monotonic() + timeout
    with cond:
        while True:
            for p in procs:
                if any(match in ln for ln in p._lines):
                    return p
            left = end - time.monotonic()
            if left <= 0:
                return None
            cond.wait(left)


class SerialIngressOn:
    """The gateway's serial ingress on the tty `port` (pyserial), with a real spool: it ACKs a
    frame after the spool commit. .ser, .spool, .metrics; close() when done."""

    def __init__(self, tmp_path, port):
        from outpost_gateway.clock import ManualClock
        from outpost_gateway.ingest import Ingest
        from outpost_gateway.metrics import Metrics
        from outpost_gateway.serial_ingress import SerialIngress
        from outpost_gateway.spool import Spool
        cfg = make_cfg(tmp_path, serial={"reopen_interval": 0.1})
        os.makedirs(cfg["gateway"]["state_dir"])
        self.spool = Spool(str(tmp_path / "s.db"), ManualClock()).open()
        self.spool.start_writer()
        self.metrics = Metrics()
        self.ser = SerialIngress(port, cfg["serial"], Ingest(cfg, self.spool, self.metrics,
                                                             ManualClock()))
        self.ser.start()
        assert wait_for(lambda: self.ser.is_open)

    def close(self):
        self.ser.stop()
        self.spool.close()


class PtyBoardEnd:
    """What a board does on its end of a pty pair (self.master, raw; self.buf = b"" to start):
    writes frames, reads the gateway's one-line replies (ACK/NAK) as they come."""

    def send(self, data):
        os.write(self.master, data)

    def reply(self, timeout=60.0):
        import select
        from outpost_contract import frame as serial_frame
        end = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = end - time.monotonic()
            assert left > 0, "no reply from the gateway on the serial line"
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                self.buf += os.read(self.master, 4096)
        line, _, self.buf = self.buf.partition(b"\n")
        return serial_frame.parse_reply(line + b"\n")


class Publisher:
    # a board's side of MQTT: QoS 1 publishes, each waited for until the broker's PUBACK
    def __init__(self, broker, client_id="board-pub", will=None, inflight=200):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        self.c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                             protocol=mqtt.MQTTv5)
        self.c.max_inflight_messages_set(inflight)
        self.c.max_queued_messages_set(0)
        if will:
            self.c.will_set(will[0], will[1], qos=1, retain=True)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()

    def publish(self, topic, payload, retain=False):
        return self.c.publish(topic, payload, qos=1, retain=retain)

    def alerts(self, recs, timeout=60):
        # each record on its device's alert topic; returns once the broker has them all
        infos = [self.publish("outpost/%s/alert" % r["device"], json.dumps(r)) for r in recs]
        for i in infos:
            i.wait_for_publish(timeout)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def unwritable(path):
    # makes the spool's write-ahead log refuse writes for real: `chattr +i` (immutable), which
    # even root cannot write through (chmod does not stop root, nor writes through open files).
    # Every write the gateway then commits fails in the kernel (EPERM), as on a file system
    # remounted read-only after disk errors; `chattr -i` clears it.
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("making the spool unwritable needs root and chattr")
    r = subprocess.run(["chattr", "+i", path], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("chattr +i not supported here: " + r.stderr.strip())
    try:
        try:
            open(path, "ab").close()
            pytest.skip("chattr +i did not make the file unwritable here")
        except PermissionError:
            pass
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)
