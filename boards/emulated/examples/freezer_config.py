# A config for trying the emulated board with no servers: alerts wait in the outbox on the
# emulated flash. Point smtp/mqtt at real servers (see firmware/config_example.py) to send them.
CONFIG = {
    "device": "demo-freezer",
    "wifi": {"ssid": "emulated-ap", "password": "x"},
    "sensors": [
        {"name": "freezer", "type": "bme280", "scl": 22, "sda": 21, "addr": 0x76},
        {"name": "door", "type": "digital", "pin": 27, "pull": "up", "on_text": "open",
         "off_text": "closed"},
        {"name": "battery", "type": "adc", "pin": 34, "r1": 100000, "r2": 100000},
    ],
    "rules": [
        {"sensor": "freezer.temperature", "above": -12, "hysteresis": 1.0, "cooldown": 1800,
         "severity": "critical"},
        {"sensor": "door", "above": 0.5, "cooldown": 600},
        {"sensor": "battery", "below": 3.4, "hysteresis": 0.1, "cooldown": 86400, "severity": "info"},
        {"type": "missing", "sensor": "freezer.temperature", "after": 120},
    ],
    "report": {"at": "07:00"},
    "transport": {"order": ["smtp", "mqtt", "serial"], "budget": 30},
}
