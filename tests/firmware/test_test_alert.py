"""`python3 boards/emulated/run.py --config FILE --test-alert` end to end against real peers:
a STARTTLS mail server that requires AUTH (aiosmtpd, test CA), Mosquitto, and a serial gateway
on a pty. One test alert per configured path, each path's result and the SMTP dialogue printed,
the password never shown, a failing path reported and the next one still tried."""
import json
import os
import subprocess
import sys

import pytest

from emu_fixtures import EMU
from mqtt_reader import MqttReader
from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer
from serial_gateway import SerialGateway

pytestmark = pytest.mark.peers
PASSWORD = "s3cret-Pa55"


def write_config(tmp_path, cfg):
    path = tmp_path / "config_local.py"
    path.write_text("CONFIG = " + repr(cfg) + "\n")
    return str(path)


def run_test_alert(tmp_path, cfg, uart=None):
    args = [sys.executable, os.path.join(EMU, "run.py"), "--config", write_config(tmp_path, cfg),
            "--flash", str(tmp_path / "flash"), "--test-alert"]
    if uart:
        args += ["--uart", "1=" + uart]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, cwd=str(tmp_path))


def config(srv=None, broker=None, serial=False, password=PASSWORD):
    cfg = {"device": "freezer-shed", "wifi": {"ssid": "lab", "password": "wifi-secret"},
           "mail": {"sender": "shed@example.org", "to": ["me@example.org"]}, "report": {"at": ""},
           "transport": {"order": ["smtp", "mqtt", "serial"], "budget": 60}}
    if srv is not None:
        cfg["smtp"] = {"host": "127.0.0.1", "port": srv.port, "mode": "starttls", "username": "board",
                       "password": password, "ca": srv.ca_pem.decode(), "server_hostname": "localhost",
                       "timeout": 10}
    if broker is not None:
        cfg["mqtt"] = {"host": broker.host, "port": broker.port, "timeout": 5, "password": "mq-secret",
                       "username": "board"}
    if serial:
        cfg["serial"] = {"uart": 1, "timeout": 5}
    return cfg


def test_every_path_gets_one_test_alert(tmp_path):
    with MailServer(tls="starttls", auth_users={"board": PASSWORD}, auth_required=True) as srv, \
            Mosquitto() as broker, SerialGateway() as gw:
        reader = MqttReader(broker.host, broker.port)
        try:
            p = run_test_alert(tmp_path, config(srv, broker, serial=True), gw.url)
            out = p.stdout
            assert p.returncode == 0, out + p.stderr
            # one line per path, in order, each with its result
            results = [l for l in out.splitlines() if l.split(":")[0] in ("smtp", "mqtt", "serial")
                       and (": SENT" in l or ": FAILED" in l)]
            assert [r.split(":")[0] for r in results] == ["smtp", "mqtt", "serial"]
            assert all(": SENT in " in r for r in results)
            assert "test-alert: done: 3 of 3 configured path(s) sent" in out
            # the SMTP dialogue, with AUTH redacted and no secret anywhere in the output
            assert "    C: STARTTLS" in out and "    S: 220" in out
            assert "    C: AUTH PLAIN <redacted>" in out.splitlines()
            assert "    C: QUIT" in out or "    S: 250" in out
            for secret in (PASSWORD, "mq-secret", "wifi-secret"):
                assert secret not in out and secret not in p.stderr
            # what each peer got: three test alerts with new ids
            m = srv.wait_for(1)[0].parsed()
            assert m["Subject"] == "freezer-shed: test alert via smtp"
            assert m["X-Outpost-Kind"] == "test"
            got = reader.wait_for("outpost/freezer-shed/alert", 1)
            rec = json.loads(got[0][1])
            assert (rec["kind"], rec["subject"], rec["id"]) == ("test", "test alert via mqtt", "freezer-shed-1-2")
            gw.wait_frames(1)
            assert [(r["kind"], r["id"]) for r in gw.records] == [("test", "freezer-shed-1-3")]
        finally:
            reader.close()
    # a second run takes new ids (a fresh boot number): a gateway would not drop them as dups
    p = run_test_alert(tmp_path, config())
    assert "test-alert: no path is configured" in p.stdout and p.returncode == 1


def test_a_failing_path_is_reported_and_the_next_one_tried(tmp_path):
    with MailServer(tls="starttls", auth_users={"board": PASSWORD}, auth_required=True) as srv, \
            Mosquitto() as broker:
        reader = MqttReader(broker.host, broker.port)
        try:
            p = run_test_alert(tmp_path, config(srv, broker, password="wrong-" + PASSWORD))
            out = p.stdout
            assert p.returncode == 1
            line = [l for l in out.splitlines() if l.startswith("smtp: FAILED")]
            assert line and "AUTH" in line[0], out
            assert any(l.startswith("    S: 535") for l in out.splitlines()), out
            assert "mqtt: SENT in " in out
            assert "serial: not configured (serial.uart is -1)" in out
            assert "test-alert: done: 1 of 2 configured path(s) sent" in out
            assert PASSWORD not in out
            assert srv.messages == []
            reader.wait_for("outpost/freezer-shed/alert", 1)
        finally:
            reader.close()
