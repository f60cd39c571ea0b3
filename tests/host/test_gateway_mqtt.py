# MQTT ingress against a real Mosquitto started by the test: manual PUBACK after commit,
# persistent session across a gateway restart, status/Last Will/heartbeat tracking, bad input
# refused; and the required end-to-end run: 1,000 alerts at QoS 1, the gateway SIGKILLed
# mid-stream and restarted, every alert upstream exactly once by Message-ID.
import collections
import json
import logging
import sqlite3
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_helpers import (GatewayProcess, Publisher, base_data, free_port, full_spool_keeps_alerts_with_the_broker,
                             http_json, http_text, ingress_on_a_spool, make_cfg, record,
                             unwritable, wait_for, write_toml)
from outpost_gateway import config
from outpost_gateway.clock import SystemClock
from outpost_gateway.ingest import Ingest
from outpost_gateway.metrics import Metrics
from outpost_gateway.mqtt_ingress import MqttIngress
from outpost_gateway.service import Gateway
from outpost_gateway.spool import Spool
from peers.certs import TestCA
from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer
from usmtp.writer import make_message_id

SENDER = "outpost@example.org"


def alert_topic(rec):
    return "outpost/%s/alert" % rec["device"]


def ingress(tmp_path, broker, client_id="gw-1"):
    cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                   "client_id": client_id})
    ing, spool, m = ingress_on_a_spool(MqttIngress, cfg, tmp_path)
    assert wait_for(lambda: ing.subscribed, 30)
    return ing, spool, m


def test_alerts_spooled_and_bad_input_refused(tmp_path, broker):
    ing, spool, m = ingress(tmp_path, broker)
    pub = Publisher(broker)
    try:
        recs = [record(device="b1", seq=i) for i in range(20)]
        infos = [pub.publish(alert_topic(r), json.dumps(r)) for r in recs]
        for i in infos:
            i.wait_for_publish(20)
        pub.publish("outpost/b1/alert", b"{not json").wait_for_publish(20)
        pub.publish("outpost/b2/alert", json.dumps(record(device="b1", seq=99))).wait_for_publish(20)
        pub.publish(alert_topic(recs[0]), json.dumps(recs[0])).wait_for_publish(20)   # duplicate
        assert wait_for(lambda: m.c["received"] == 23, 30)
        assert wait_for(lambda: m.c["acknowledged"] == 21, 30)
        assert spool.counts()["alerts"] == 20
        assert m.c["duplicates"] == 1
        assert m.refusals == {("mqtt", "malformed"): 1, ("mqtt", "device-mismatch"): 1}
    finally:
        pub.close()
        ing.stop()
        spool.close()


def test_status_last_will_and_heartbeat_tracked(tmp_path, broker):
    ing, spool, m = ingress(tmp_path, broker)
    board = Publisher(broker, client_id="board-b7", will=("outpost/b7/status", b"offline"))
    try:
        board.publish("outpost/b7/status", b"online", retain=True).wait_for_publish(20)
        board.publish("outpost/b7/heartbeat", b"3600").wait_for_publish(20)
        assert wait_for(lambda: [b["status"] for b in spool.boards()] == ["online"], 30)
        # the board dies without a DISCONNECT: the broker publishes its Last Will
        board.c.loop_stop()
        board.c.socket().close()
        assert wait_for(lambda: [b["status"] for b in spool.boards()] == ["offline"], 60)
    finally:
        ing.stop()
        spool.close()


def test_a_board_saying_config_error_is_tracked(tmp_path, broker):
    # firmware/outpost/cfgerror.py: the board found its config broken at boot and says so
    ing, spool, m = ingress(tmp_path, broker)
    board = Publisher(broker, client_id="board-b8")
    try:
        board.publish("outpost/b8/status", b"config error", retain=True).wait_for_publish(20)
        assert wait_for(lambda: [b["status"] for b in spool.boards()] == ["config error"], 30)
        assert m.refusals == {}
    finally:
        board.close()
        ing.stop()
        spool.close()


def test_unacked_alerts_redelivered_after_restart(tmp_path, broker):
    # alerts published while the gateway is away wait in its persistent session
    ing, spool, m = ingress(tmp_path, broker, client_id="gw-persist")
    ing.stop()
    spool.close()
    pub = Publisher(broker)
    recs = [record(device="b3", seq=i) for i in range(50)]
    for r in recs:
        pub.publish(alert_topic(r), json.dumps(r)).wait_for_publish(20)
    pub.close()
    ing, spool, m = ingress(tmp_path, broker, client_id="gw-persist")
    try:
        assert wait_for(lambda: spool.counts()["alerts"] == 50, 30)
    finally:
        ing.stop()
        spool.close()


def test_tls_and_login_to_the_broker(tmp_path):
    with Mosquitto(users={"gw": "gw-broker-pw", "board": "board-pw"}, tls=True, hostname="127.0.0.1") as b:
        cafile = tmp_path / "broker-ca.pem"
        cafile.write_bytes(b.ca_pem)
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1", "port": b.tls_port, "tls": True,
                                       "ca": str(cafile), "username": "gw", "password": "gw-broker-pw",
                                       "client_id": "gw-tls"})
        ing, spool, _ = ingress_on_a_spool(MqttIngress, cfg, tmp_path)
        try:
            assert wait_for(lambda: ing.subscribed, 30), ing.last_error
            pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="board-tls",
                              protocol=mqtt.MQTTv5)
            pub.username_pw_set("board", "board-pw")
            pub.connect(b.host, b.port)
            pub.loop_start()
            rec = record(device="b9", seq=1)
            pub.publish(alert_topic(rec), json.dumps(rec), qos=1).wait_for_publish(20)
            assert wait_for(lambda: spool.show(rec["id"]) is not None, 30)
            pub.disconnect()
            pub.loop_stop()
        finally:
            ing.stop()
            spool.close()
        # a wrong password is refused and reported, not retried silently
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1", "port": b.tls_port, "tls": True,
                                       "ca": str(cafile), "username": "gw", "password": "wrong",
                                       "client_id": "gw-tls-2"})
        ing = MqttIngress(cfg, Ingest(cfg, None, Metrics(), SystemClock()))
        ing.start()
        try:
            assert wait_for(lambda: ing.last_error is not None, 30)
            assert not ing.subscribed
            assert "wrong" not in ing.last_error
        finally:
            ing.stop()


def test_full_spool_leaves_alerts_with_the_broker(tmp_path, broker):
    # the stated policy: a full spool refuses new alerts without acknowledging them, so the
    # broker keeps them and delivers them again once there is room; nothing is lost
    cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                   "client_id": "gw-full"})
    ing, spool, m = ingress_on_a_spool(MqttIngress, cfg, tmp_path, max_pending=5, bounce=0.3)
    pub = Publisher(broker)
    try:
        assert wait_for(lambda: ing.subscribed, 30)
        full_spool_keeps_alerts_with_the_broker(
            spool, m, lambda r: pub.publish(alert_topic(r), json.dumps(r)).wait_for_publish(20),
            [record(device="full", seq=i) for i in range(8)])
    finally:
        pub.close()
        ing.stop()
        spool.close()


def test_shared_subscription_splits_work_between_gateways(tmp_path, broker):
    # a fleet: two gateways in one $share group, each with its own spool; every alert lands
    # in exactly one of them
    gws = []
    for k in range(2):
        d = tmp_path / ("gw%d" % k)
        d.mkdir()
        cfg = make_cfg(d, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                "client_id": "gw-fleet-%d" % k, "shared_group": "outpost-gw"})
        spool = Spool(str(d / "s.db"), SystemClock()).open()
        spool.start_writer()
        ing = MqttIngress(cfg, Ingest(cfg, spool, Metrics(), SystemClock()))
        ing.start()
        gws.append((ing, spool))
    pub = Publisher(broker)
    try:
        assert wait_for(lambda: all(g[0].subscribed for g in gws), 30)
        recs = [record(device="fleet", seq=i) for i in range(100)]
        for r in recs:
            pub.publish(alert_topic(r), json.dumps(r))
        assert wait_for(lambda: sum(g[1].counts()["alerts"] for g in gws) == 100, 30)
        ids = [a["id"] for g in gws for a in g[1].list(limit=1000)]
        assert sorted(ids) == sorted(r["id"] for r in recs)
        assert all(g[1].counts()["alerts"] > 0 for g in gws)
    finally:
        pub.close()
        for ing, spool in gws:
            ing.stop()
            spool.close()


# ---- the required end-to-end test: a real gateway process, SIGKILL mid-stream ---------------

def gateway_config(tmp_path, broker, up, ca, http_port, batch=50):
    cafile = tmp_path / "upstream-ca.pem"
    cafile.write_bytes(ca.ca_pem)
    data = base_data(
        tmp_path,
        gateway={"log_level": "info"},
        mqtt={"enabled": True, "host": broker.host, "port": broker.port, "client_id": "gw-e2e"},
        relay={"host": "127.0.0.1", "port": up.port, "mode": "tls", "ca": str(cafile),
               "username": "gw", "password_env": "E2E_SMTP_PW", "sender": SENDER, "timeout": 10.0,
               "backoff_base": 0.2, "backoff_max": 1.0, "jitter": 0.1, "batch": batch},
        digest={"threshold": 100000, "rate_per_hour": 0},   # every alert as its own message here
        watchdog={"enabled": False},
        http={"enabled": True, "port": http_port},
    )
    return write_toml(tmp_path / "gateway.toml", data)


def start_gateway(config, tmp_path, http_port):
    return GatewayProcess(config, tmp_path / "gateway.log", http_port=http_port, env={"E2E_SMTP_PW": "gw-pw"})


def spool_count(path, sql):
    try:
        db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=10)
        try:
            return db.execute(sql).fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return -1


def run_kill_test(tmp_path, upstream_down_during_kill):
    ca = TestCA()
    n = 1000
    with Mosquitto(extra_config="max_queued_messages 10000") as broker, \
            MailServer(tls="implicit", ca=ca, hostname="127.0.0.1",
                                           auth_users={"gw": "gw-pw"}, pipelining=True) as up:
        port = free_port()
        conf = gateway_config(tmp_path, broker, up, ca, port)
        spool_path = str(tmp_path / "state" / "spool.db")
        if upstream_down_during_kill:
            up.down()
        gw = start_gateway(conf, tmp_path, port)
        gw2 = None
        pub = None
        try:
            gw.wait_healthy(lambda h: (h.get("mqtt") or {}).get("subscribed"))
            pub = Publisher(broker)
            recs = [record(device="e2e", seq=i) for i in range(n)]
            done = threading.Event()
            infos = []

            def publish_all():
                for r in recs:
                    infos.append(pub.publish(alert_topic(r), json.dumps(r)))
                for i in infos:
                    i.wait_for_publish(60)
                done.set()

            t = threading.Thread(target=publish_all)
            t.start()
            # kill the gateway mid-stream, while alerts are still arriving
            assert wait_for(lambda: spool_count(spool_path, "SELECT count(*) FROM alerts") >= 200, 60)
            gw.kill()
            before = spool_count(spool_path, "SELECT count(*) FROM alerts")
            assert 200 <= before < n, before
            if upstream_down_during_kill:
                up.up()
            gw2 = start_gateway(conf, tmp_path, port)
            t.join(120)
            assert done.is_set()
            up.wait_for(n, timeout=180)
            # everything is finished in the spool, then nothing more can arrive
            assert wait_for(lambda: spool_count(
                spool_path, "SELECT count(*) FROM deliveries WHERE status != 'done'") == 0, 60)
            assert spool_count(spool_path, "SELECT count(*) FROM deliveries") == n
            assert gw2.stop() == 0
        finally:
            if pub is not None:
                pub.close()
            gw.cleanup()
            if gw2 is not None:
                gw2.cleanup()
        logs = (tmp_path / "gateway.log").read_bytes()
        assert b"gw-pw" not in logs                  # the upstream password never reaches the log
        assert b"Traceback" not in logs
        got = collections.Counter(m.parsed()["Message-ID"] for m in up.messages)
        want = set(make_message_id(r["id"], SENDER) for r in recs)
        return got, want


@pytest.mark.slow
@pytest.mark.peers
def test_kill_mid_stream_every_alert_exactly_once(tmp_path):
    # the upstream is unreachable while the gateway dies, so nothing was half-relayed:
    # every alert must arrive exactly once
    got, want = run_kill_test(tmp_path, upstream_down_during_kill=True)
    assert set(got) == want
    assert max(got.values()) == 1


@pytest.mark.slow
@pytest.mark.peers
def test_kill_while_relaying_loses_nothing(tmp_path):
    # killed while relaying: a message the upstream accepted but the spool had not yet marked
    # done is sent again (at-least-once); never a loss, and each message is settled on its own
    # reply, so at most one repeated per upstream connection (relay.connections, 4)
    got, want = run_kill_test(tmp_path, upstream_down_during_kill=False)
    assert set(got) == want
    assert sum(got.values()) - len(want) <= 4


# ---- a spool that cannot be written (disk error), as opposed to a full one -------------------

@pytest.mark.peers
def test_spool_error_leaves_alerts_with_the_broker_logs_once_and_recovers(tmp_path, broker, monkeypatch, caplog):
    monkeypatch.setattr(MqttIngress, "BOUNCE_DELAY", 0.3)
    caplog.set_level(logging.DEBUG, logger="outpost")
    http = free_port()
    with MailServer() as up:
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                       "client_id": "gw-ioerr"},
                       relay={"port": up.port, "timeout": 5.0, "backoff_base": 0.2, "backoff_max": 0.5},
                       digest={"threshold": 1000, "rate_per_hour": 0}, http={"enabled": True, "port": http})
        gw = Gateway(cfg)
        gw.start()
        pub = Publisher(broker)
        try:
            assert wait_for(lambda: gw.mqtt.subscribed, 30)
            assert "outpost_mqtt_subscribed 1.0" in http_text(http, "/metrics")
            a = record(device="io", seq=1)
            pub.publish(alert_topic(a), json.dumps(a)).wait_for_publish(20)
            up.wait_for(1, timeout=30)                   # all is well: in, acknowledged, out
            assert wait_for(lambda: gw.spool.counts()["done"] == 1, 30)
            wal = config.spool_path(cfg) + "-wal"
            with unwritable(wal):
                b = record(device="io", seq=2)
                pub.publish(alert_topic(b), json.dumps(b)).wait_for_publish(20)
                # refused, left unacknowledged, redelivered by the broker and refused again
                assert wait_for(lambda: gw.spool.write_failures >= 3, 60), gw.spool.write_failures
                assert gw.spool.show(b["id"]) is None
                assert gw.metrics.c["spool_errors"] >= 3 and gw.metrics.c["acknowledged"] == 1
                code, h = http_json(http, "/health")
                assert code == 503 and "spool write failing" in h["problems"]
                assert gw.status()["spool_error"] and gw.status()["mqtt"]["spool_refusing"] == "error"
                assert "outpost_spool_write_failing 1.0" in http_text(http, "/metrics")
            # the disk works again: the broker's redelivery gets in, is acknowledged and relayed
            assert wait_for(lambda: gw.spool.show(b["id"]) is not None, 60)
            msgs = up.wait_for(2, timeout=60)
            assert wait_for(lambda: gw.spool.write_error is None and gw.metrics.c["acknowledged"] == 2, 30)
            assert wait_for(lambda: http_json(http, "/health")[0] == 200, 30)
        finally:
            pub.close()
            gw.stop()
            gw.spool.close()
        mids = collections.Counter(m.parsed()["Message-ID"] for m in up.messages)
        assert mids == collections.Counter([make_message_id(a["id"], SENDER), make_message_id(b["id"], SENDER)])
    # one error per episode and part, however often the broker redelivered meanwhile
    errors = collections.Counter((r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR)
    assert errors and max(errors.values()) == 1, errors
    assert [m for n, m in errors if n == "outpost.spool" and m.startswith("spool write failed: disk I/O error")]
    assert sum(1 for r in caplog.records if r.getMessage().startswith("spool writes work again")) == 1
    assert not [r for r in caplog.records if r.exc_info]          # no tracebacks
