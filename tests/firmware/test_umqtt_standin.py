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


@pytest.fixture
def tls_broker():
    with Mosquitto(tls=True) as b:
        yield b


def test_tls_with_an_ssl_context_like_umqtt_simple_1_4(simple, tls_broker):
    # umqtt.simple >= 1.4: ssl= an SSLContext, wrapped with server_hostname=server
    from peers.certs import TestCA
    reader = MqttReader(tls_broker.host, tls_broker.port, "t/#")
    try:
        good = tls_broker.ca.client_context()
        c = simple.MQTTClient("board-8", "localhost", tls_broker.tls_port, ssl=good)
        assert c.connect(timeout=10) == 0
        assert c.sock.version() is not None      # a TLS socket
        c.publish("t/tls", b"over TLS", False, 1)
        c.disconnect()
        assert reader.wait_for("t/tls", 1)[0][1] == b"over TLS"
        # a context that does not trust the broker's CA: the handshake fails, nothing is sent
        bad = TestCA().client_context()
        c = simple.MQTTClient("board-9", "localhost", tls_broker.tls_port, ssl=bad)
        with pytest.raises(OSError):   # ssl.SSLCertVerificationError
            c.connect(timeout=10)
        # the old keyword is refused, as by the real 1.4
        with pytest.raises(TypeError):
            simple.MQTTClient("board-10", "localhost", tls_broker.tls_port, ssl=True,
                              ssl_params={"cadata": tls_broker.ca_pem})
    finally:
        reader.close()
    assert "board-9" not in tls_broker.log()


def test_tls_with_legacy_ssl_params(simple, tls_broker):
    # umqtt.simple before 1.4: ssl=True, ssl_params for MicroPython's ssl.wrap_socket, whose
    # cadata is one DER certificate
    import ssl
    from peers.certs import TestCA
    simple.LEGACY = True
    der = ssl.PEM_cert_to_DER_cert(tls_broker.ca_pem.decode())
    params = {"server_hostname": "localhost", "cert_reqs": 2, "cadata": der}
    c = simple.MQTTClient("board-11", tls_broker.host, tls_broker.tls_port, ssl=True, ssl_params=params)
    assert c.connect(timeout=10) == 0
    c.publish("t/legacy", b"x", False, 1)
    c.disconnect()
    wrong = dict(params, cadata=ssl.PEM_cert_to_DER_cert(TestCA().ca_pem.decode()))
    c = simple.MQTTClient("board-12", tls_broker.host, tls_broker.tls_port, ssl=True, ssl_params=wrong)
    with pytest.raises(OSError):
        c.connect(timeout=10)
    misnamed = dict(params, server_hostname="gateway.example")
    c = simple.MQTTClient("board-13", tls_broker.host, tls_broker.tls_port, ssl=True, ssl_params=misnamed)
    with pytest.raises(OSError):
        c.connect(timeout=10)


@pytest.mark.parametrize("pem", [bytes, str], ids=["pem-bytes", "pem-str"])
def test_legacy_ssl_params_refuse_pem_like_micropython(simple, tls_broker, pem):
    # MicroPython's mbedTLS refuses PEM there with ValueError('invalid cert'): the stand-in
    # must too, or a firmware handing it PEM passes here and never connects on a board
    simple.LEGACY = True
    ca = tls_broker.ca_pem if pem is bytes else tls_broker.ca_pem.decode()
    params = {"server_hostname": "localhost", "cert_reqs": 2, "cadata": ca}
    c = simple.MQTTClient("board-15", tls_broker.host, tls_broker.tls_port, ssl=True, ssl_params=params)
    with pytest.raises(ValueError, match="invalid cert"):
        c.connect(timeout=10)
    assert "board-15" not in tls_broker.log()


def test_check_msg_leaves_the_socket_blocking_like_the_original(simple, broker):
    # the firmware must set a timeout before each blocking call; the stand-in must not hide that
    c = simple.MQTTClient("board-14", broker.host, broker.port, keepalive=30)
    c.connect(timeout=5)
    assert c.sock.gettimeout() == 5
    assert c.check_msg() is None
    assert c.sock.gettimeout() is None
    c.ping()
    c.sock.settimeout(5)
    assert c.wait_msg() is None       # the PINGRESP
    c.disconnect()
