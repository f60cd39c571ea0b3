# lane: micropython
# Home Assistant discovery configs as the board makes them (the same on both runtimes); the
# real-broker test with HA's schema is tests/firmware/test_board_mqtt_state.py.
import json

from outpost import discovery


def test_configs_one_per_reading_then_connectivity():
    cat = [("freezer.temperature", "°C", None), ("door", "", "Freezer door"), ("battery", "V", None),
           ("shed.humidity", "%", None), ("x.pressure", "hPa", None), ("level", "%", None)]
    out = list(discovery.configs("freezer-shed", cat, "homeassistant", "outpost/freezer-shed/status",
                                 "outpost/freezer-shed/state"))
    topics = [t for t, _ in out]
    assert topics == ["homeassistant/sensor/freezer-shed_freezer_temperature/config",
                      "homeassistant/sensor/freezer-shed_door/config",
                      "homeassistant/sensor/freezer-shed_battery/config",
                      "homeassistant/sensor/freezer-shed_shed_humidity/config",
                      "homeassistant/sensor/freezer-shed_x_pressure/config",
                      "homeassistant/sensor/freezer-shed_level/config",
                      "homeassistant/binary_sensor/freezer-shed_status/config"]
    c = [json.loads(p) for _, p in out]
    assert c[0]["value_template"] == "{{ value_json['freezer.temperature'] }}"
    assert (c[0]["device_class"], c[0]["unit_of_measurement"]) == ("temperature", "°C")
    assert c[1]["name"] == "Freezer door" and "unit_of_measurement" not in c[1]
    assert [x.get("device_class") for x in c[2:6]] == ["voltage", "humidity", "atmospheric_pressure", None]
    assert c[6]["device_class"] == "connectivity" and c[6]["payload_off"] == "offline"
    assert all(x["device"] == c[0]["device"] for x in c)
    assert c[0]["device"]["identifiers"] == ["outpost_freezer-shed"]


def test_object_ids_keep_to_the_allowed_characters():
    assert discovery.object_id("a.b c/d+e#f") == "a_b_c_d_e_f"
    assert discovery.object_id("Ok_-9") == "Ok_-9"
    assert discovery.object_id("t°") == "t_"
