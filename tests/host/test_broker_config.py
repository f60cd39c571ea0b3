# The broker settings the gateway ships (host/mosquitto/outpost.conf), installed by
# `make install-broker-config` and run by the real Mosquitto: a 3,000-alert burst is not
# dropped (Mosquitto's default queue of 1000 drops most of it), the commented listeners work
# once uncommented (TLS and passwords), and the gateway warns at start when the broker's queue
# limit is below spool.max_pending, or says it could not check.
import json
import logging
import os
import subprocess

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_helpers import ROOT, ingress_on_a_spool, make_cfg, record, wait_for
from outpost_gateway.broker_check import check_queue_limit, read_mosquitto
from outpost_gateway.mqtt_ingress import MqttIngress
from peers.mosquitto import Mosquitto

SNIPPET = os.path.join(ROOT, "host", "mosquitto", "outpost.conf")
BURST = 3000


def install_snippet(confd):
    # the make target itself, pointed at a folder of the test's own
    os.makedirs(confd, exist_ok=True)
    r = subprocess.run(["make", "-s", "-C", ROOT, "install-broker-config", "MOSQUITTO_CONFD=" + confd,
                        "MOSQUITTO_RESTART=no"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return os.path.join(confd, "outpost.conf")


def client(broker, cid, **kw):
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    c.max_inflight_messages_set(200)
    c.max_queued_messages_set(0)
    if kw.get("username"):
        c.username_pw_set(kw["username"], kw["password"])
    c.connect(broker.host, kw.get("port", broker.port))
    c.loop_start()
    return c


def publish_burst(broker, n, device="burst"):
    # a board's burst: every alert acknowledged by the broker (PUBACK) before this returns
    pub = client(broker, "board-" + device)
    try:
        infos = [pub.publish("outpost/%s/alert" % device, json.dumps(record(device=device, seq=i)), qos=1)
                 for i in range(n)]
        for i in infos:
            i.wait_for_publish(120)
            assert i.rc == 0
    finally:
        pub.disconnect()
        pub.loop_stop()


class Gw:
    def __init__(self, tmp_path, broker, cid="gw-burst"):
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port, "client_id": cid})
        self.ing, self.spool, _ = ingress_on_a_spool(MqttIngress, cfg, tmp_path, name="%s.db" % cid)
        assert wait_for(lambda: self.ing.subscribed, 60), self.ing.last_error

    def alerts(self):
        return self.spool.counts()["alerts"]

    def close(self):
        self.ing.stop()
        self.spool.close()


def drain_offline_burst(tmp_path, broker):
    # the gateway's session exists, the gateway is away while a burst comes in, then it returns:
    # how many of the burst does the broker still hold for it?
    Gw(tmp_path, broker).close()
    publish_burst(broker, BURST)
    gw = Gw(tmp_path, broker)
    try:
        # a marker published now arrives after everything the broker still queued: once it is
        # in the spool, the broker has handed over all it kept
        publish_burst(broker, 1, device="marker")
        assert wait_for(lambda: gw.spool.show("marker-1-0") is not None, 120)
        return gw.alerts() - 1
    finally:
        gw.close()


@pytest.fixture
def debian_like(tmp_path):
    # Debian's /etc/mosquitto/mosquitto.conf (persistence, its location, include_dir conf.d),
    # with the test's own paths and port, and the shipped snippet installed into its conf.d
    confd = str(tmp_path / "conf.d")
    installed = install_snippet(confd)
    with open(installed) as a, open(SNIPPET) as b:
        assert a.read() == b.read()
    with Mosquitto(extra_config="include_dir %s" % confd) as b:
        b.confd = confd
        yield b


@pytest.mark.peers
def test_snippet_keeps_a_3000_alert_burst_for_an_offline_gateway(tmp_path, debian_like):
    assert drain_offline_burst(tmp_path, debian_like) == BURST


@pytest.mark.peers
def test_default_broker_drops_most_of_that_burst(tmp_path):
    # the same run on Mosquitto's defaults: what the snippet is for
    with Mosquitto() as broker:
        got = drain_offline_burst(tmp_path, broker)
        assert got == 1000, got                 # max_queued_messages' default: 2,000 dropped
        assert "Outgoing messages are being dropped for client gw-burst" in broker.log()


@pytest.mark.peers
def test_snippet_keeps_a_3000_alert_burst_while_the_gateway_runs(tmp_path, debian_like):
    gw = Gw(tmp_path, debian_like)
    try:
        publish_burst(debian_like, BURST)
        assert wait_for(lambda: gw.alerts() == BURST, 120), gw.alerts()
    finally:
        gw.close()


def uncomment_listeners(text, port, tls_port, files, passwd, acl):
    # the commented listener blocks, switched on with the test's ports and files
    swap = {
        "#allow_anonymous false": "allow_anonymous false",
        "#password_file /etc/mosquitto/outpost.passwd": "password_file " + passwd,
        "#acl_file /etc/mosquitto/outpost.acl": "acl_file " + acl,
        "#listener 8883": "listener %d 127.0.0.1" % tls_port,
        "#certfile /etc/mosquitto/certs/outpost-broker.crt": "certfile " + files["cert"],
        "#keyfile /etc/mosquitto/certs/outpost-broker.key": "keyfile " + files["key"],
        "#listener 1883": "listener %d 127.0.0.1" % port,
    }
    lines = text.splitlines()
    out = [swap.get(l.strip(), l) for l in lines]
    assert sum(1 for a, b in zip(lines, out) if a != b) == len(swap), "the snippet's listener lines changed"
    return "\n".join(out) + "\n"


class SnippetBroker(Mosquitto):
    # Mosquitto run on the snippet alone, its listener blocks uncommented
    def _write_config(self):
        files = self.ca.write_files(self.dir, self.hostname)
        passwd = os.path.join(self.dir, "outpost.passwd")
        open(passwd, "w").close()
        os.chmod(passwd, 0o600)
        for user, password in self.users.items():
            subprocess.run(["/usr/bin/mosquitto_passwd", "-b", passwd, user, password], check=True,
                           capture_output=True)
        acl = os.path.join(self.dir, "outpost.acl")
        with open(acl, "w") as f:
            f.write("user outpost-gateway\ntopic read outpost/#\n\nuser greenhouse\ntopic write outpost/greenhouse/#\n")
        with open(SNIPPET) as f:
            text = uncomment_listeners(f.read(), self.port, self.tls_port, files, passwd, acl)
        head = ["persistence_location %s/" % self.dir, "log_dest file %s" % self.log_path]
        if os.geteuid() == 0:
            head.append("user root")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(head) + "\n" + text)


@pytest.mark.peers
def test_commented_listeners_work_with_tls_and_passwords(tmp_path):
    users = {"outpost-gateway": "gw-secret", "greenhouse": "board-secret"}
    with SnippetBroker(users=users, tls=True, hostname="127.0.0.1") as b:
        cafile = tmp_path / "ca.pem"
        cafile.write_bytes(b.ca_pem)
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1", "port": b.tls_port, "tls": True,
                                       "ca": str(cafile), "username": "outpost-gateway",
                                       "password": "gw-secret", "client_id": "gw-snippet"})
        ing, spool, _ = ingress_on_a_spool(MqttIngress, cfg, tmp_path)
        try:
            assert wait_for(lambda: ing.subscribed, 60), ing.last_error
            board = client(b, "greenhouse", username="greenhouse", password="board-secret")
            rec = record(device="greenhouse", seq=1)
            board.publish("outpost/greenhouse/alert", json.dumps(rec), qos=1).wait_for_publish(30)
            board.disconnect()
            board.loop_stop()
            assert wait_for(lambda: spool.show(rec["id"]) is not None, 60)
        finally:
            ing.stop()
            spool.close()
        # no password, no entry, on either listener
        for port in (b.port, b.tls_port):
            anon = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="anon",
                               protocol=mqtt.MQTTv5)
            if port == b.tls_port:
                anon.tls_set(ca_certs=str(cafile))
            codes = []
            anon.on_connect = lambda c, u, f, rc, p: codes.append(rc)
            anon.connect(b.host, port)
            anon.loop_start()
            try:
                assert wait_for(lambda: codes, 30)
                assert codes[0].is_failure, codes
            finally:
                anon.loop_stop()


# ---- the warning at start ---------------------------------------------------------------------

def warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "outpost.broker" and r.levelno >= logging.WARNING]


def test_gateway_warns_when_the_local_broker_queue_is_too_small(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="outpost.broker")
    main = tmp_path / "mosquitto.conf"
    confd = tmp_path / "conf.d"
    confd.mkdir()
    main.write_text("persistence true\ninclude_dir %s\n" % confd)
    cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": "localhost", "broker_config": str(main)})
    # Mosquitto's default (1000) is far below spool.max_pending (100000)
    assert check_queue_limit(cfg) == "low"
    w = warnings(caplog)
    assert len(w) == 1 and "1000" in w[0] and "100000" in w[0] and "DROPS" in w[0]
    # with the shipped snippet in conf.d it is enough
    caplog.clear()
    install_snippet(str(confd))
    assert read_mosquitto(str(main))["max_queued_messages"][0] == "100000"
    assert check_queue_limit(cfg) == "ok" and warnings(caplog) == []
    # ...unless spool.max_pending is raised above it
    mqtt = {"enabled": True, "host": "localhost", "broker_config": str(main)}
    cfg = make_cfg(tmp_path, mqtt=mqtt, spool={"max_pending": 500000})   # a checked config is frozen
    assert check_queue_limit(cfg) == "low"
    # a byte limit drops too
    caplog.clear()
    (confd / "zz-local.conf").write_text("max_queued_bytes 1000000\n")
    cfg = make_cfg(tmp_path, mqtt=mqtt, spool={"max_pending": 1000})
    assert check_queue_limit(cfg) == "low" and "max_queued_bytes" in warnings(caplog)[0]


def test_gateway_says_when_it_cannot_check(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="outpost.broker")
    cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": "broker.example.org",
                                   "broker_config": str(tmp_path / "none.conf")})
    assert check_queue_limit(cfg) == "unknown"
    cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": "127.0.0.1",   # local, but its config
                                   "broker_config": str(tmp_path / "none.conf")})  # cannot be read
    assert check_queue_limit(cfg) == "unknown"
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 2 and all(m.startswith("could not check the broker's queue limit") for m in msgs)
    assert "not on this machine" in msgs[0] and "cannot read" in msgs[1]


def test_a_private_broker_on_another_port_is_not_judged_by_the_system_config(tmp_path, caplog):
    # /etc/mosquitto/mosquitto.conf describes the system broker; a gateway on a private broker
    # (its own port, its own limit of 1,000,000) is not warned about the system's 1000
    caplog.set_level(logging.INFO, logger="outpost.broker")
    main = tmp_path / "mosquitto.conf"
    main.write_text("persistence true\n")           # no listener: the system broker on 1883
    mqtt = {"enabled": True, "host": "localhost", "broker_config": str(main)}
    assert check_queue_limit(make_cfg(tmp_path, mqtt=dict(mqtt, port=18830))) == "unknown"
    assert warnings(caplog) == []
    assert "has no listener on mqtt.port 18830 (it listens on 1883)" in caplog.records[-1].getMessage()
    assert check_queue_limit(make_cfg(tmp_path, mqtt=dict(mqtt, port=1883))) == "low"
    # listeners set in conf.d count, every one of them
    confd = tmp_path / "conf.d"
    confd.mkdir()
    main.write_text("include_dir %s\nlistener 1883 127.0.0.1\n" % confd)
    (confd / "lan.conf").write_text("listener 8883\nmax_queued_messages 100000\n")
    assert read_mosquitto(str(main))["listener"][0] == (8883, 1883)
    assert check_queue_limit(make_cfg(tmp_path, mqtt=dict(mqtt, port=8883))) == "ok"
    assert check_queue_limit(make_cfg(tmp_path, mqtt=dict(mqtt, port=18830))) == "unknown"
