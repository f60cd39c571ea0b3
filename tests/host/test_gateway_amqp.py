# The AMQP ingress on a real RabbitMQ node (Debian's 3.10, started by the test on free ports
# with its own node name, data folder, cookie and epmd; one node for the whole module, as a
# node takes 9-12 s to start). Boards publish MQTT to the node's MQTT plugin as themselves
# (users made by host/rabbitmq/outpost-rabbitmq, as the docs say); the gateway consumes the
# quorum queue over AMQP. Covered: the unchanged firmware's MQTT path (emulated board) to an
# inbox on a real SMTP server; bad records refused, kept and acknowledged; the broker refusing
# a board that publishes as another; a gateway process SIGKILLed mid-stream losing nothing.
import collections
import contextlib
import json
import os
import sys

import paho.mqtt.client as mqtt
import pika
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_helpers import (ROOT, base_data, free_port, full_spool_keeps_alerts_with_the_broker,
                             ingress_on_a_spool, make_cfg, record,
                             wait_for, write_toml)
from outpost_gateway import config
from outpost_gateway.amqp_ingress import AmqpIngress, bindings, parse_url, split_key
from outpost_gateway.service import Gateway
from peers import rabbitmq
from peers.certs import TestCA
from peers.smtpd import MailServer
from test_gateway_mqtt import spool_count, start_gateway
from usmtp.writer import make_message_id

# one RabbitMQ node for the module: its tests stay on one xdist worker (tools/run_lanes.py)
pytestmark = [pytest.mark.peers, pytest.mark.xdist_group("rabbitmq")]

SENDER = "outpost@example.org"
BOARDS = ("shed", "b1")     # each user costs three rabbitmqctl calls (~0.7 s each)


@pytest.fixture(scope="module")
def rabbit():
    with rabbitmq.RabbitCluster(1, tls=True) as rc:
        rc.outpost("policy")
        rc.add_user("gw", "gw-pw")
        for b in BOARDS:
            rc.add_user(b, b + "-pw", board=True)
        yield rc


@pytest.fixture
def queue(rabbit):
    # the documented queue, emptied first: no test sees another's leftovers
    n = rabbit.nodes[0]
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        n.host, n.amqp_port, credentials=pika.PlainCredentials(*rabbitmq.ADMIN)))
    try:
        ch = conn.channel()
        ch.queue_declare("outpost-alerts", durable=True, arguments={"x-queue-type": "quorum"})
        ch.queue_purge("outpost-alerts")
    finally:
        conn.close()
    return "outpost-alerts"


def amqp_section(rabbit, queue, **over):
    n = rabbit.nodes[0]
    s = {"enabled": True, "urls": ["amqp://%s:%d/" % (n.host, n.amqp_port)], "username": "gw",
         "password": "gw-pw", "queue": queue, "prefetch": 10, "connect_timeout": 2.0}
    s.update(over)
    return s


class Board:
    # a board's MQTT side as RabbitMQ's MQTT plugin sees it: MQTT 3.1.1 (3.10 has no MQTT 5),
    # QoS 1, logged in as itself
    def __init__(self, rabbit, name):
        n = rabbit.nodes[0]
        self.c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=name,
                             protocol=mqtt.MQTTv311)
        self.c.username_pw_set(name, name + "-pw")
        self.c.max_inflight_messages_set(100)
        self.c.max_queued_messages_set(0)
        self.gone = []
        self.c.on_disconnect = lambda *a: self.gone.append(a[3])
        self.c.connect(n.host, n.mqtt_port)
        self.c.loop_start()
        assert wait_for(self.c.is_connected, 20), "board %s could not connect" % name

    def publish(self, topic, payload, retain=False):
        return self.c.publish(topic, payload, qos=1, retain=retain)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def queue_depth(rabbit, queue):
    # messages ready in the queue (delivered-but-unacknowledged ones come back when their
    # consumer's connection closes, so after the gateway stops this counts what it never acked)
    n = rabbit.nodes[0]
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        n.host, n.amqp_port, credentials=pika.PlainCredentials(*rabbitmq.ADMIN)))
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        conn.close()


def queue_messages(rabbit, queue):
    # ready and unacknowledged together (the broker's count): 0 once the gateway has
    # acknowledged everything it was handed
    for line in rabbit.running_node().ctl("list_queues", "name", "messages", "-q").splitlines():
        name, _, n = line.rpartition("\t")
        if name == queue:
            return int(n)
    return None


def settled(rabbit, queue):
    # waits until the gateway acknowledged all it got (an ack may still be on its way when the
    # last commit is seen; stopping then would put that alert back in the queue, rightly)
    return wait_for(lambda: queue_messages(rabbit, queue) == 0, 30, step=0.5)


def admin_publish(rabbit, key, body):
    n = rabbit.nodes[0]
    conn = pika.BlockingConnection(pika.ConnectionParameters(
        n.host, n.amqp_port, credentials=pika.PlainCredentials(*rabbitmq.ADMIN)))
    try:
        conn.channel().basic_publish("amq.topic", key, body)
    finally:
        conn.close()


@contextlib.contextmanager
def consuming_gateway(tmp_path, rabbit, queue, **amqp):
    # an in-process gateway on the queue (no relay, no watchdog), once it consumes; stopped after
    gw = Gateway(make_cfg(tmp_path, amqp=amqp_section(rabbit, queue, **amqp), relay={"enabled": False},
                          watchdog={"enabled": False}))
    gw.start()
    try:
        assert wait_for(lambda: gw.amqp.consuming, 30), gw.amqp.last_error
        yield gw
    finally:
        gw.stop()

def test_urls_and_routing_keys():
    assert parse_url("amqp://rmq1/") == (False, "rmq1", 5672, "/")
    assert parse_url("amqps://rmq2:5999/outpost") == (True, "rmq2", 5999, "outpost")
    for bad, why in (("amqp://gw:pw@rmq1/", "user or password"), ("http://rmq1/", "amqp://"),
                     ("amqp:///", "no host"), ("amqp://rmq1:99999/", "bad port")):
        with pytest.raises(ValueError, match=why):
            parse_url(bad)
    assert bindings("outpost") == ["outpost.#.alert", "outpost.#.report", "outpost.#.status",
                                   "outpost.#.heartbeat", "outpost.#.state"]
    assert split_key("outpost", "outpost.shed.alert") == ("shed", "alert")
    assert split_key("site.outpost", "site.outpost.a.b.alert") == ("a.b", "alert")
    assert split_key("outpost", "other.shed.alert") == (None, "")


def test_config_section_checked(tmp_path):
    ok = make_cfg(tmp_path, amqp={"enabled": True, "urls": ["amqp://rmq1/", "amqp://rmq2/"],
                                  "username": "gw", "password": "x"})
    assert ok["amqp"]["prefetch"] == 50 and ok["amqp"]["queue"] == "outpost-alerts"
    for over, key in (({"urls": []}, "amqp.urls"),
                      ({"urls": ["amqp://gw:pw@rmq1/"]}, r"amqp.urls\[0\]: must not hold a user"),
                      ({"username": ""}, "amqp.username"),
                      ({"prefetch": 0}, "amqp.prefetch"),
                      ({"queue": "amq.q"}, "amqp.queue"),
                      ({"topic_prefix": "out.post"}, "amqp.topic_prefix")):
        sect = {"enabled": True, "urls": ["amqp://rmq1/"], "username": "gw"}
        sect.update(over)
        with pytest.raises(config.ConfigError, match=key):
            make_cfg(tmp_path, amqp=sect)


def test_firmware_alert_through_rabbitmq_to_the_inbox(tmp_path, rabbit, queue):
    # the unchanged firmware (emulated board, its own umqtt path) publishes to RabbitMQ's MQTT
    # plugin; the gateway takes it from the quorum queue and relays it to a real SMTP server
    sys.path.insert(0, os.path.join(ROOT, "tests", "firmware"))
    from emu_fixtures import EMU, RISE, T_START, base_config

    sys.path.insert(0, EMU)
    from emulator.harness import EmulatedBoard
    n = rabbit.nodes[0]
    with MailServer(tls="none") as board_mail, MailServer(tls="none") as up:
        board_mail.down()       # the board's own mail server is away: it hands over via MQTT
        cfg = make_cfg(tmp_path, amqp=amqp_section(rabbit, queue),
                       relay={"host": up.host, "port": up.port, "mode": "plain", "sender": SENDER,
                              "backoff_base": 0.2, "jitter": 0.0},
                       digest={"threshold": 1000, "rate_per_hour": 0}, watchdog={"enabled": False})
        gw = Gateway(cfg)
        gw.start()
        board = None
        try:
            assert wait_for(lambda: gw.amqp.consuming, 30), gw.amqp.last_error
            bc = base_config(mail=board_mail, order=("smtp", "mqtt"))
            bc["mqtt"] = {"host": n.host, "port": n.mqtt_port, "username": "shed", "password": "shed-pw",
                          "timeout": 5}
            board = EmulatedBoard(bc, sensors=RISE, flash_dir=str(tmp_path / "flash"), start=T_START)
            board.start()
            board.run(1800)
            msgs = up.wait_for(1, timeout=30)
            assert any("sent shed-1-1 via mqtt" in line for line in board.lines)
            assert msgs[0].parsed()["Message-ID"] == make_message_id("shed-1-1", SENDER)
            assert "freezer.temperature" in msgs[0].parsed()["Subject"]
            # the board's retained `online` reached the watchdog's table too
            assert wait_for(lambda: [(b["device"], b["status"]) for b in gw.spool.boards()]
                            == [("shed", "online")], 10)
            assert gw.failed() == {}
            assert gw.status()["amqp"]["node"] == "%s:%d" % (n.host, n.amqp_port)
            assert settled(rabbit, queue)
        finally:
            if board is not None:
                board.close()
            gw.stop()
            for d in (EMU, os.path.join(ROOT, "tests", "firmware")):
                if d in sys.path:
                    sys.path.remove(d)
            for name in list(sys.modules):
                if name.split(".")[0] == "emulator":
                    del sys.modules[name]
    assert queue_depth(rabbit, queue) == 0      # everything was acknowledged


def test_bad_records_refused_kept_and_acknowledged(tmp_path, rabbit, queue):
    with consuming_gateway(tmp_path, rabbit, queue) as gw:
        b1 = Board(rabbit, "b1")
        try:
            good = [record(device="b1", seq=i) for i in range(5)]
            infos = [b1.publish("outpost/b1/alert", json.dumps(r)) for r in good]
            infos.append(b1.publish("outpost/b1/alert", b"{not json"))
            infos.append(b1.publish("outpost/b1/alert", json.dumps(record(device="b2", seq=9))))
            infos.append(b1.publish("outpost/b1/status", b"sleepy"))
            for i in infos:
                i.wait_for_publish(20)
            # a device name with a '.' (outpost/a.b/alert reaches amq.topic as outpost.a.b.alert):
            # refused with the reason and kept, not silently unrouted
            admin_publish(rabbit, "outpost.a.b.alert", json.dumps(record(device="a.b", seq=1)))
            want = {"malformed": 1, "device-mismatch": 1, "bad-status": 1, "bad-device": 1}
            assert wait_for(lambda: len(gw.spool.rejected()) >= 4, 20)
            rej = collections.Counter(r["reason"].split(":")[0] for r in gw.spool.rejected())
            assert rej == want
            assert all(r["source"] == "amqp" for r in gw.spool.rejected())
            assert wait_for(lambda: gw.spool.pending() == 5, 20)
            assert "cannot cross RabbitMQ's MQTT plugin" in [r for r in gw.spool.rejected()
                                                             if r["reason"].startswith("bad-device")][0]["reason"]
            assert settled(rabbit, queue)
        finally:
            b1.close()
    assert queue_depth(rabbit, queue) == 0      # bad ones acknowledged too: never redelivered


def test_full_spool_leaves_alerts_in_the_queue_and_a_dead_node_is_skipped(tmp_path, rabbit, queue):
    # a full spool refuses without acknowledging: the deliveries go back to the queue after
    # BOUNCE_DELAY and are taken once there is room; nothing is lost. The first URL is a node
    # that is not there: the ingress goes on to the next one.
    dead = "amqp://127.0.0.1:%d/" % free_port()
    sect = amqp_section(rabbit, queue)
    sect["urls"] = [dead] + sect["urls"]
    cfg = make_cfg(tmp_path, amqp=sect)
    ing, spool, m = ingress_on_a_spool(AmqpIngress, cfg, tmp_path, max_pending=5, bounce=0.3)
    b1 = Board(rabbit, "b1")
    try:
        assert wait_for(lambda: ing.consuming, 30), ing.last_error
        assert ing.status()["node"] == sect["urls"][1][len("amqp://"):-1]
        def refusing():
            assert ing.refusing == "full"
        full_spool_keeps_alerts_with_the_broker(
            spool, m, lambda r: b1.publish("outpost/b1/alert", json.dumps(r)).wait_for_publish(20),
            [record(device="b1", seq=i, boot=3) for i in range(8)], refusing)
        assert wait_for(lambda: ing.refusing is None, 10)
        assert settled(rabbit, queue)
    finally:
        b1.close()
        ing.stop()
        spool.close()
    assert queue_depth(rabbit, queue) == 0


def test_amqps_verifies_the_node_certificate(tmp_path, rabbit, queue):
    # amqps:// with amqp.ca: the node's certificate is verified (and its name, "localhost");
    # against another CA the gateway does not connect and says why
    n = rabbit.nodes[0]
    url = "amqps://localhost:%d/" % n.amqps_port
    ca = tmp_path / "ca.pem"
    ca.write_bytes(rabbit.ca.ca_pem)
    with consuming_gateway(tmp_path, rabbit, queue, urls=[url], ca=str(ca)) as gw:
        assert gw.amqp.status()["node"] == "localhost:%d" % n.amqps_port
    other = tmp_path / "other-ca.pem"
    other.write_bytes(TestCA().ca_pem)
    gw = Gateway(make_cfg(tmp_path / "b", amqp=amqp_section(rabbit, queue, urls=[url], ca=str(other)),
                          relay={"enabled": False}, watchdog={"enabled": False}))
    gw.start()
    try:
        assert wait_for(lambda: gw.amqp.last_error and "CERTIFICATE_VERIFY_FAILED" in gw.amqp.last_error, 30), \
            gw.amqp.last_error
        assert not gw.amqp.consuming
    finally:
        gw.stop()


def test_broker_refuses_a_board_publishing_as_another(tmp_path, rabbit, queue):
    with consuming_gateway(tmp_path, rabbit, queue) as gw:
        bad = Board(rabbit, "b1")
        # b1 posing as shed, with a record that says shed
        bad.publish("outpost/shed/alert", json.dumps(record(device="shed", seq=77)))
        # RabbitMQ closes the connection of a board that writes outside outpost.<its name>.
        assert wait_for(lambda: bad.gone, 20)
        bad.c.loop_stop()
        ok = Board(rabbit, "b1")
        ok.publish("outpost/b1/alert", json.dumps(record(device="b1", seq=1))).wait_for_publish(20)
        ok.close()
        assert wait_for(lambda: gw.spool.pending() == 1, 20)
        assert [a["id"] for a in gw.spool.list()] == ["b1-1-1"]


@pytest.mark.slow
def test_gateway_sigkilled_mid_stream_loses_nothing(tmp_path, rabbit, queue):
    # a real gateway process consuming with prefetch 20 is SIGKILLed while alerts stream in;
    # the broker hands what it held to the restarted gateway: every alert reaches the upstream,
    # repeats at most one prefetch window (same Message-ID, so one email in the inbox)
    ca = TestCA()
    n_alerts, prefetch = 600, 20
    with MailServer(tls="implicit", ca=ca, hostname="127.0.0.1", auth_users={"gw": "gw-pw"},
                    pipelining=True) as up:
        cafile = tmp_path / "upstream-ca.pem"
        cafile.write_bytes(ca.ca_pem)
        port = free_port()
        data = base_data(tmp_path, gateway={"log_level": "info"},
                         amqp=amqp_section(rabbit, queue, prefetch=prefetch, password="",
                                           password_env="E2E_AMQP_PW"),
                         relay={"host": "127.0.0.1", "port": up.port, "mode": "tls", "ca": str(cafile),
                                "username": "gw", "password_env": "E2E_SMTP_PW", "sender": SENDER,
                                "timeout": 10.0, "backoff_base": 0.2, "backoff_max": 1.0, "jitter": 0.1},
                         digest={"threshold": 100000, "rate_per_hour": 0}, watchdog={"enabled": False},
                         http={"enabled": True, "port": port})
        data["amqp"].pop("password")
        conf = write_toml(tmp_path / "gateway.toml", data)
        os.environ["E2E_AMQP_PW"] = "gw-pw"
        spool_path = str(tmp_path / "state" / "spool.db")
        gw = start_gateway(conf, tmp_path, port)
        gw2 = None
        board = Board(rabbit, "b1")
        try:
            assert wait_for(lambda: ((gw.health() or {}).get("amqp") or {}).get("consuming"), 60), gw.health()
            recs = [record(device="b1", seq=i, boot=2) for i in range(n_alerts)]
            infos = []
            for i, r in enumerate(recs):
                infos.append(board.publish("outpost/b1/alert", json.dumps(r)))
                if i == n_alerts // 3:
                    # kill mid-stream, once the gateway has committed some
                    assert wait_for(lambda: spool_count(spool_path, "SELECT count(*) FROM alerts") >= 50, 60)
                    gw.kill()
                    before = spool_count(spool_path, "SELECT count(*) FROM alerts")
                    gw2 = start_gateway(conf, tmp_path, port)
            for i in infos:
                i.wait_for_publish(60)
            assert 50 <= before < n_alerts, before
            up.wait_for(n_alerts, timeout=180)
            assert wait_for(lambda: spool_count(
                spool_path, "SELECT count(*) FROM deliveries WHERE status != 'done'") == 0, 60)
            assert spool_count(spool_path, "SELECT count(*) FROM deliveries") == n_alerts
            assert settled(rabbit, queue)
            assert gw2.stop() == 0
        finally:
            os.environ.pop("E2E_AMQP_PW", None)
            board.close()
            gw.cleanup()
            if gw2 is not None:
                gw2.cleanup()
        logs = (tmp_path / "gateway.log").read_bytes()
        assert b"gw-pw" not in logs and b"Traceback" not in logs
        got = collections.Counter(m.parsed()["Message-ID"] for m in up.messages)
        assert set(got) == set(make_message_id(r["id"], SENDER) for r in recs)
        # the spool dedupes redeliveries by alert id; a repeat upstream is only a relay batch
        # the kill cut short, at most one batch
        assert sum(got.values()) - n_alerts <= 50
    assert queue_depth(rabbit, queue) == 0
