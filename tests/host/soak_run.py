# The gateway soak: alerts published over MQTT (QoS 1, as boards do) go through a real gateway
# process (MQTT ingress -> spool -> relay) to an upstream, in a process of its own, that injects
# transient faults at a rate (451/452 at RCPT, 421 at MAIL, 451 at the end of the data, hang-ups
# at MAIL and after the data), while the broker is restarted and the gateway is SIGKILLed and
# started again. Shared by tests/host/test_gateway_soak.py (short, asserts) and
# bench/gateway_soak.py (long, prints).
#
# Reported: lost (acknowledged by the broker, never accepted upstream), duplicates per crash,
# the gateway's RSS, the spool's size (file + WAL) over the run against spool.keep_done_days,
# and publish -> upstream 250 latency.
import collections
import json
import multiprocessing
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


class SoakUpstream(FaultServer):
    # the fault server with its faults at a rate: on each connection, about one message in
    # fault_every meets one of FAULTS, at places drawn from the seed, however long the run and
    # however many connections it opens. It runs in a process of its own (Upstream below), so
    # neither it nor the boards' publisher waits on the other's share of one interpreter
    def __init__(self, seed, fault_every, faults):
        super().__init__(keep_bodies=False)
        self._seed = seed
        self._every = float(fault_every)
        self._plans = {}
        self._faults = faults       # a shared counter: faults met

    def _plan_for(self, n):
        rnd = random.Random(self._seed * 1000003 + n)
        plan, pos = {}, 0
        while pos < 2000000:
            pos += 1 + int(rnd.expovariate(1.0 / self._every))
            plan[pos] = rnd.choice(FAULTS)
        return plan

    def _fault(self, n, pos, step):
        plan = self._plans.get(n)
        if plan is None:
            plan = self._plans[n] = self._plan_for(n)
        f = plan.get(pos)
        if f is None or not f.endswith("-" + step):
            return None
        with self._faults.get_lock():
            self._faults.value += 1
        return f


class TransferLog:
    # in the upstream's process, in place of its list of transfers: each one a line of a file
    # (when the server had it, the gateway's crash count then, answered 250 or not, Message-ID)
    def __init__(self, path, generation):
        self.f = open(path, "a", buffering=1)
        self.generation = generation

    def append(self, t):
        self.f.write("%.6f %d %d %s\n" % (t.at, self.generation.value, 1 if t.accepted else 0, t.mid))


def _serve_upstream(seed, fault_every, path, generation, faults, pipe):
    up = SoakUpstream(seed, fault_every, faults)
    up.transfers = TransferLog(path, generation)
    pipe.send(up.port)
    pipe.recv()             # until the soak is over
    up.close()


Seen = collections.namedtuple("Seen", "at generation accepted mid")


class Upstream:
    # the soak's upstream in its own process; .transfers holds what read() has seen so far
    def __init__(self, tmp, seed, fault_every):
        ctx = multiprocessing.get_context("fork")      # started before any thread of the soak's
        self.path = str(tmp / "upstream.log")
        open(self.path, "w").close()
        self._generation = ctx.Value("i", 0)
        self._faults = ctx.Value("l", 0)
        self._pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve_upstream, daemon=True,
                                args=(seed, fault_every, self.path, self._generation, self._faults, child))
        self.proc.start()
        self.port = self._pipe.recv()
        self.transfers = []
        self._f = open(self.path)
        self._part = ""
        self._lock = threading.Lock()

    @property
    def generation(self):
        return self._generation.value

    @generation.setter
    def generation(self, value):
        self._generation.value = value

    @property
    def faults_hit(self):
        return self._faults.value

    def read(self):
        # -> the transfers logged since the last call (each also added to .transfers)
        with self._lock:
            lines = (self._part + self._f.read()).split("\n")
            self._part = lines.pop()
            new = []
            for line in lines:
                at, g, ok, mid = line.split(" ", 3)
                new.append(Seen(float(at), int(g), ok == "1", mid))
            self.transfers.extend(new)
            return new

    def close(self):
        try:
            self._pipe.send("stop")
        except OSError:
            pass
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)
        self.read()
        self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


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


def run(tmp, n=5000, chunk=500, kills=2, restarts=2, connections=4, seed=19, fault_every=100,
        keep_seconds=20.0, timeout=300.0, rate=None, warm=3.0, progress=None, log=print):
    # rate: alerts per second the boards publish (None: as fast as the broker takes them);
    # warm: seconds after a gateway's start when its first RSS is taken; progress: seconds
    # between progress lines (None: none)
    def recs_of(i):
        # chunk i's alert records, made when published (a million do not sit in memory)
        return [record(device="soak%d" % (k % 8), seq=k) for k in range(i * chunk, min(n, (i + 1) * chunk))]
    http = free_port()
    with Mosquitto(extra_config="max_queued_messages 1000000\nautosave_interval 5") as broker, \
            Upstream(tmp, seed, fault_every) as up:
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
        t0 = time.time()

        def sample():
            last = time.time()
            while not stop.wait(1.0):
                up.read()
                samples.append((time.time(), rss_kib(gw.pid), spool_bytes(spool), len(up.transfers)))
                if progress and samples[-1][0] - last >= progress:
                    last = samples[-1][0]
                    log("%.0f s: %d published, %d transfers upstream, gateway RSS %s KiB, spool %.1f MB, load %s"
                        % (last - t0, len(board.first), samples[-1][3], samples[-1][1], samples[-1][2] / 1e6,
                           open("/proc/loadavg").read().split()[0]))
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        nchunks = (n + chunk - 1) // chunk
        kill_at = set(int(nchunks * (k + 1) / (kills + 1)) for k in range(kills))
        restart_at = set(int(nchunks * (k + 1.5) / (restarts + 1)) for k in range(restarts))
        rss = []            # per gateway process: (RSS a while after start, RSS at its end)
        started = time.time()
        first_rss = None
        try:
            for i in range(nchunks):
                board.send(recs_of(i), timeout=timeout)
                if rate:
                    time.sleep(max(0.0, t0 + (i + 1) * chunk / float(rate) - time.time()))
                if first_rss is None and time.time() - started > warm:
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
            want = set(make_message_id(r["id"], SENDER) for i in range(nchunks) for r in recs_of(i))
            missing = set(want)
            seen = 0        # transfers looked at (the sampler reads them too): the wait costs what arrived
            end = time.monotonic() + timeout
            while missing and time.monotonic() < end:
                up.read()
                k = len(up.transfers)
                missing.difference_update(t.mid for t in up.transfers[seen:k] if t.accepted)
                seen = k
                if missing:
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
        up.read()
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
        lat = sorted(first_seen[make_message_id(i, SENDER)][0] - t for i, t in board.first.items()
                     if make_message_id(i, SENDER) in first_seen)
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
