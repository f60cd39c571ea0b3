"""MQTT over TLS on the real runtime: the unchanged firmware on the MicroPython unix port (mbedTLS),
laid out as `make deploy` lays it out, against a real Mosquitto TLS listener with trustme
certificates. Each scenario runs on both umqtt.simple TLS APIs: `ssl_params` (1.3.4, handed to
ssl.wrap_socket, which takes the CA as DER only) and `ssl=` an SSLContext (1.4 and later)."""
import os
import signal
import sys

import pytest

from peers.certs import TestCA
from peers.mosquitto import Mosquitto
from realboard import RealBoard
from test_board_real import board_config, door_open

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware"))
from mqtt_reader import MqttReader  # noqa: E402

APIS = ["ssl_params", "ssl"]
ALERT = "outpost/unix1/alert"


def tls_cfg(broker, **over):
    mq = {"host": broker.host, "port": broker.tls_port, "tls": True, "ca": broker.ca_pem.decode(),
          "server_hostname": "localhost", "timeout": 3, "keepalive": 30}
    mq.update(over)
    cfg = board_config(mqtt=mq, order=("mqtt",))
    # a short budget lets the watchdog be short too: a handshake with no bound would bite it
    cfg["transport"]["budget"] = 10
    cfg["watchdog"] = 20
    return cfg


def board_clients(broker):
    # Mosquitto logs "New client connected from <addr> ... as unix1 (...)" after CONNECT
    return [l for l in broker.log().splitlines() if " as unix1 (" in l]


@pytest.fixture
def tls_broker():
    with Mosquitto(tls=True) as broker:
        yield broker


@pytest.mark.parametrize("api", APIS)
def test_alert_delivered_over_tls_at_qos1(tmp_path, tls_broker, api):
    reader = MqttReader(tls_broker.host, tls_broker.port)
    try:
        with RealBoard(tmp_path, tls_cfg(tls_broker), umqtt=api) as b:
            door_open(b)
            b.start()
            b.wait_for("sent unix1-1-1 via mqtt", timeout=60)
            msgs = reader.wait_for(ALERT, 1)
            assert b.count("mqtt: connected to 127.0.0.1:%d (TLS)" % tls_broker.tls_port) == 1
            assert b.count("path mqtt") == 0 and b.count("WDT: bit") == 0
    finally:
        reader.close()
    import json
    assert json.loads(msgs[0][1])["id"] == "unix1-1-1"
    # PUBACK'd: the board marked it done, and the broker saw this client over TLS only
    assert len(board_clients(tls_broker)) == 1


@pytest.mark.parametrize("api", APIS)
def test_broker_stopped_before_the_handshake_is_given_up_in_time(tmp_path, tls_broker, api):
    # SIGSTOP: the kernel still completes the TCP connect from the listen backlog, but the
    # broker never answers the ClientHello. The handshake must end at mqtt.timeout, not hang
    # until the watchdog resets the board; the alert stays in the outbox and goes when the
    # broker is back.
    os.kill(tls_broker.proc.pid, signal.SIGSTOP)
    stopped = True
    try:
        with RealBoard(tmp_path, tls_cfg(tls_broker), umqtt=api) as b:
            door_open(b)
            b.start()
            i = b.wait_for("kept unix1-1-1 in the outbox", timeout=30)
            reason = b.lines[i]
            assert "mqtt:" in reason and ("110" in reason or "timed out" in reason.lower()), reason
            assert b.proc.poll() is None, "the board reset"
            os.kill(tls_broker.proc.pid, signal.SIGCONT)
            stopped = False
            b.wait_for("sent unix1-1-1 via mqtt", timeout=60, start=i)
            assert b.count("WDT: bit") == 0 and b.exits == []
    finally:
        if stopped:
            os.kill(tls_broker.proc.pid, signal.SIGCONT)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("wrong", ["ca", "server_hostname"])
def test_wrong_ca_or_name_is_refused(tmp_path, tls_broker, api, wrong):
    over = {"ca": TestCA().ca_pem.decode()} if wrong == "ca" else {"server_hostname": "gateway.example"}
    with RealBoard(tmp_path, tls_cfg(tls_broker, **over), umqtt=api) as b:
        door_open(b)
        b.start()
        i = b.wait_for("kept unix1-1-1 in the outbox", timeout=30)
        # mbedTLS names the failed check (the CA, or the certificate's name)
        assert "mqtt:" in b.lines[i] and "invalid cert" not in b.lines[i], b.lines[i]
        assert "CERT" in b.lines[i].upper() or "VERIFY" in b.lines[i].upper(), b.lines[i]
        assert b.count("sent unix1-1-1") == 0
    assert board_clients(tls_broker) == []      # never got as far as MQTT CONNECT
