"""tests/peers/mosquitto.py: a real broker, restartable on the same port with its persistence."""
import ssl
import threading

import paho.mqtt.client as mqtt
import pytest

from peers.mosquitto import Mosquitto

pytestmark = pytest.mark.peers


class Client:
    """A paho client whose callbacks set events, so tests wait on events, not sleeps."""

    def __init__(self, client_id, clean=True, user=None, password=None):
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
        if user:
            self.c.username_pw_set(user, password)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.got = []
        self.message = threading.Event()
        self.reason = None
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda c, u, mid, codes, props: self.subscribed.set()
        self.c.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.reason = reason_code
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        self.got.append((msg.topic, msg.payload))
        self.message.set()

    def connect(self, host, port):
        self.c.connect(host, port, keepalive=30)
        self.c.loop_start()
        assert self.connected.wait(10), "no CONNACK"
        return self

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def test_publish_round_trip():
    with Mosquitto() as broker:
        sub = Client("sub").connect(broker.host, broker.port)
        sub.c.subscribe("outpost/dev1/alert", qos=1)
        assert sub.subscribed.wait(10)
        pub = Client("pub").connect(broker.host, broker.port)
        pub.c.publish("outpost/dev1/alert", b'{"v":1}', qos=1).wait_for_publish(10)
        assert sub.message.wait(10)
        assert sub.got == [("outpost/dev1/alert", b'{"v":1}')]
        pub.close()
        sub.close()


def test_persistent_session_survives_a_broker_restart_on_the_same_port():
    with Mosquitto() as broker:
        port = broker.port
        sub = Client("gateway", clean=False).connect(broker.host, port)
        sub.c.subscribe("outpost/+/alert", qos=1)
        assert sub.subscribed.wait(10)
        sub.close()                                   # offline: the broker queues for it
        pub = Client("board").connect(broker.host, port)
        pub.c.publish("outpost/b1/alert", b"queued", qos=1).wait_for_publish(10)
        pub.close()

        broker.stop()
        assert not broker.running
        broker.start()
        assert broker.port == port

        again = Client("gateway", clean=False).connect(broker.host, port)
        assert again.message.wait(10), broker.log()
        assert again.got == [("outpost/b1/alert", b"queued")]
        again.close()


def test_password_file_refuses_wrong_credentials():
    with Mosquitto(users={"gw": "right"}) as broker:
        good = Client("good", user="gw", password="right").connect(broker.host, broker.port)
        assert good.reason == 0
        good.close()
        bad = Client("bad", user="gw", password="wrong").connect(broker.host, broker.port)
        assert bad.reason != 0
        bad.close()


def test_tls_listener_verified_with_the_test_ca():
    with Mosquitto(tls=True) as broker:
        c = Client("tls")
        c.c.tls_set_context(ssl.create_default_context(cadata=broker.ca_pem.decode("ascii")))
        c.connect("localhost", broker.tls_port)
        assert c.reason == 0
        c.close()
