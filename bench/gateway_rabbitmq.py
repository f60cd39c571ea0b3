"""Past one Pi: a RabbitMQ cluster against the Mosquitto fleet, measured in one run.

    .venv/bin/python bench/gateway_rabbitmq.py [--alerts 20000] [--rate 100] [--gateways 2]

Two legs, each with the same boards, gateways and upstream (aiosmtpd on loopback, stamping when
each Message-ID first arrives):

- rabbitmq: three RabbitMQ nodes on this machine form one cluster (host/rabbitmq/README.md: the
  MQTT plugin, the policy, per-board users); boards publish MQTT QoS 1 to node 0; the gateways
  consume the quorum queue over AMQP, each listing another node first. One gateway is
  SIGKILLed at a third of the alerts (restarted `--restart-after` seconds later, as systemd
  would), then at two thirds one broker node is SIGKILLed: the queue's leader if it is not the
  boards' node, else another (it stays dead).
- mosquitto: one Mosquitto with host/mosquitto/outpost.conf, the gateways in one shared
  subscription with [fleet] on (takeover after 10 s); the same gateway kill and restart. There
  is no broker node to kill: the broker is one process.

Each leg first sends a burst of 5,000 alerts as fast as the boards can (accept rate: PUBACKs/s
and commits/s), then `--alerts` at `--rate`/s. It prints lost (goal 0), duplicates upstream
(goal <= prefetch per gateway crash; the same Message-ID, so mail clients show one), the
slowest alert after each kill (first arrival upstream minus the later of its publishing and
the kill; goal <= 1 s on RabbitMQ), steady latencies, and memory (RSS) of brokers and gateways.
Alerts a killed gateway had committed but not relayed wait in its own spool until it returns:
counted apart ("stranded"), not as lost. Figures depend on the machine's load: say it.
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import threading
import time

from gateway_common import ROOT, Gateway, percentile, record, tmpdir, wait_for

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from peers import rabbitmq  # noqa: E402
from peers.mosquitto import Mosquitto  # noqa: E402
from peers.smtpd import MailServer  # noqa: E402

SENDER = "outpost@example.org"
SNIPPET = os.path.join(ROOT, "host", "mosquitto", "outpost.conf")
BOARDS = ("b0", "b1")
MID = re.compile(rb"^Message-ID: <([^@>]+)@", re.M | re.I)


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Upstream:
    """aiosmtpd on loopback; first arrival time and count of every alert id."""

    def __init__(self):
        self.srv = MailServer(tls="none", pipelining=True)
        self.first = {}
        self.count = {}
        self.lock = threading.Lock()
        deliver = self.srv._deliver

        def stamped(msg):
            now = time.monotonic()
            m = MID.search(msg.data)
            if m:
                aid = m.group(1).decode()
                with self.lock:
                    self.first.setdefault(aid, now)
                    self.count[aid] = self.count.get(aid, 0) + 1
            msg.data = b""          # 20,000 bodies need not stay in memory
            return deliver(msg)
        self.srv._deliver = stamped

    def __enter__(self):
        self.srv.__enter__()
        return self

    def __exit__(self, *exc):
        self.srv.__exit__(*exc)


class GatewayProc(Gateway):
    """A gateway process in its own folder (tmp/name), as the benches start one
    (bench/gateway_common.py); its spool read beside it."""

    def __init__(self, name, tmp, sections):
        self.name = name
        self.dir = tmp / name
        self.dir.mkdir()
        super().__init__(self.dir, **sections)

    def committed(self):
        import sqlite3
        try:
            db = sqlite3.connect("file:%s?mode=ro" % (self.dir / "state" / "spool.db"), uri=True, timeout=10)
            try:
                return db.execute("SELECT count(*) FROM alerts").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error:
            return 0

    def unrelayed(self):
        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % (self.dir / "state" / "spool.db"), uri=True, timeout=10)
        try:
            return set(r[0] for r in db.execute("SELECT DISTINCT alert_id FROM deliveries WHERE status != 'done'"))
        finally:
            db.close()


class Board:
    """One board's MQTT client (3.1.1: what RabbitMQ 3.10's plugin speaks), QoS 1."""

    def __init__(self, name, host, port, password=None):
        self.c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=name,
                             protocol=mqtt.MQTTv311)
        if password:
            self.c.username_pw_set(name, password)
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(0)
        self.sent = {}      # mid -> when published; acked: mid -> when PUBACKed (no lock: paho
        self.acked = {}     # calls on_publish under its own locks, dict stores are atomic)
        self.c.on_publish = self._on_publish
        self.c.connect(host, port)
        self.c.loop_start()
        t0 = time.monotonic()
        while not self.c.is_connected():
            if time.monotonic() - t0 > 30:
                raise RuntimeError("board %s could not connect" % name)
            time.sleep(0.02)

    def _on_publish(self, client, userdata, mid, rc, props):
        self.acked[mid] = time.monotonic()

    def publish(self, rec):
        t = time.monotonic()
        info = self.c.publish("outpost/%s/alert" % rec["device"], json.dumps(rec), qos=1)
        self.sent[info.mid] = t
        return info

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


class Backlog:
    """Where alerts wait during the steady phase, sampled every second: ready in the broker
    (RabbitMQ: the queue's ready count; Mosquitto: not visible) and undelivered in the gateways'
    spools (their outpost_spool_depth gauge)."""

    def __init__(self, gws, ready=None):
        self.gws, self.ready = gws, ready
        self.max_ready = self.max_depth = 0
        self.halt = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        import urllib.request
        while not self.halt.wait(1.0):
            depth = 0
            for g in self.gws:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % g.http_port, timeout=2) as r:
                        for line in r.read().decode().splitlines():
                            if line.startswith("outpost_spool_depth "):
                                depth += float(line.split()[1])
                except OSError:
                    pass
            self.max_depth = max(self.max_depth, int(depth))
            if self.ready is not None:
                try:
                    self.max_ready = max(self.max_ready, self.ready())
                except Exception:
                    pass

    def stop(self):
        self.halt.set()
        self.t.join(10)


def queue_ready(node):
    import pika
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        node.host, node.amqp_port, credentials=pika.PlainCredentials(*rabbitmq.ADMIN)))

    def ready():
        return conn.channel().queue_declare("outpost-alerts", passive=True).method.message_count
    return ready


def wait(pred, timeout, what):
    if not wait_for(pred, timeout, step=0.05, most=0.05):
        raise TimeoutError("%s: not within %s s" % (what, timeout))
    return True


class GatewayKill:
    """Called once: SIGKILLs the first gateway (every gateway's memory noted just before), keeps
    what it had committed but not relayed apart ("stranded"), and restarts it `after` seconds
    later, as systemd would."""

    def __init__(self, gws, after):
        self.gws, self.after = gws, after
        self.memory, self.stranded, self.timer = {}, set(), None

    def __call__(self):
        self.memory.update({g.name: rss_kib(g.p.pid) for g in self.gws})
        self.gws[0].kill()
        self.stranded.update(self.gws[0].unrelayed())
        self.timer = threading.Timer(self.after, self.gws[0].start)
        self.timer.start()


def steady(boards, up, n, rate, boot, events):
    """Publish n alerts at rate/s over the boards in turn; events: {index: fn} run at that index.
    -> {alert id: publish time}, [(name, time)] of the events."""
    published = {}
    done_events = []
    gap = 1.0 / rate
    nxt = time.monotonic()
    infos = []
    for i in range(n):
        b = boards[i % len(boards)]
        rec = record(device=BOARDS[i % len(BOARDS)], seq=i, boot=boot)
        published[rec["id"]] = time.monotonic()
        infos.append(b.publish(rec))
        if i in events:
            name, fn = events[i]
            done_events.append((name, time.monotonic()))
            fn()
        nxt += gap
        d = nxt - time.monotonic()
        if d > 0:
            time.sleep(d)
    for info in infos:
        info.wait_for_publish(300)
    return published, done_events


def burst(boards, gws, up, n, boot):
    """n alerts as fast as the boards can: (PUBACKs/s, commits/s); returns once all are relayed."""
    t0 = time.monotonic()
    base = sum(g.committed() for g in gws)
    infos = [boards[i % len(boards)].publish(record(device=BOARDS[i % len(BOARDS)], seq=i, boot=boot))
             for i in range(n)]
    for info in infos:
        info.wait_for_publish(300)
    acked = time.monotonic() - t0
    wait(lambda: sum(g.committed() for g in gws) - base >= n, 300, "burst committed")
    committed = time.monotonic() - t0
    wait(lambda: len(up.first) >= n, 300, "burst relayed")
    return n / acked, n / committed


def settle(published, up, gws, events, backlog, kill, prefetch):
    """After the steady phase: every alert relayed (the killed gateway back), then the figures."""
    backlog.stop()
    kill.timer.join()
    wait(lambda: all(a in up.first for a in published), 300, "every alert relayed")
    res = analyse(published, up, gws, events, kill.stranded, prefetch, 1)
    res["memory"] = dict(kill.memory)       # every node and gateway, just before its kill
    return res


OFFSET = time.time() - time.monotonic()     # the spool stamps commits with time.time()


def committed_at(gws):
    # alert id -> when a gateway first committed it (monotonic), from every gateway's spool
    import sqlite3
    out = {}
    for g in gws:
        db = sqlite3.connect("file:%s?mode=ro" % (g.dir / "state" / "spool.db"), uri=True, timeout=30)
        try:
            for aid, received in db.execute("SELECT id, received FROM alerts"):
                t = received - OFFSET
                if aid not in out or t < out[aid]:
                    out[aid] = t
        finally:
            db.close()
    return out


def delays(published, arrived, events, skip=()):
    """Steady latency before the first kill, and per kill the delays of the alerts that arrived
    after it (arrival minus the later of publishing and the kill), up to the next event."""
    times = [t for _, t in events]
    first_kill = times[0] if times else float("inf")
    before = [arrived[a] - t for a, t in published.items() if a in arrived and t < first_kill - 1]
    out = {"steady": (1000 * percentile(before, 50), 1000 * percentile(before, 99)), "after": []}
    for k, (name, kt) in enumerate(events):
        nxt = times[k + 1] if k + 1 < len(times) else float("inf")
        ds = [arrived[a] - max(t, kt) for a, t in published.items()
              if a not in skip and a in arrived and t < nxt and arrived[a] >= kt]
        out["after"].append((name, max(ds or [0.0]), percentile(ds, 99), sum(1 for d in ds if d > 1.0), len(ds)))
    return out


def analyse(published, up, gws, events, stranded_ids, prefetch, gw_kills):
    lost = [a for a in published if a not in up.first]
    dups = sum(max(0, up.count.get(a, 0) - 1) for a in published)
    out = {"alerts": len(published), "lost": len(lost), "duplicates": dups,
           "duplicate_goal": prefetch * gw_kills, "stranded": len(stranded_ids & set(published))}
    # committed: the broker and ingress path (what a kill of a gateway or a node touches);
    # relayed: that plus the gateway's relay to the upstream, which shares the CPU
    out["committed"] = delays(published, committed_at(gws), events)
    out["relayed"] = delays(published, up.first, events, skip=stranded_ids)
    return out


def run_rabbitmq(args, tmp):
    rc = rabbitmq.RabbitCluster(3)
    rc.start()
    # closed last to first: the boards, the gateways, the upstream, the cluster
    with contextlib.ExitStack() as stack:
        stack.callback(rc.close)
        n0 = rc.nodes[0]
        status = n0.ctl("cluster_status", "--formatter", "json")
        running = json.loads(status[status.index("{"):])["running_nodes"]
        if len(running) != 3:
            raise RuntimeError("the cluster did not form: %s" % running)
        rc.outpost("policy")
        rc.add_user("gw", "gw-pw")
        for b in BOARDS:
            rc.add_user(b, b + "-pw", board=True)
        up = stack.enter_context(Upstream())
        gws = []
        for i in range(args.gateways):
            order = [rc.nodes[(i + 1 + j) % 3] for j in range(3)]     # gw i starts at node i+1
            gws.append(GatewayProc("gw%d" % i, tmp, {
                "mqtt": {"enabled": False},
                "amqp": {"enabled": True, "urls": ["amqp://127.0.0.1:%d/" % n.amqp_port for n in order],
                         "username": "gw", "password": "gw-pw", "prefetch": args.prefetch,
                         "heartbeat": 10, "connect_timeout": 2.0},
                "relay": {"host": "127.0.0.1", "port": up.srv.port, "mode": "plain", "sender": SENDER,
                          "backoff_base": 0.5, "backoff_max": 2.0, "jitter": 0.1},
                "digest": {"threshold": 1000000, "rate_per_hour": 0}}))
            stack.callback(gws[-1].stop)
        wait(lambda: all(((g.health() or {}).get("amqp") or {}).get("consuming") for g in gws), 120,
             "gateways consuming")
        # the queue was declared by the first gateway, after the cluster formed: it has
        # three members; grown anyway, as a queue declared earlier would need
        for n in rc.nodes:
            n0.ctl("grow", n.name, "all", tool="rabbitmq-queues", check=False)
        members = n0.ctl("list_queues", "name", "type", "members", "leader", "-q")
        boards = [Board(b, n0.host, n0.mqtt_port, b + "-pw") for b in BOARDS]
        for b in boards:
            stack.callback(b.close)
        accept_ack, accept_commit = burst(boards, gws, up, args.burst, 90)
        kill_gateway = GatewayKill(gws, args.restart_after)

        # the queue's leader, unless it is the boards' node (then another node)
        q = n0.ctl("list_queues", "name", "leader", "-q").split()
        victim = [n for n in rc.nodes[1:] if q and n.name == q[-1]] or [rc.nodes[2]]

        def kill_node():
            kill_gateway.memory.update({"node %d" % i: n.rss_kib() for i, n in enumerate(rc.nodes)})
            victim[0].kill()

        third = args.alerts // 3
        backlog = Backlog(gws, queue_ready(n0))
        published, events = steady(boards, up, args.alerts, args.rate, 1,
                                   {third: ("gateway SIGKILLed", kill_gateway),
                                    2 * third: ("broker node SIGKILLed", kill_node)})
        res = settle(published, up, gws, events, backlog, kill_gateway, args.prefetch)
        res.update(accept_ack=accept_ack, accept_commit=accept_commit,
                   backlog=(backlog.max_ready, backlog.max_depth),
                   killed_node="%s (%s)" % (victim[0].name.split("-")[0],
                                            "the queue's leader" if q and q[-1] == victim[0].name
                                            else "a follower: the leader was on the boards' node"),
                   members=members)
        return res


def run_mosquitto(args, tmp):
    with open(SNIPPET) as f:
        settings = f.read()
    with contextlib.ExitStack() as stack:
        broker = stack.enter_context(Mosquitto(extra_config=settings))
        up = stack.enter_context(Upstream())
        gws = []
        for i in range(args.gateways):
            gws.append(GatewayProc("mq-gw%d" % i, tmp, {
                "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "client_id": "mq-gw%d" % i,
                         "shared_group": "outpost-gw", "broker_config": ""},
                "fleet": {"enabled": True, "takeover_after": 10.0},
                "relay": {"host": "127.0.0.1", "port": up.srv.port, "mode": "plain", "sender": SENDER,
                          "backoff_base": 0.5, "backoff_max": 2.0, "jitter": 0.1},
                "digest": {"threshold": 1000000, "rate_per_hour": 0}}))
            stack.callback(gws[-1].stop)

        def ready():
            for g in gws:
                h = g.health() or {}
                f = h.get("fleet") or {}
                if not (h.get("mqtt") or {}).get("subscribed") or len(f.get("peers") or {}) != len(gws) - 1:
                    return False
            return True
        wait(ready, 120, "gateways subscribed and seeing each other")
        boards = [Board(b, broker.host, broker.port) for b in BOARDS]
        for b in boards:
            stack.callback(b.close)
        accept_ack, accept_commit = burst(boards, gws, up, args.burst, 90)
        kill_gateway = GatewayKill(gws, args.restart_after)
        backlog = Backlog(gws)
        published, events = steady(boards, up, args.alerts, args.rate, 1,
                                   {args.alerts // 3: ("gateway SIGKILLed", kill_gateway)})
        res = settle(published, up, gws, events, backlog, kill_gateway, 0)
        res["memory"]["mosquitto"] = rss_kib(broker.proc.pid)
        res.update(accept_ack=accept_ack, accept_commit=accept_commit,
                   backlog=(None, backlog.max_depth))
        return res


def show(name, r, prefetch_note):
    print("== %s ==" % name)
    print("  alerts %d at a steady rate: lost %d (goal 0), duplicates upstream %d (%s), stranded %d"
          % (r["alerts"], r["lost"], r["duplicates"], prefetch_note, r["stranded"]))
    for what in ("committed", "relayed"):
        d = r[what]
        print("  %s (publish -> %s): steady p50 %.0f ms, p99 %.0f ms" % (
            what, "first spool commit in a gateway" if what == "committed" else "first arrival upstream",
            d["steady"][0], d["steady"][1]))
        for name, worst, p99, over, n in d["after"]:
            print("    slowest after %s: %.2f s (p99 %.2f s; %d of %d alerts over 1 s)"
                  % (name, worst, p99, over, n))
    ready, depth = r["backlog"]
    print("  most waiting during the steady phase: %s in the broker's queue, %d in the gateways' spools"
          % ("?" if ready is None else ready, depth))
    print("  accept rate (burst of %d): %.0f PUBACKs/s, %.0f commits/s"
          % (ARGS.burst, r["accept_ack"], r["accept_commit"]))
    print("  memory (RSS; gateways just before the kill): " + ", ".join("%s %.0f MiB" % (k, v / 1024.0) for k, v in sorted(r["memory"].items())))


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--alerts", type=int, default=20000)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--burst", type=int, default=5000)
    ap.add_argument("--gateways", type=int, default=2)
    ap.add_argument("--prefetch", type=int, default=50)
    ap.add_argument("--restart-after", type=float, default=30.0)
    ap.add_argument("--only", choices=("rabbitmq", "mosquitto"))
    ARGS = args = ap.parse_args()
    # SIGTERM unwinds like Ctrl-C, so the brokers, epmd and gateways started here are stopped
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    print("load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    cpu0 = os.times()
    results = {}
    for leg, run in (("rabbitmq", run_rabbitmq), ("mosquitto", run_mosquitto)):
        if args.only in (None, leg):
            tmp = tmpdir(leg)
            try:
                results[leg] = run(args, tmp)
            finally:
                shutil.rmtree(str(tmp), ignore_errors=True)
    print("load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]))
    print("%d gateways, %d alerts at %.0f/s, the killed gateway restarted after %.0f s"
          % (args.gateways, args.alerts, args.rate, args.restart_after))
    if "rabbitmq" in results:
        r = results["rabbitmq"]
        show("RabbitMQ cluster (3 nodes, quorum queue, AMQP prefetch %d)" % args.prefetch, r,
             "goal <= %d" % r["duplicate_goal"])
        print("  broker node killed: %s" % r["killed_node"])
    if "mosquitto" in results:
        show("Mosquitto fleet (1 broker, shared subscription, takeover after 10 s)", results["mosquitto"],
             "the fleet's goal is 0")
        print("  broker node killed: n/a (one broker process: its loss stops the MQTT path)")
    t = os.times()
    print("bench process CPU: %.1f s user, %.1f s system" % (t.user - cpu0.user, t.system - cpu0.system))


if __name__ == "__main__":
    main()
