# Fleet failover: gateways on one real Mosquitto (the shipped settings) in one shared
# subscription, each its own process and spool, one upstream. One gateway is SIGKILLed while
# boards keep publishing; a survivor takes over its session. Nothing is lost, every alert is
# relayed within 30 s of the kill (or of its publishing, if later) except those the dead
# gateway had already committed to its own spool, and a repeat carries the same Message-ID.
# Three gateways at the shipped fleet.takeover_after, one dead for more than a minute: the real
# thing, waited once. Two gateways go through the same steps with time as a parameter
# (takeover_after 1 s, dead for 5 s). The decision rule itself is checked first, without a broker.
import collections
import json
import os
import sqlite3
import threading
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_helpers import (ROOT, GatewayProcess, Publisher, base_data, free_port, record, wait_for,
                             wait_line_of_any, write_toml)
from outpost_gateway.fleet import Peer, parse_status, plan, taker
from peers.certs import TestCA
from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer
from usmtp.writer import make_message_id

SENDER = "outpost@example.org"
SNIPPET = os.path.join(ROOT, "host", "mosquitto", "outpost.conf")
GOAL = 30.0             # seconds within which every alert must be relayed after the kill


# ---- the rule, without a broker ------------------------------------------------------------

def test_one_survivor_takes_a_dead_peer_after_the_grace_and_lets_go_when_it_returns():
    after = 10.0
    gws = ["gw-a", "gw-b", "gw-c"]
    # gw-a died at t=100; each survivor sees the same statuses
    def view(me):
        return {g: (Peer(False, 100.0) if g == "gw-a" else Peer(True, 0.0)) for g in gws if g != me}
    for now, want in ((105.0, 0), (110.0, 1)):
        takers = [me for me in ("gw-b", "gw-c") if plan(me, view(me), {}, now, after)[0] == ["gw-a"]]
        assert len(takers) == want, (now, takers)
    holder = taker("gw-a", ["gw-b", "gw-c"])
    other = "gw-c" if holder == "gw-b" else "gw-b"
    # once the holder announces it, nobody else takes it, whatever the pick would say
    v = view(other)
    v[holder].holds = {"gw-a"}
    assert plan(other, v, {}, 500.0, after) == ([], [])
    # the holder keeps it while gw-a is offline and lets go when gw-a is back
    v = view(holder)
    assert plan(holder, v, {"gw-a": False}, 500.0, after) == ([], [])
    v["gw-a"] = Peer(True, 501.0)
    assert plan(holder, v, {"gw-a": False}, 501.0, after) == ([], ["gw-a"])
    # a held connection that ended (the owner's connect closed it) is let go too
    assert plan(holder, view(holder), {"gw-a": True}, 502.0, after)[1] == ["gw-a"]
    # two holders (their views disagreed): the higher id lets go
    v = view("gw-c")
    v["gw-b"].holds = {"gw-a"}
    assert plan("gw-c", v, {"gw-a": False}, 500.0, after) == ([], ["gw-a"])
    # after a failed takeover, not again before retry_at
    v = view(holder)
    v["gw-a"].retry_at = 600.0
    assert plan(holder, v, {}, 599.0, after) == ([], [])
    assert plan(holder, v, {}, 600.0, after) == (["gw-a"], [])


def test_dead_peers_spread_over_the_survivors_and_statuses_parse():
    live = ["gw-%02d" % i for i in range(5)]
    picks = collections.Counter(taker("dead-%d" % i, live) for i in range(200))
    assert set(picks) == set(live)
    assert parse_status(b"offline") == (False, ())
    assert parse_status(b'{"state": "online", "holds": ["gw-a", 3]}') == (True, ["gw-a"])
    assert parse_status(b"online?") is None and parse_status(b"[1]") is None


def test_fleet_config_is_checked(tmp_path):
    from gateway_helpers import make_cfg
    from outpost_gateway import config
    ok = {"enabled": True, "host": "127.0.0.1", "client_id": "gw-a", "shared_group": "outpost-gw"}
    assert make_cfg(tmp_path, mqtt=ok, fleet={"enabled": True})["fleet"]["takeover_after"] == 10.0
    bad = [
        (dict(ok, shared_group=""), {}, "fleet.enabled"),
        (ok, {"topic": "outpost/gateways"}, "fleet.topic"),
        (ok, {"topic": "gw/+/x"}, "fleet.topic"),
        (dict(ok, client_id="site/gw-a"), {}, "mqtt.client_id"),
        (ok, {"takeover_after": -1.0}, "fleet.takeover_after"),
    ]
    for mqtt_sect, fleet_sect, key in bad:
        with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
            make_cfg(tmp_path, mqtt=mqtt_sect, fleet=dict({"enabled": True}, **fleet_sect))


def test_status_shows_the_fleet(tmp_path):
    import io
    from gateway_helpers import make_cfg
    from outpost_gateway import cli
    from outpost_gateway.clock import SystemClock
    from outpost_gateway.service import open_spool
    data = base_data(tmp_path)
    conf = write_toml(tmp_path / "gw.toml", data)
    sp = open_spool(make_cfg(tmp_path), SystemClock())
    sp.set_state("status", {"pid": 1, "updated": 0, "mqtt": None, "serial": [], "smtp_ingress": None,
                            "fleet": {"connected": True, "holds": ["gw-a"],
                                      "peers": {"gw-a": "offline", "gw-c": "online"}}})
    sp.close()
    out = io.StringIO()
    assert cli.main(["status", "--config", conf], out=out) == 0
    assert "fleet: connected; peers: gw-a offline, gw-c online; holding: gw-a" in out.getvalue()


def test_a_hostile_gateway_status_is_unreadable_not_fatal():
    # nesting past the parser's stack is just an unreadable status
    assert parse_status(b"[" * 5000) is None
    assert parse_status(b'{"state": "online", "holds": ' + b"[" * 5000 + b"]") is None
    assert parse_status(b"\xff\xfe") is None


@pytest.mark.peers
def test_the_fleet_survives_a_hostile_status_publish(tmp_path):
    # one publish of "[[[[..." on the fleet topic ended paho's thread: no peer was watched again
    from outpost_gateway.service import Gateway
    with Mosquitto() as broker:
        b = Gateway(fleet_cfg(tmp_path, "gw-b", broker, after=60.0))
        try:
            b.start()
            assert wait_for(lambda: b.fleet.status()["connected"], 30)
            with Publisher(broker, client_id="op") as c:
                c.publish("outpost-gateways/evil/status", b"[" * 5000).wait_for_publish(30)
                c.publish("outpost-gateways/evil/status", b"{" * 5000).wait_for_publish(30)
                c.publish("outpost-gateways/gw-c/status", b'{"state": "online"}').wait_for_publish(30)
            assert wait_for(lambda: b.fleet.status()["peers"] == {"gw-c": "online"}, 30), b.fleet.status()
        finally:
            b.stop()
            b.spool.close()


# ---- in one process, quick: a clean stop, a return, a session the broker never had ----------

def fleet_cfg(tmp_path, name, broker, after=1.0):
    from gateway_helpers import make_cfg
    d = tmp_path / name
    d.mkdir(exist_ok=True)
    return make_cfg(d, mqtt={"enabled": True, "host": broker.host, "port": broker.port, "client_id": name,
                             "shared_group": "outpost-gw", "broker_config": ""},
                    fleet={"enabled": True, "takeover_after": after},
                    relay={"enabled": False}, watchdog={"enabled": False})


def publish(broker, recs):
    with Publisher(broker, client_id="boards-q", inflight=100) as pub:
        pub.alerts(recs)


def ids(gw):
    return set(a["id"] for a in gw.spool.list(limit=100000))


@pytest.mark.peers
def test_a_cleanly_stopped_gateway_is_covered_and_gets_its_session_back(tmp_path):
    from outpost_gateway.service import Gateway
    with Mosquitto(extra_config="max_queued_messages 100000") as broker:
        a = Gateway(fleet_cfg(tmp_path, "gw-a", broker))
        b = Gateway(fleet_cfg(tmp_path, "gw-b", broker))
        a2 = None
        try:
            a.start()
            b.start()
            assert wait_for(lambda: a.fleet.status()["peers"] == {"gw-b": "online"}
                            and b.fleet.status()["peers"] == {"gw-a": "online"} and a.mqtt.subscribed
                            and b.mqtt.subscribed, 60)
            a.stop()                    # a clean stop says "offline" too: its share must not wait
            assert wait_for(lambda: b.fleet.status()["holds"] == ["gw-a"], 60)
            first = [record(device="q%d" % (i % 3), seq=i) for i in range(200)]
            publish(broker, first)
            assert wait_for(lambda: ids(b) == set(r["id"] for r in first), 60), len(ids(b))
            a2 = Gateway(fleet_cfg(tmp_path, "gw-a", broker))
            a2.start()
            assert wait_for(lambda: b.fleet.status()["holds"] == [] and a2.mqtt.subscribed, 60)
            more = [record(device="q%d" % (i % 3), seq=i) for i in range(200, 300)]
            publish(broker, more)
            assert wait_for(lambda: ids(a2) | ids(b) >= set(r["id"] for r in more), 60)
            assert ids(a2) & set(r["id"] for r in more)        # the owner has its share again
        finally:
            for g in (a2, b, a):
                if g is not None and not g.stopping.is_set():
                    g.stop()
            for g in (a2, b, a):
                if g is not None:
                    g.spool.close()


@pytest.mark.peers
def test_a_peer_without_a_session_is_left_alone(tmp_path, caplog):
    import logging
    caplog.set_level(logging.INFO, logger="outpost.fleet")
    from outpost_gateway.service import Gateway
    with Mosquitto() as broker:
        b = Gateway(fleet_cfg(tmp_path, "gw-b", broker, after=0.5))
        try:
            b.start()
            # a status "offline" for an id the broker keeps no session for
            with Publisher(broker, client_id="op") as c:
                c.publish("outpost-gateways/gw-ghost/status", b"offline", retain=True).wait_for_publish(30)
            # tried once, found nothing, let go
            assert wait_for(lambda: "the broker has no session for gw-ghost" in caplog.text
                            and "Client gw-ghost disconnected" in broker.log()
                            and not b.fleet.status()["holds"], 30), broker.log()
            assert broker.log().count("as gw-ghost") == 1
            time.sleep(2.0)             # four more takeover_after periods: no second attempt
            assert broker.log().count("as gw-ghost") == 1
            # and the empty session it made on the way is gone
            probe = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="gw-ghost",
                                protocol=mqtt.MQTTv5)
            present = []
            probe.on_connect = lambda cl, u, f, rc, p: present.append(f.session_present)
            from outpost_gateway.mqtt_ingress import session_properties
            probe.connect(broker.host, broker.port, clean_start=False, properties=session_properties(0))
            probe.loop_start()
            assert wait_for(lambda: present, 30)
            probe.disconnect()
            probe.loop_stop()
            assert present == [False]
            # a fake "offline" for a running gateway is answered at once
            c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="op2", protocol=mqtt.MQTTv5)
            seen = []
            c.on_message = lambda cl, u, m: seen.append(m.payload)
            c.connect(broker.host, broker.port)
            c.loop_start()
            c.subscribe("outpost-gateways/gw-b/status", 1)
            assert wait_for(lambda: seen, 30)
            c.publish("outpost-gateways/gw-b/status", b"offline", qos=1, retain=True).wait_for_publish(30)
            assert wait_for(lambda: len(seen) >= 3 and seen[1] == b"offline"
                            and parse_status(seen[-1]) == (True, []), 30), seen
            c.disconnect()
            c.loop_stop()
            assert "announcing online again" in caplog.text
        finally:
            b.stop()
            b.spool.close()


# ---- the real thing ------------------------------------------------------------------------

class FleetGateway(GatewayProcess):
    def __init__(self, name, config, tmp_path, http_port, cond):
        self.name = name
        self.spool = str(tmp_path / name / "state" / "spool.db")
        super().__init__(config, tmp_path / ("%s.log" % name), http_port=http_port,
                         env={"FLEET_SMTP_PW": "gw-pw"}, cond=cond)

    def fleet(self):
        return (self.health() or {}).get("fleet") or None


class Boards:
    # five boards publishing alerts at QoS 1 at a steady pace, in their own thread
    def __init__(self, broker, per_second=20):
        self.pub = Publisher(broker, client_id="boards")
        self.gap = 1.0 / per_second
        self.published = {}         # alert id -> when published
        self.infos = []
        self.halt = threading.Event()
        self.t = threading.Thread(target=self._run)
        self.t.start()

    def _run(self):
        seq = 0
        nxt = time.monotonic()
        while not self.halt.is_set():
            r = record(device="board%d" % (seq % 5), seq=seq)
            self.published[r["id"]] = time.monotonic()
            self.infos.append(self.pub.publish("outpost/%s/alert" % r["device"], json.dumps(r)))
            seq += 1
            nxt += self.gap
            self.halt.wait(max(0.0, nxt - time.monotonic()))

    def finish(self):
        self.halt.set()
        self.t.join(30)
        for i in self.infos:
            i.wait_for_publish(120)
        self.pub.close()


def pending_in(spool):
    # alerts a (dead) gateway's spool holds but has not relayed
    db = sqlite3.connect("file:%s?mode=ro" % spool, uri=True, timeout=30)
    try:
        return set(r[0] for r in db.execute("SELECT DISTINCT alert_id FROM deliveries WHERE status != 'done'"))
    finally:
        db.close()


def run_fleet(tmp_path, n, dead_for, fleet, settle):
    ca = TestCA()
    with open(SNIPPET) as f:
        settings = f.read()
    names = ["gw-%s" % c for c in "abc"[:n]]
    with Mosquitto(extra_config=settings) as broker, \
            MailServer(tls="implicit", ca=ca, hostname="127.0.0.1", auth_users={"gw": "gw-pw"},
                       pipelining=True) as up:
        relayed = {}
        deliver = up._deliver

        def stamped(msg):
            mid = msg.parsed()["Message-ID"]
            relayed.setdefault(mid, time.monotonic())
            return deliver(msg)
        up._deliver = stamped
        cafile = tmp_path / "upstream-ca.pem"
        cafile.write_bytes(ca.ca_pem)
        gws = []
        said = threading.Condition()        # one for all the gateways' log lines
        boards = None
        try:
            for name in names:
                d = tmp_path / name
                d.mkdir()
                port = free_port()
                data = base_data(
                    d, gateway={"log_level": "info"},
                    mqtt={"enabled": True, "host": broker.host, "port": broker.port, "client_id": name,
                          "shared_group": "outpost-gw", "broker_config": ""},
                    fleet=dict(fleet, enabled=True),
                    relay={"host": "127.0.0.1", "port": up.port, "mode": "tls", "ca": str(cafile),
                           "username": "gw", "password_env": "FLEET_SMTP_PW", "sender": SENDER,
                           "timeout": 10.0, "backoff_base": 0.5, "backoff_max": 2.0, "jitter": 0.1},
                    digest={"threshold": 100000, "rate_per_hour": 0},
                    watchdog={"enabled": False},
                    http={"enabled": True, "port": port})
                gws.append(FleetGateway(name, write_toml(d / "gateway.toml", data), tmp_path, port, said))

            def all_see_each_other():
                for g in gws:
                    f = g.fleet()
                    h = g.health()
                    if not f or not h["mqtt"]["subscribed"] or sorted(f["peers"].items()) != sorted(
                            (o.name, "online") for o in gws if o is not g):
                        return False
                return True
            assert wait_for(all_see_each_other, 90), [g.health() for g in gws]

            boards = Boards(broker)
            assert wait_for(lambda: len(relayed) >= 100, 60)
            victim, survivors = gws[0], gws[1:]
            victim.kill()
            killed = time.monotonic()
            stranded = pending_in(victim.spool)     # committed by the victim, not yet relayed

            def holder():
                hs = [g for g in survivors if victim.name in ((g.fleet() or {}).get("holds") or ())]
                return hs
            # the takeover as a survivor says it in its log: an event, not a poll of /health
            took_over = wait_line_of_any(survivors, "holding %s's MQTT session" % victim.name, GOAL)
            assert took_over, "no survivor took over %s's session" % victim.name
            took = time.monotonic() - killed
            assert holder() == [took_over]
            time.sleep(max(0.0, dead_for - (time.monotonic() - killed)))    # dead for a while
            back = time.monotonic()
            victim.start()
            # the holder lets go once the owner is back (its log says so), and the owner has
            # its session again
            assert wait_line_of_any([took_over], "let go of %s's session" % victim.name, 90), took_over.health()
            assert wait_for(lambda: ((victim.health() or {}).get("mqtt") or {}).get("subscribed")
                            and not any((g.fleet() or {}).get("holds") for g in survivors), 90)
            time.sleep(settle)                      # boards keep publishing to the whole fleet
            boards.finish()
            want = dict((make_message_id(i, SENDER), t) for i, t in boards.published.items())
            assert wait_for(lambda: set(want) <= set(relayed), 180), len(set(want) - set(relayed))
            # all relayed and every spool finished: nothing more can arrive
            assert wait_for(lambda: all(not pending_in(g.spool) for g in gws), 60)
            for g in gws:
                assert g.stop(90) == 0
        finally:
            if boards is not None and not boards.halt.is_set():
                boards.finish()
            for g in gws:
                g.cleanup()
        copies = collections.Counter(m.parsed()["Message-ID"] for m in up.messages)
    for g in gws:
        with open(g.log_path, "rb") as f:
            text = f.read()
        assert b"Traceback" not in text and b"gw-pw" not in text, g.name
    stranded_mids = set(make_message_id(i, SENDER) for i in stranded)
    late = {}
    for mid, pub in want.items():
        if mid in stranded_mids:
            continue
        d = relayed[mid] - max(pub, killed)
        if d > GOAL:
            late[mid] = round(d, 1)
    worst = max(relayed[mid] - max(pub, killed) for mid, pub in want.items() if mid not in stranded_mids)
    fig = {"gateways": n, "alerts": len(want), "lost": len(set(want) - set(copies)),
           "foreign": len(set(copies) - set(want)), "duplicates": sum(copies.values()) - len(copies),
           "takeover_s": round(took, 1), "dead_s": round(back - killed, 1), "worst_after_kill_s": round(worst, 1),
           "stranded_in_dead_spool": len(stranded)}
    print("fleet figures:", json.dumps(fig))
    return fig, late


@pytest.mark.slow
@pytest.mark.peers
@pytest.mark.parametrize("n, dead_for, fleet, settle", [
    # the real thing, once: the shipped takeover_after, dead for more than a minute
    pytest.param(3, 65.0, {}, 3.0, id="3-gateways-dead-65s"),
    # the same steps with time as a parameter
    pytest.param(2, 5.0, {"takeover_after": 1.0}, 1.0, id="2-gateways-dead-5s"),
])
def test_fleet_survives_a_dead_gateway(tmp_path, n, dead_for, fleet, settle):
    fig, late = run_fleet(tmp_path, n, dead_for, fleet, settle)
    assert fig["lost"] == 0 and fig["foreign"] == 0, fig
    assert not late, (fig, late)
    assert fig["dead_s"] >= dead_for
