# A config for laying out the unix board in bench/board_heap.py (module sizes; the wakes use their own).
CONFIG = {
    "device": "unix1",
    "wifi": {"ssid": "host", "password": "x"},
    "sensors": [{"name": "door", "type": "digital", "pin": 27}],
    "rules": [{"sensor": "door", "above": 0.5, "cooldown": 600, "severity": "critical"}],
    "smtp": {"host": "127.0.0.1", "port": 1, "mode": "plain"},
    "mail": {"sender": "b@example.org", "to": ["me@example.org"]},
    "sample_every": 2,
    "report": {"at": ""},
    "watchdog": 90,
}
