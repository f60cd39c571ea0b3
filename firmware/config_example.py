# Copy to config_local.py (git-ignored: it holds secrets) and edit. Only the keys you set here
# override the defaults documented in outpost/config.py; a misspelt key is refused by name.
CONFIG = {
    "device": "freezer-shed",
    "wifi": {"ssid": "my-wifi", "password": "wifi-password"},
    # the mail server: "provider": "gmail" (or outlook, outlook.com, fastmail, icloud) fills in
    # host, port and mode; boards/README.md says what each provider needs (app passwords)
    "smtp": {
        "host": "smtp.example.org",
        "port": 465,
        "mode": "tls",                   # tls (465) | starttls (587) | opportunistic | plain
        "username": "freezer-shed@example.org",
        "password": "app-password",
        # the CA that signed the mail server's certificate: PEM text pasted here, or a file
        # name: `make ca HOST=smtp.example.org PORT=465` writes firmware/ca.pem, then "ca.pem"
        # (read beside this file when make deploy checks it, and copied to the board)
        "ca": """-----BEGIN CERTIFICATE-----
...paste the PEM here...
-----END CERTIFICATE-----
""",
    },
    "mail": {"sender": "freezer-shed@example.org", "to": ["me@example.org"]},
    # the gateway (Raspberry Pi) for when the mail server cannot be reached; the board keeps one
    # connection open (Last Will "offline" on outpost/<device>/status)
    "mqtt": {"host": "192.168.1.20", "port": 1883},
    # or over TLS (port 0 = 8883), the broker certificate checked against this CA and name:
    # "mqtt": {"host": "192.168.1.20", "tls": True, "server_hostname": "gateway.lan",
    #          "ca": """-----BEGIN CERTIFICATE-----
    # ...
    # -----END CERTIFICATE-----
    # """},
    # readings for a live view: retained JSON on outpost/<device>/state every publish_every s
    # (default 60; 0: none); "discovery": True adds Home Assistant MQTT discovery, so the board
    # and its sensors appear in Home Assistant without YAML. Set them in the "mqtt" dict above.
    "serial": {"uart": 2, "tx": 17, "rx": 16},   # ESP32-DevKitC: see boards/esp32_devkitc/board.py
    "transport": {"order": ["smtp", "mqtt", "serial"]},
    # None: the sensors the board folder says are fitted; or a list like this one
    "sensors": [
        {"name": "freezer", "type": "bme280", "scl": 22, "sda": 21, "addr": 0x76},
        # label: the words in a subject ("freezer door open"); a digital input reads as
        # on_text / off_text
        {"name": "door", "type": "digital", "pin": 27, "pull": "up", "invert": True,
         "label": "freezer door", "on_text": "open", "off_text": "closed"},
        {"name": "battery", "type": "adc", "pin": 34, "r1": 100000, "r2": 100000},
    ],
    # An episode (the condition holding) sends one alert when it opens, "resolved" when it
    # closes (how long, worst value; "resolved": False for none) and, while it lasts, a reminder
    # every "repeat" seconds (critical rules: 14400 unless set; 0: none). A rule may set its own
    # "label" and "unit" for the words of its mails.
    "rules": [
        {"sensor": "freezer.temperature", "above": -12, "hysteresis": 1.0, "cooldown": 1800,
         "severity": "critical", "repeat": 14400},
        {"sensor": "door", "above": 0.5, "cooldown": 600, "severity": "warning"},
        {"sensor": "battery", "below": 3.4, "hysteresis": 0.1, "cooldown": 86400, "severity": "info"},
        {"type": "missing", "sensor": "freezer.temperature", "after": 300, "severity": "warning"},
        {"type": "stuck", "sensor": "freezer.temperature", "after": 21600, "tolerance": 0.01},
    ],
    "sample_every": 30,
    "report": {"at": "07:00", "tz_offset_min": 60},
}
