"""The test's side of the broker: a paho-mqtt subscriber that collects what the board publishes."""
import threading
import time

import paho.mqtt.client as mqtt


class MqttReader:
    def __init__(self, host, port, topic="outpost/#"):
        self.messages = []   # (topic, payload bytes, retain)
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="test-reader")
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: self._subscribed.set()
        self.c.on_message = self._on_message
        self.c.connect(host, port)
        self.c.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("test reader could not subscribe")

    def _on_message(self, c, u, msg):
        with self._cond:
            self.messages.append((msg.topic, msg.payload, msg.retain))
            self._cond.notify_all()

    def on(self, topic):
        with self._cond:
            return [m for m in self.messages if m[0] == topic]

    def wait_for(self, topic, n, timeout=10):
        end = time.monotonic() + timeout
        with self._cond:
            while len([m for m in self.messages if m[0] == topic]) < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("%d of %d messages on %s" % (
                        len([m for m in self.messages if m[0] == topic]), n, topic))
                self._cond.wait(left)
            return [m for m in self.messages if m[0] == topic]

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()
