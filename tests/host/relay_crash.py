# kill -9 of a real gateway process at random points of its pipelined batches, and what the
# upstream saw: shared by tests/host/test_relay_crash.py (asserts) and bench/gateway_crash.py
# (prints). The spool is filled before the gateway starts (the relay is what is under test);
# the upstream (tests/peers/faultsmtp.py) takes a little time over each message, as a real
# server scanning it does, so a kill often lands while a reply is on its way.
import collections
import json
import os
import signal
import subprocess
import sys
import time

from gateway_helpers import HOST, ROOT, base_data, record, write_toml
from outpost_gateway.clock import SystemClock
from outpost_gateway.spool import Alert, Spool
from peers.faultsmtp import FaultServer
from usmtp.writer import make_message_id

SENDER = "outpost@example.org"


def fill(path, n, device="crash"):
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    sp = Spool(path, SystemClock()).open()
    ids = []
    for start in range(0, n, 1000):
        ops = []
        for i in range(start, min(n, start + 1000)):
            rec = record(device=device, seq=i)
            ops.append(Alert(rec["id"], device, "warning", rec["kind"], rec["subject"], "test",
                             json.dumps(rec).encode(), ["ops@example.org"]))
            ids.append(rec["id"])
        sp.write(ops)
    sp.close()
    return ids


def start(config, log):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HOST, os.path.join(ROOT, "lib")]))
    return subprocess.Popen([sys.executable, "-m", "outpost_gateway", "run", "--config", config],
                            env=env, stdout=log, stderr=subprocess.STDOUT)


def wait(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.005)
    return pred()


def left(path):
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
    try:
        return db.execute("SELECT count(*) FROM deliveries WHERE status != 'done'").fetchone()[0]
    finally:
        db.close()


def run(tmp, rnd, n=400, kills=5, connections=4, batch=25, eod_delay=0.002, timeout=120.0):
    # -> dict: per crash, the Message-IDs the upstream accepted before it and again after it;
    # every id's count; the ids that should arrive
    with FaultServer(eod_delay=eod_delay) as srv:
        data = base_data(tmp, gateway={"log_level": "warning"},
                         relay={"host": "127.0.0.1", "port": srv.port, "mode": "plain", "sender": SENDER,
                                "batch": batch, "connections": connections, "timeout": 10.0,
                                "backoff_base": 0.2, "backoff_max": 1.0, "jitter": 0.1},
                         digest={"threshold": 1000000, "rate_per_hour": 0},
                         watchdog={"enabled": False}, routing={"owner": "", "default": ["ops@example.org"]})
        config = write_toml(tmp / "gateway.toml", data)
        spool = str(tmp / "state" / "spool.db")
        ids = fill(spool, n)
        log = open(str(tmp / "gateway.log"), "ab")
        try:
            for k in range(kills):
                seen = len(srv.transfers)
                p = start(config, log)
                try:
                    # somewhere in the middle of a batch: after a random number of messages
                    target = seen + rnd.randint(1, 3 * batch)
                    if not wait(lambda: len(srv.transfers) >= target or p.poll() is not None, timeout):
                        raise AssertionError("the gateway relayed nothing for %s s" % timeout)
                    time.sleep(rnd.uniform(0, 0.02))
                finally:
                    p.send_signal(signal.SIGKILL)
                    p.wait(30)
                srv.generation = k + 1
            p = start(config, log)
            try:
                if not wait(lambda: left(spool) == 0, timeout):
                    raise AssertionError("%d deliveries left after %s s" % (left(spool), timeout))
                p.send_signal(signal.SIGTERM)
                p.wait(60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
        finally:
            log.close()
        first = {}
        again = collections.Counter()      # crash number -> ids accepted before it and after it
        count = collections.Counter()
        for t in srv.transfers:
            if not t.accepted:
                continue
            count[t.mid] += 1
            if t.mid in first:
                again[first[t.mid]] += 1
            else:
                first[t.mid] = t.generation
        want = set(make_message_id(i, SENDER) for i in ids)
        return {"per_crash": [again.get(k, 0) for k in range(kills)], "count": count, "want": want,
                "connections": srv.connections}
