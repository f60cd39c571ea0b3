"""A board that finds its config broken at boot, on the real MicroPython unix port with the
tree `make deploy` lays out: it says `config error` over MQTT (retained status and an alert to
the gateway) and by direct mail (STARTTLS + AUTH, in a send wake: the failed boot leaves no
room for TLS), then sleeps with its backoff, in a 128k heap. The config.json is broken after the computer's check, as an older tool or a hand edit
would leave it."""
import json
import os
import sys

from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer
from realboard import RealBoard
from test_board_real import board_config, starttls_auth

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware"))
from mqtt_reader import MqttReader  # noqa: E402


def test_a_rule_typo_is_said_over_mqtt_and_mail_on_real_micropython(tmp_path):
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True) as srv, \
            Mosquitto() as broker:
        reader = MqttReader(broker.host, broker.port)
        try:
            cfg = board_config(smtp=starttls_auth(srv),
                               mqtt={"host": broker.host, "port": broker.port, "timeout": 5})
            with RealBoard(tmp_path, cfg, heapsize="128k") as b:
                path = os.path.join(b.fs, "config.json")
                with open(path) as f:
                    deployed = json.load(f)
                deployed["rules"][0]["sensor"] = "dor"
                with open(path, "w") as f:
                    json.dump(deployed, f)
                b.start()
                b.wait_for("CONFIG ERROR: rules[0].sensor: no sensor gives 'dor'", timeout=30)
                b.wait_for("config error: next report in 600 s", timeout=60)
                rec = json.loads(reader.wait_for("outpost/unix1/alert", 1)[0][1])
                assert rec["kind"] == "config-error" and rec["severity"] == "critical"
                assert reader.wait_for("outpost/unix1/status", 2)[-1][1] == b"config error"
                m = srv.wait_for(1)[0].parsed()
                assert m["Subject"].startswith("unix1: config error: rules[0].sensor")
                # at 128k the mail goes in a send wake (a fresh heap for TLS); the round resumes
                # after it (MQTT told again: same id, the gateway keeps one) and mails no more
                assert b.count("goes in a send wake of its own") == 1
                assert b.count("config error: told over smtp") == 1 and len(srv.messages) == 1
                assert b.count("config error: told over mqtt") >= 1
                assert b.count("MemoryError") == 0 and b.count("Traceback") == 0
        finally:
            reader.close()
