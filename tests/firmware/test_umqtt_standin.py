"""The emulated board's umqtt.simple stand-in against a real Mosquitto, read back with paho-mqtt:
the same API and behaviour the firmware relies on from MicroPython's umqtt.simple."""
import sys
import time

import pytest

from emu_fixtures import EMU
from mqtt_reader import MqttReader
from peers.mosquitto import Mosquitto


@pytest.fixture
def simple():
    sys.path.insert(0, EMU)
    import umqtt.simple
    yield umqtt.simple
    sys.path.remove(EMU)
    for name in list(sys.modules):
        if name.split(".")[0] in ("umqtt", "emulator"):
            del sys.modules[name]


@pytest.fixture
def broker():
    with Mosquitto() as b:
        yield b


def test_qos1_publish_returns_after_puback_and_arrives(simple, broker):
    reader = MqttReader(broker.host, broker.port, "t/#")
    try:
        c = simple.MQTTClient("board-1", broker.host, broker.port, keepalive=30)
        assert c.connect() == 0
        c.publish(b"t/alert", b'{"id":"x-1-1"}', False, 1)
        c.publish("t/status", "online", True, 0)
        c.disconnect()
        got = reader.wait_for("t/alert", 1)
        assert got[0][1] == b'{"id":"x-1-1"}'
        assert reader.wait_for("t/status", 1)[0][1] == b"online"
    finally:
        reader.close()


def test_large_message_uses_multibyte_length(simple, broker):
    reader = MqttReader(broker.host, broker.port, "t/#")
    try:
        c = simple.MQTTClient("board-2", broker.host, broker.port)
        c.connect()
        body = b"x" * 20000
        c.publish("t/big", body, qos=1)
        c.disconnect()
        assert reader.wait_for("t/big", 1)[0][1] == body
    finally:
        reader.close()


def test_subscribe_and_check_msg(simple, broker):
    got = []
    c = simple.MQTTClient("board-3", broker.host, broker.port)
    c.set_callback(lambda topic, msg: got.append((topic, msg)))
    c.connect()
    c.subscribe(b"cmd/#", 1)
    assert c.check_msg() is None        # nothing yet: returns at once
    import paho.mqtt.publish as publish
    publish.single("cmd/led", b"on", qos=1, hostname=broker.host, port=broker.port)
    end = time.monotonic() + 10
    while not got and time.monotonic() < end:
        c.check_msg()
        time.sleep(0.01)
    c.disconnect()
    assert got == [(b"cmd/led", b"on")]


def test_last_will_published_when_connection_drops(simple, broker):
    reader = MqttReader(broker.host, broker.port, "outpost/#")
    try:
        c = simple.MQTTClient("board-4", broker.host, broker.port, keepalive=10)
        c.set_last_will("outpost/b4/status", b"offline", True, 1)
        c.connect()
        c.sock.close()                  # power lost: no DISCONNECT
        got = reader.wait_for("outpost/b4/status", 1)
        assert got[0][1] == b"offline"
    finally:
        reader.close()


def test_refused_credentials_raise_mqtt_exception(simple):
    with Mosquitto(users={"gw": "right"}) as b:
        c = simple.MQTTClient("board-5", b.host, b.port, user="gw", password="wrong")
        with pytest.raises(simple.MQTTException) as ei:
            c.connect()
        assert ei.value.args[0] == 5   # not authorised
        ok = simple.MQTTClient("board-6", b.host, b.port, user="gw", password="right")
        assert ok.connect() == 0
        ok.disconnect()


def test_broker_gone_is_an_oserror(simple, broker):
    port = broker.port
    broker.stop()
    c = simple.MQTTClient("board-7", "127.0.0.1", port)
    with pytest.raises(OSError):
        c.connect(timeout=5)
