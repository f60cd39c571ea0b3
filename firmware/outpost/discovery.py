# Home Assistant MQTT discovery: one retained config per reading, so a board appears in Home
# Assistant with its sensors and its online/offline status, without any YAML. Loaded only when
# mqtt.discovery is on, at connect, and unloaded after (see mqtt_connect._announce).
#
# Each config follows Home Assistant's MQTT discovery schema: `unique_id`, `state_topic` and a
# `value_template` reading this sensor's key from the board's state JSON, the unit and device
# class, `availability` from the board's status topic (its Last Will), and the `device` they
# all belong to.
import json

# (unit, reading suffix or None) -> Home Assistant device class
_CLASSES = (("°C", None, "temperature"), ("°F", None, "temperature"), ("K", None, "temperature"),
            ("hPa", None, "atmospheric_pressure"), ("V", None, "voltage"),
            ("%", ".humidity", "humidity"))


def object_id(text):
    # discovery topics and ids allow [A-Za-z0-9_-]: "freezer.temperature" -> "freezer_temperature"
    out = ""
    for c in text:
        out += c if (c.isalpha() or c.isdigit() or c in "_-") and ord(c) < 128 else "_"
    return out


def device_class(name, unit):
    for u, suffix, cls in _CLASSES:
        if unit == u and (suffix is None or name.endswith(suffix)):
            return cls
    return None


def configs(device, catalog, prefix, status_topic, state_topic):
    """(topic, payload bytes) for each reading in catalog [(name, unit, label)], then one for
    the board's connectivity. A generator: one config in memory at a time."""
    dev = {"identifiers": ["outpost_" + object_id(device)], "name": device,
           "manufacturer": "Outpost", "model": "Outpost sensor board"}
    avail = [{"topic": status_topic, "payload_available": "online",
              "payload_not_available": "offline"}]
    for name, unit, label in catalog:
        uid = object_id(device) + "_" + object_id(name)
        c = {"name": label or name, "unique_id": uid,
             "state_topic": state_topic,
             "value_template": "{{ value_json['" + name + "'] }}",
             "availability": avail, "device": dev}
        if unit:
            c["unit_of_measurement"] = unit
            c["state_class"] = "measurement"
        cls = device_class(name, unit)
        if cls:
            c["device_class"] = cls
        yield prefix + "/sensor/" + uid + "/config", json.dumps(c).encode()
    uid = object_id(device) + "_status"
    c = {"name": "online", "unique_id": uid, "state_topic": status_topic,
         "payload_on": "online", "payload_off": "offline", "device_class": "connectivity",
         "entity_category": "diagnostic", "device": dev}
    yield prefix + "/binary_sensor/" + uid + "/config", json.dumps(c).encode()
