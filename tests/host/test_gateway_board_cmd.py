# `outpost-gateway board add|remove|list` against a real Mosquitto run with the shipped snippet's
# step 1 (no anonymous clients, the password file and the ACL the command keeps): board A cannot
# publish as board B nor read the alerts topic; a board added while the broker runs (SIGHUP)
# gets its alert through to the gateway; a removed board is refused; anonymous clients are too.
import io
import json
import os
import re
import stat
import subprocess

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from gateway_helpers import ROOT, base_data, record, wait_for, write_toml
from outpost_gateway import broker_admin, cli, config
from outpost_gateway.clock import SystemClock
from outpost_gateway.ingest import Ingest
from outpost_gateway.metrics import Metrics
from outpost_gateway.mqtt_ingress import MqttIngress
from outpost_gateway.spool import Spool
from peers.mosquitto import Mosquitto

SNIPPET = os.path.join(ROOT, "host", "mosquitto", "outpost.conf")


def step1_lines(passwd, acl):
    # the snippet's step 1, uncommented, with the test's files
    with open(SNIPPET) as f:
        text = f.read()
    want = ["#allow_anonymous false", "#password_file /etc/mosquitto/outpost.passwd",
            "#acl_file /etc/mosquitto/outpost.acl"]
    for w in want:
        assert w in text.splitlines(), w
    return ["allow_anonymous false", "password_file " + passwd, "acl_file " + acl]


class LanBroker(Mosquitto):
    def __init__(self, passwd, acl, **kw):
        Mosquitto.__init__(self, **kw)
        self.passwd, self.acl = passwd, acl

    def _write_config(self):
        lines = ["listener %d %s" % (self.port, self.host), "persistence false",
                 "log_dest file %s" % self.log_path, "log_type all"] + step1_lines(self.passwd, self.acl)
        if os.geteuid() == 0:
            lines.append("user root")
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")


def run(argv):
    out = io.StringIO()
    rc = cli.main(argv, out=out)
    return rc, out.getvalue()


def board_login(text):
    # the password from the printed config section
    return re.search(r'"password": "([^"]+)"', text).group(1)


def connect(broker, user, password, cid):
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=cid, protocol=mqtt.MQTTv5)
    if user:
        c.username_pw_set(user, password)
    codes = []
    c.on_connect = lambda cl, u, f, rc, p: codes.append(rc)
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert wait_for(lambda: codes, 20)
    return c, codes[0]


@pytest.mark.peers
def test_board_add_lets_in_only_that_board_under_its_own_topic(tmp_path):
    passwd, acl, pidfile = str(tmp_path / "outpost.passwd"), str(tmp_path / "outpost.acl"), str(tmp_path / "mq.pid")
    data = base_data(tmp_path, mqtt={"username": "outpost-gateway", "password": "gw-secret",
                                     "broker_passwd": passwd, "broker_acl": acl, "broker_pid": pidfile})
    conf = write_toml(tmp_path / "gw.toml", data)
    # the first board before the broker runs: the files are made (with the gateway's login)
    rc, out = run(["board", "add", "alpha", "--host", "gw.lan", "--config", conf])
    assert rc == 0, out
    assert '"host": "gw.lan"' in out and '"port": 1883' in out and '"username": "alpha"' in out
    pw_a = board_login(out)
    assert stat.S_IMODE(os.stat(passwd).st_mode) == 0o600
    users = broker_admin.read_users(passwd)
    assert set(users) == {"alpha", "outpost-gateway"} and all(h.startswith("$7$101$") for h in users.values())
    assert pw_a not in open(passwd).read()
    with LanBroker(passwd, acl) as broker:
        with open(pidfile, "w") as f:
            f.write("%d\n" % broker.proc.pid)
        cfg = config.load(conf)
        m = dict(cfg["mqtt"], enabled=True, host=broker.host, port=broker.port, client_id="gw-acl")
        gcfg = config.merge(dict(data, mqtt={k: v for k, v in m.items() if k not in ("ca_data",)}), env={})
        spool = Spool(str(tmp_path / "s.db"), SystemClock()).open()
        spool.start_writer()
        ing = MqttIngress(gcfg, Ingest(gcfg, spool, Metrics(), SystemClock()))
        ing.start()
        clients = []
        try:
            assert wait_for(lambda: ing.subscribed, 30), ing.last_error
            # a second board, added while the broker runs: Mosquitto reads the files again (SIGHUP)
            rc, out = run(["board", "add", "beta", "--config", conf])
            assert rc == 0
            pw_b = board_login(out)
            beta, code = None, None
            for _ in range(50):     # the reload is asynchronous: the first tries may come too early
                beta, code = connect(broker, "beta", pw_b, "beta")
                clients.append(beta)
                if not code.is_failure:
                    break
                beta.loop_stop()
            assert not code.is_failure, code
            alpha, code = connect(broker, "alpha", pw_a, "alpha")
            clients.append(alpha)
            assert not code.is_failure
            # alpha listens to every alert topic, and tries to pass for beta
            heard = []
            alpha.on_message = lambda c, u, msg: heard.append(msg.topic)
            alpha.subscribe("outpost/+/alert", qos=1)
            fake = record(device="beta", seq=66, subject="forged by alpha")
            alpha.publish("outpost/beta/alert", json.dumps(fake), qos=1).wait_for_publish(10)
            # beta's real alert and alpha's own get through to the gateway
            real = record(device="beta", seq=1, subject="beta is real")
            beta.publish("outpost/beta/alert", json.dumps(real), qos=1).wait_for_publish(10)
            own = record(device="alpha", seq=1)
            alpha.publish("outpost/alpha/alert", json.dumps(own), qos=1).wait_for_publish(10)
            assert wait_for(lambda: spool.show(real["id"]) and spool.show(own["id"]), 30)
            # the gateway got alerts in the order sent: the forged one, sent first, never came
            assert spool.show(fake["id"]) is None
            assert heard == []          # alpha read nothing, not even its own alert
            # anonymous: refused
            anon, code = connect(broker, None, None, "anon")
            clients.append(anon)
            assert code.is_failure
            rc, out = run(["board", "list", "--config", conf])
            assert rc == 0 and "2 boards" in out
            assert re.search(r"^alpha\s+login\s+may publish outpost/alpha/#$", out, re.M), out
            # removed: its login is gone once Mosquitto reloaded
            rc, _ = run(["board", "remove", "beta", "--config", conf])
            assert rc == 0 and "beta" not in broker_admin.read_users(passwd)
            assert "user beta" not in open(acl).read()

            def refused():
                c, code = connect(broker, "beta", pw_b, "beta-again")
                clients.append(c)
                return code.is_failure
            assert wait_for(refused, 20)
            assert run(["board", "remove", "beta", "--config", conf])[0] == 1
        finally:
            for c in clients:
                c.loop_stop()
                c.disconnect()
            ing.stop()
            spool.close()


def test_board_names_and_hashes(tmp_path):
    h = broker_admin.hash_password("pw", salt=b"0123456789ab")
    assert broker_admin.check_password(h, "pw") and not broker_admin.check_password(h, "px")
    # mosquitto_passwd itself accepts what it wrote and we check it the same way
    f = tmp_path / "p"
    subprocess.run(["/usr/bin/mosquitto_passwd", "-b", "-c", str(f), "u", "secret"], check=True, capture_output=True)
    assert broker_admin.check_password(f.read_text().strip().split(":", 1)[1], "secret")
    data = base_data(tmp_path, mqtt={"broker_passwd": str(tmp_path / "pw"), "broker_acl": str(tmp_path / "acl"),
                                     "broker_pid": str(tmp_path / "none.pid")})
    conf = write_toml(tmp_path / "gw.toml", data)
    rc, out = run(["board", "add", "bad/name", "--config", conf])
    assert rc == 1
    rc, out = run(["board", "add", "ok-1", "--tls", "--config", conf])
    assert rc == 0 and '"port": 8883' in out and '"tls": True' in out
    # a fresh install whose upstream is not set up yet can still let boards in; a broken [mqtt] cannot
    data["relay"] = dict(data["relay"], host="")
    conf = write_toml(tmp_path / "gw.toml", data)
    assert run(["board", "add", "ok-2", "--config", conf])[0] == 0
    assert [n for n, _, _ in broker_admin.listing(config.merge(dict(data, relay={"enabled": False}), env={}))] \
        == ["ok-1", "ok-2"]
    data["mqtt"] = dict(data["mqtt"], port="x")
    conf = write_toml(tmp_path / "gw.toml", data)
    assert run(["board", "add", "ok-3", "--config", conf])[0] == 2
