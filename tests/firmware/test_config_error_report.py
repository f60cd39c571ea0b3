"""A board that finds its config broken at boot does not fall silent (firmware/outpost/cfgerror.py):
it says `config error` over every path it can reach, against real peers (Mosquitto, a TLS mail
server, a serial gateway on a pty), then sleeps with a long backoff and says it again, mailing
once. A path whose own sections are broken is not tried."""
import json

import pytest

from emu_fixtures import base_config, emu  # noqa: F401 (fixture)
from mqtt_reader import MqttReader
from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer
from serial_gateway import SerialGateway

pytestmark = pytest.mark.peers


def test_a_rule_typo_is_told_over_mqtt_serial_and_smtp_then_backoff(emu):  # noqa: F811
    with MailServer(tls="implicit") as srv, Mosquitto() as broker, SerialGateway() as gw:
        reader = MqttReader(broker.host, broker.port)
        try:
            cfg = base_config(mail=srv, mqtt=broker, serial=gw)
            cfg["rules"] = [{"sensor": "freezer.temprature", "above": -12}]
            board = emu(cfg, {"freezer.temperature": -18.0}, uart_urls={1: gw.url})
            board.run(60)
            got = reader.wait_for("outpost/shed/alert", 1)
            rec = json.loads(got[0][1])
            assert rec["kind"] == "config-error" and rec["severity"] == "critical"
            assert "rules[0].sensor: no sensor gives 'freezer.temprature'" in rec["subject"]
            status = reader.wait_for("outpost/shed/status", 2)
            assert status[-1][1] == b"config error"
            gw.wait_frames(1)
            assert gw.records[0]["id"] == rec["id"] and gw.records[0]["kind"] == "config-error"
            m = srv.wait_for(1)[0].parsed()
            assert m["Subject"].startswith("shed: config error: rules[0].sensor")
            assert m["Message-ID"] == "<%s@example.org>" % rec["id"]
            assert any("config error: next report in 600 s" in l for l in board.lines)
            # 10 min later it says it again (same id: the gateway drops the copy), mails no more
            board.run(660)
            # the broker's delivery to the test's reader is its own thread: waited for, not read
            again = reader.wait_for("outpost/shed/alert", 2)
            assert len(again) == 2 and json.loads(again[1][1])["id"] == rec["id"]
            assert len(srv.messages) == 1
            assert any("config error: next report in 1200 s" in l for l in board.lines)
            assert board.boots == 1          # no reset loop
        finally:
            reader.close()


def test_a_broken_mqtt_section_is_not_used_but_serial_is(emu):  # noqa: F811
    with SerialGateway() as gw:
        cfg = base_config(serial=gw, order=("mqtt", "serial"))
        cfg["mqtt"] = {"host": "127.0.0.1", "prot": 1883}
        board = emu(cfg, {"freezer.temperature": -18.0}, uart_urls={1: gw.url})
        board.run(60)
        gw.wait_frames(1)
        assert "mqtt.prot: unknown key" in gw.records[0]["subject"]
        assert any(l.startswith("CONFIG ERROR: mqtt.prot") for l in board.lines)
        assert not any("config error: mqtt" in l for l in board.lines)
