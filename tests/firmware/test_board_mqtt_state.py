"""Readings and Home Assistant discovery over MQTT, the unchanged firmware on the emulated board
against a real Mosquitto: outpost/<device>/state is retained JSON at QoS 0 at most every
mqtt.publish_every seconds; with mqtt.discovery on, a subscriber arriving later finds one
retained config per reading under homeassistant/sensor/<device>_<reading>/config and the
board's connectivity under homeassistant/binary_sensor/, each checked against the schema Home
Assistant documents for MQTT discovery, and each value_template rendered with Jinja2 (what Home
Assistant uses) against the retained state."""
import json
import threading
import time

import jinja2
import paho.mqtt.client as mqtt
import pytest

from emu_fixtures import base_config, emu  # noqa: F401 (fixture)

pytestmark = pytest.mark.peers

STATE = "outpost/shed/state"
STATUS = "outpost/shed/status"

# Home Assistant's MQTT discovery documentation: the topic is
# <discovery_prefix>/<component>/[<node_id>/]<object_id>/config, ids of [a-zA-Z0-9_-]
ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
# MQTT sensor options (documented), and the units each sensor device class accepts
SENSOR_KEYS = {"name", "unique_id", "object_id", "state_topic", "value_template",
               "unit_of_measurement", "device_class", "state_class", "availability",
               "availability_topic", "payload_available", "payload_not_available", "device",
               "expire_after", "force_update", "icon", "entity_category", "json_attributes_topic",
               "suggested_display_precision", "qos", "encoding", "enabled_by_default"}
CLASS_UNITS = {"temperature": {"°C", "°F", "K"}, "humidity": {"%"}, "voltage": {"V", "mV", "µV", "kV", "MV"},
               "atmospheric_pressure": {"cbar", "bar", "hPa", "mmHg", "inHg", "kPa", "mbar", "Pa", "psi"}}
STATE_CLASSES = {"measurement", "total", "total_increasing", "measurement_angle"}
BINARY_KEYS = {"name", "unique_id", "object_id", "state_topic", "payload_on", "payload_off",
               "device_class", "device", "entity_category", "availability", "value_template",
               "expire_after", "icon", "qos", "enabled_by_default"}
DEVICE_KEYS = {"identifiers", "connections", "name", "manufacturer", "model", "sw_version",
               "hw_version", "suggested_area", "via_device", "configuration_url", "serial_number",
               "model_id"}


class Collector:
    """A subscriber that joins later (as Home Assistant does after a restart) and keeps
    topic -> [(payload, retain, qos)]."""

    def __init__(self, broker, topic):
        self.got = {}
        self.cond = threading.Condition()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha-" + str(time.monotonic_ns()))
        ready = threading.Event()
        self.c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.c.on_subscribe = lambda c, u, mid, rcs, p: ready.set()
        self.c.on_message = self._on
        self.c.connect(broker.host, broker.port)
        self.c.loop_start()
        assert ready.wait(10), "collector could not subscribe"

    def _on(self, c, u, msg):
        with self.cond:
            self.got.setdefault(msg.topic, []).append((msg.payload, msg.retain, msg.qos))
            self.cond.notify_all()

    def wait(self, pred, timeout=10):
        end = time.monotonic() + timeout
        with self.cond:
            while not pred(self.got):
                left = end - time.monotonic()
                assert left > 0, "timed out; got %r" % sorted(self.got)
                self.cond.wait(left)
            return dict(self.got)

    def close(self):
        self.c.loop_stop()
        self.c.disconnect()


def config(broker, **mqtt_over):
    cfg = base_config(mqtt=broker, order=("mqtt",))
    cfg["mqtt"].update(mqtt_over)
    cfg["sensors"].append({"name": "door", "type": "digital", "pin": 27, "label": "Freezer door",
                           "on_text": "open", "off_text": "closed"})
    cfg["sensors"].append({"name": "battery", "type": "adc", "pin": 34, "r1": 100000, "r2": 100000})
    return cfg


SCRIPT = {"freezer.temperature": [[0, -18.0], [3600, -17.0]], "freezer.humidity": 40.0,
          "freezer.pressure": 1003.5, "door": 0, "battery": 3.9}


def test_state_is_retained_json_at_qos0_at_most_every_publish_every(emu, broker):
    live = Collector(broker, STATE)
    try:
        board = emu(config(broker, publish_every=300), SCRIPT)
        board.run(3600)
        got = live.wait(lambda g: len(g.get(STATE, [])) >= 10)
        msgs = got[STATE]
        # 30 s samples, one state per 300 s at most: 12 in the hour (13 with the first sample)
        assert 10 <= len(msgs) <= 13, len(msgs)
        assert all(qos == 0 for _, _, qos in msgs)
        last = json.loads(msgs[-1][0])
        assert set(last) == {"freezer.temperature", "freezer.humidity", "freezer.pressure", "door", "battery"}
        assert -18.0 <= last["freezer.temperature"] <= -17.0 and last["door"] == 0
        assert abs(last["battery"] - 3.9) < 0.01
    finally:
        live.close()
    late = Collector(broker, STATE)      # retained: a dashboard arriving now sees the latest
    try:
        got = late.wait(lambda g: STATE in g)
        payload, retain, _ = got[STATE][0]
        assert retain and json.loads(payload) == last
    finally:
        late.close()


def test_publish_every_0_sends_no_state(emu, broker):
    live = Collector(broker, "outpost/#")
    try:
        board = emu(config(broker, publish_every=0, heartbeat=600), SCRIPT)
        board.run(1300)
        live.wait(lambda g: len(g.get("outpost/shed/heartbeat", [])) >= 2)
        assert STATE not in live.got
    finally:
        live.close()


def check_sensor_config(topic, cfg, prefix="homeassistant"):
    parts = topic.split("/")
    assert len(parts) == 4 and parts[0] == prefix and parts[1] == "sensor" and parts[3] == "config", topic
    assert set(parts[2]) <= ID_CHARS, topic
    assert set(cfg) <= SENSOR_KEYS, set(cfg) - SENSOR_KEYS
    for k in ("unique_id", "state_topic", "value_template", "name", "device", "availability"):
        assert isinstance(cfg[k], (str, dict, list)) and cfg[k], k
    assert cfg["unique_id"] == parts[2] and cfg["state_topic"] == STATE
    assert "+" not in cfg["state_topic"] and "#" not in cfg["state_topic"]
    if "device_class" in cfg:
        assert cfg["unit_of_measurement"] in CLASS_UNITS[cfg["device_class"]], cfg
    if "state_class" in cfg:
        assert cfg["state_class"] in STATE_CLASSES
    dev = cfg["device"]
    assert set(dev) <= DEVICE_KEYS and dev["identifiers"] and isinstance(dev["identifiers"], list)
    for a in cfg["availability"]:
        assert a == {"topic": STATUS, "payload_available": "online", "payload_not_available": "offline"}


def test_home_assistant_discovery_configs(emu, broker):
    early = Collector(broker, "homeassistant/#")
    board = emu(config(broker, discovery=True, publish_every=60), SCRIPT)
    board.run(600)
    ha = Collector(broker, "homeassistant/#")
    st = Collector(broker, "outpost/shed/#")
    try:
        got = ha.wait(lambda g: len(g) >= 6)
        sensors = {t: json.loads(v[0][0]) for t, v in got.items() if "/sensor/" in t}
        assert all(v[0][1] for v in got.values()), "every discovery config is retained"
        assert sorted(sensors) == ["homeassistant/sensor/shed_battery/config",
                                   "homeassistant/sensor/shed_door/config",
                                   "homeassistant/sensor/shed_freezer_humidity/config",
                                   "homeassistant/sensor/shed_freezer_pressure/config",
                                   "homeassistant/sensor/shed_freezer_temperature/config"]
        for t, c in sensors.items():
            check_sensor_config(t, c)
        by = {c["unique_id"]: c for c in sensors.values()}
        t = by["shed_freezer_temperature"]
        assert (t["device_class"], t["unit_of_measurement"], t["state_class"]) == ("temperature", "°C", "measurement")
        assert by["shed_freezer_humidity"]["device_class"] == "humidity"
        assert by["shed_freezer_pressure"]["device_class"] == "atmospheric_pressure"
        assert by["shed_battery"]["device_class"] == "voltage"
        assert by["shed_door"]["name"] == "Freezer door" and "device_class" not in by["shed_door"]
        assert len({json.dumps(c["device"], sort_keys=True) for c in sensors.values()}) == 1
        # the board's online/offline status, from its Last Will
        conn = json.loads(got["homeassistant/binary_sensor/shed_status/config"][0][0])
        assert set(conn) <= BINARY_KEYS
        assert (conn["state_topic"], conn["payload_on"], conn["payload_off"], conn["device_class"]) == \
            (STATUS, "online", "offline", "connectivity")
        assert conn["device"] == t["device"]
        # each value_template, rendered as Home Assistant renders it, gives the reading
        states = st.wait(lambda g: STATE in g and STATUS in g)
        assert states[STATUS][-1][0] == b"online"
        value = json.loads(states[STATE][-1][0])
        env = jinja2.Environment()
        for c in sensors.values():
            name = [k for k in value if c["unique_id"] == "shed_" + k.replace(".", "_")][0]
            out = env.from_string(c["value_template"]).render(value_json=value)
            assert out == str(value[name]), (c["value_template"], out)
        # once per boot: the configs are not sent again at every sample (20 of them here)
        seen = early.wait(lambda g: len(g) >= 6)
        assert [len(v) for v in seen.values()] == [1] * 6
    finally:
        ha.close()
        st.close()
        early.close()


def test_no_discovery_unless_asked(emu, broker):
    board = emu(config(broker, publish_every=60), SCRIPT)
    board.run(300)
    st = Collector(broker, "#")
    try:
        st.wait(lambda g: STATE in g)
        assert not [t for t in st.got if t.startswith("homeassistant/")]
    finally:
        st.close()
