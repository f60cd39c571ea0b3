# The gateway soak: alerts published over MQTT (QoS 1, as boards do) go through a real gateway
# process (MQTT ingress -> spool -> relay) to an upstream that injects faults (451/452 at RCPT,
# 421 at MAIL, a hang-up after the data, a refusal for good), while the broker is restarted
# twice and the gateway is SIGKILLed and started again. Shared by tests/host/test_gateway_soak.py
# (short, asserts) and bench/gateway_soak.py (long, prints).
#
# Reported: lost (acknowledged by the broker, never accepted upstream nor dead-lettered),
# duplicates per crash, the gateway's RSS, the spool's size (file + WAL) over the run against
# spool.keep_done_days, and publish -> upstream 250 latency.
import collections
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway_helpers import HOST, ROOT, base_data, free_port, record, write_toml
from peers.faultsmtp import FaultServer
from peers.mosquitto import Mosquitto
from peers.process import end as end_process
from usmtp.writer import make_message_id

SENDER = "outpost@example.org"
FAULTS = ("451-rcpt", "452-rcpt", "421-mail", "hangup-eod", "451-eod", "hangup-mail")


def rss_kib(pid):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def spool_bytes(path):
    n = 0
    for p in (path, path + "-wal"):
        try:
            n += os.path.getsize(p)
        except OSError:
            pass
    return n


def wait_subscribed(port, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as r:
                h = json.loads(r.read())
        except urllib.error.HTTPError as e:
            h = json.loads(e.read())
        except OSError:
            h = None
        if h and h.get("mqtt") and h["mqtt"].get("subscribed"):
            return True
        time.sleep(0.05)
    return False


class Board:
    # publishes QoS 1 and keeps what the broker did not acknowledge, to publish it again after a
    # reconnect (the board's outbox); -> the times each alert was first published
    def __init__(self, broker):
        self.c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="soak-board",
                             protocol=mqtt.MQTTv5)
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(0)
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        self.first = {}

    def send(self, recs, timeout=30.0):
        todo = list(recs)
        end = time.monotonic() + timeout
        while todo:
            infos = []
            for r in todo:
                self.first.setdefault(r["id"], time.time())
                infos.append((r, self.c.publish("outpost/%s/alert" % r["device"], json.dumps(r), qos=1)))
            left = []
            for r, info in infos:
                try:
                    info.wait_for_publish(max(0.1, end - time.monotonic()))
                except (RuntimeError, ValueError):
                    pass
                try:
                    ok = info.is_published()
                except RuntimeError:        # not connected (the broker is restarting)
                    ok = False
                if not ok:
                    left.append(r)
            todo = left
            if todo:
                if time.monotonic() > end:
                    raise AssertionError("%d alerts not acknowledged by the broker" % len(todo))
                time.sleep(0.2)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def run(tmp, n=5000, chunk=500, kills=2, restarts=2, connections=4, seed=19, fault_rate=0.05,
        keep_seconds=20.0, timeout=300.0, rate=None, log=print):
    # rate: alerts per second the boards publish (None: as fast as the broker takes them)
    rnd = random.Random(seed)
    plan = {}
    for conn in range(1, 5000):
        if rnd.random() < fault_rate * 10:
            plan[(conn, rnd.randint(1, 60))] = rnd.choice(FAULTS)
    recs = [record(device="soak%d" % (i % 8), seq=i) for i in range(n)]
    # the last few are refused for good by the upstream: dead letters, reported, not lost
    http = free_port()
    with Mosquitto(extra_config="max_queued_messages 1000000\nautosave_interval 5") as broker, \
            FaultServer(plan=plan) as up:
        data = base_data(tmp, gateway={"log_level": os.environ.get("SOAK_LOG", "warning")},
                         mqtt={"enabled": True, "host": broker.host, "port": broker.port, "client_id": "gw-soak"},
                         relay={"host": "127.0.0.1", "port": up.port, "mode": "plain", "sender": SENDER,
                                "batch": 50, "connections": connections, "timeout": 5.0,
                                "backoff_base": 0.2, "backoff_max": 1.0, "jitter": 0.1},
                         spool={"keep_done_days": keep_seconds / 86400.0, "max_pending": 1000000},
                         digest={"threshold": 10 ** 9, "rate_per_hour": 0},
                         watchdog={"enabled": False}, http={"enabled": True, "port": http},
                         routing={"owner": "owner@example.org", "default": ["ops@example.org"]})
        config = write_toml(tmp / "gateway.toml", data)
        spool = str(tmp / "state" / "spool.db")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([HOST, os.path.join(ROOT, "lib")]))
        glog = open(str(tmp / "gateway.log"), "ab")

        def start():
            return subprocess.Popen([sys.executable, "-m", "outpost_gateway", "run", "--config", config],
                                    env=env, stdout=glog, stderr=subprocess.STDOUT)
        gw = start()
        # the first start makes the gateway's persistent session: alerts wait in it from then on
        if not wait_subscribed(http, 60):
            raise AssertionError("the gateway did not subscribe; see %s" % (tmp / "gateway.log"))
        board = Board(broker)
        samples = []        # (t, rss KiB, spool bytes, accepted upstream)
        stop = threading.Event()

        def sample():
            while not stop.wait(1.0):
                samples.append((time.time(), rss_kib(gw.pid), spool_bytes(spool), len(up.transfers)))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.time()
        chunks = [recs[i:i + chunk] for i in range(0, n, chunk)]
        kill_at = set(int(len(chunks) * (k + 1) / (kills + 1)) for k in range(kills))
        restart_at = set(int(len(chunks) * (k + 1.5) / (restarts + 1)) for k in range(restarts))
        rss = []            # per gateway process: (RSS a while after start, RSS at its end)
        started = time.time()
        first_rss = None
        try:
            for i, c in enumerate(chunks):
                board.send(c, timeout=timeout)
                if rate:
                    time.sleep(max(0.0, t0 + (i + 1) * chunk / float(rate) - time.time()))
                if first_rss is None and time.time() - started > 3:
                    first_rss = rss_kib(gw.pid)
                if i in restart_at:
                    broker.stop()               # clean stop: it saves what it holds
                    broker.start()
                    log("broker restarted after %d alerts" % ((i + 1) * chunk))
                if i in kill_at:
                    rss.append((first_rss, rss_kib(gw.pid)))
                    gw.send_signal(signal.SIGKILL)
                    gw.wait(30)
                    up.generation += 1
                    gw = start()
                    started, first_rss = time.time(), None
                    log("gateway SIGKILLed after %d alerts published" % ((i + 1) * chunk))
            want = set(make_message_id(r["id"], SENDER) for r in recs)

            def settled():
                got = set(t.mid for t in up.transfers if t.accepted)
                return len(want - got)
            end = time.monotonic() + timeout
            while settled() and time.monotonic() < end:
                time.sleep(0.5)
            # then the gateway purges what is finished once it is keep_seconds old (its status
            # loop looks every 5 s): the size once it has. A ceiling, not a wait: on a loaded
            # machine the last retries and the purge come later
            end = time.monotonic() + keep_seconds * 2 + 90

            def kept():
                import sqlite3
                try:
                    db = sqlite3.connect("file:%s?mode=ro" % spool, uri=True, timeout=30)
                    try:
                        return db.execute("SELECT count(*) FROM alerts").fetchone()[0]
                    finally:
                        db.close()
                except sqlite3.Error:
                    return -1
            while kept() != 0 and time.monotonic() < end:
                time.sleep(0.5)
            if first_rss is None:
                first_rss = rss_kib(gw.pid)
            rss.append((first_rss, rss_kib(gw.pid)))
        finally:
            stop.set()
            sampler.join()
            board.close()
            end_process(gw, signal.SIGTERM, 60)
            glog.close()
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % spool, uri=True, timeout=30)
        try:
            left = db.execute("SELECT count(*) FROM alerts").fetchone()[0]
        finally:
            db.close()
        count = collections.Counter(t.mid for t in up.transfers if t.accepted)
        got = set(count)
        first_seen = {}
        for t in up.transfers:
            if t.accepted and t.mid not in first_seen:
                first_seen[t.mid] = (t.at, t.generation)
        again = collections.Counter()
        for mid, k in count.items():
            if k > 1 and mid in want:
                again[first_seen[mid][1]] += k - 1
        lat = sorted(first_seen[make_message_id(r["id"], SENDER)][0] - board.first[r["id"]]
                     for r in recs if make_message_id(r["id"], SENDER) in first_seen)
        sizes = [s[2] for s in samples]
        return {
            "n": n, "seconds": time.time() - t0, "kills": kills, "restarts": restarts,
            "connections": connections,
            "lost": sorted(want - got),
            "duplicates": sum(k - 1 for m, k in count.items() if m in want),
            "per_crash": [again.get(k, 0) for k in range(kills)],
            "rss": rss,
            "spool_max": max(sizes) if sizes else 0, "spool_end": sizes[-1] if sizes else 0,
            "spool_samples": samples,
            "p50": lat[len(lat) // 2] if lat else None,
            "p99": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None,
            "faults": up.faults_hit,
            "alerts_left": left,        # in the spool at the end: finished ones are purged
        }
