# Config: defaults merged with the local file, validation errors that name the key, redaction.
import pytest

from outpost import config
from outpost.config import ConfigError

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def good(**over):
    c = {"device": "shed", "smtp": {"host": "mail.example.org", "ca": PEM, "username": "shed",
                                    "password": "hunter2"},
         "mail": {"sender": "shed@example.org", "to": ["me@example.org"]}}
    c.update(over)
    return c


def test_defaults_alone_validate():
    cfg = config.load({})
    assert cfg["sample_every"] == 30 and cfg["transport"]["order"] == ["smtp", "mqtt", "serial"]


def test_example_config_validates():
    import config_example
    cfg = config.load(config_example.CONFIG)
    assert cfg["smtp"]["port"] == 465 and len(cfg["rules"]) == 5


def test_merge_keeps_unset_defaults():
    cfg = config.load(good())
    assert cfg["smtp"]["mode"] == "tls" and cfg["smtp"]["timeout"] == 20
    assert cfg["smtp"]["host"] == "mail.example.org"


@pytest.mark.parametrize("over, key", [
    ({"devcie": "x"}, "devcie: unknown key"),
    ({"smtp": {"prot": 25}}, "smtp.prot: unknown key"),
    ({"device": "bad name!"}, "device:"),
    ({"smtp": {"host": "h", "port": "465", "ca": PEM}}, "smtp.port: must be an integer"),
    ({"smtp": {"host": "h", "mode": "ssl", "ca": PEM}}, "smtp.mode: must be one of"),
    ({"smtp": {"host": "h"}}, "smtp.ca: needed to verify"),
    ({"smtp": {"host": "h", "ca": "no-such-ca.pem"}}, "smtp.ca: cannot read 'no-such-ca.pem'"),
    ({"smtp": {"host": "h", "ca": "-----BEGIN PRIVATE KEY-----\nx"}}, "smtp.ca: must be a certificate"),
    ({"smtp": {"user": "me"}}, "smtp.user: unknown key, did you mean smtp.username?"),
    ({"smtp": {"verify": False}}, "smtp.verify: unknown key"),
    ({"mqtt": {"user": "me"}}, "mqtt.user: unknown key, did you mean mqtt.username?"),
    ({"smtp": {"host": "h", "ca": PEM, "password": "pw"}}, "smtp.username: must be set with a password"),
    ({"smtp": {"host": "h", "mode": "plain", "username": "u", "password": "pw"}}, "smtp.mode: is plain, so the login"),
    ({"mail": {"sender": "nobody", "to": ["me@example.org"]}}, "mail.sender:"),
    ({"mail": {"sender": "a@b.org", "to": ["me@example.org", "x y@z"]}}, "mail.to[1]: contains ' '"),
    ({"mail": {"sender": "ops(team)@example.org", "to": ["me@example.org"]}}, "mail.sender: contains a comment"),
    ({"mail": {"sender": "a@b.org", "to": []}}, "mail.to: needs at least one"),
    ({"mail": {"sender": "a@b.org", "to": ["me@example.org"], "subject_prefix": "a\r\nBcc: x"}},
     "mail.subject_prefix: must not contain CR, LF or NUL"),
    ({"transport": {"order": ["smtp", "pigeon"]}}, "transport.order:"),
    ({"transport": {"order": ["smtp", "smtp"]}}, "transport.order:"),
    ({"sensors": [{"name": "t", "type": "thermistor"}]}, "sensors[0].type:"),
    ({"sensors": [{"name": "v", "type": "adc"}]}, "sensors[0].pin:"),
    ({"sensors": [{"name": "v", "type": "adc", "pin": 3, "r1": -1}]}, "sensors[0].r1:"),
    ({"sensors": [{"name": "b", "type": "bme280", "scl": 1, "sda": 2, "addr": 0x10}]}, "sensors[0].addr:"),
    ({"sensors": [{"name": "a", "type": "digital", "pin": 1}, {"name": "a", "type": "digital", "pin": 2}]},
     "sensors[1].name: is used twice"),
    ({"rules": [{"sensor": "t"}]}, "rules[0]: a threshold rule needs exactly one"),
    ({"rules": [{"sensor": "t", "above": "hot"}]}, "rules[0].above: must be a number"),
    ({"rules": [{"sensor": "t", "above": 1, "severity": "panic"}]}, "rules[0].severity:"),
    ({"rules": [{"type": "missing", "sensor": "t"}]}, "rules[0].after:"),
    ({"rules": [{"sensor": "t", "above": 1, "cooldwn": 5}]}, "rules[0].cooldwn: unknown key, did you mean rules[0].cooldown?"),
    ({"rules": [{"sensor": "t", "above": 1, "repeat": 30}]}, "rules[0].repeat: must be 0 (no repeats) or seconds >= 60"),
    ({"rules": [{"sensor": "t", "above": 1, "repeat": -1}]}, "rules[0].repeat:"),
    ({"rules": [{"sensor": "t", "above": 1, "resolved": "yes"}]}, "rules[0].resolved: must be True or False"),
    ({"rules": [{"sensor": "t", "above": 1, "label": "a\nb"}]}, "rules[0].label: must be one line"),
    ({"rules": [{"sensor": "t", "above": 1, "unit": "u" * 17}]}, "rules[0].unit: must be text of 1 to 16"),
    ({"rules": [{"sensor": "t", "above": 1, "lable": "x"}]}, "rules[0].lable: unknown key, did you mean rules[0].label?"),
    ({"sensors": [{"name": "d", "type": "digital", "pin": 1, "on_text": ""}]}, "sensors[0].on_text: must be text"),
    ({"sensors": [{"name": "d", "type": "digital", "pin": 1, "off_text": "x\r"}]}, "sensors[0].off_text: must be one line"),
    ({"sensors": [{"name": "v", "type": "adc", "pin": 3, "on_text": "high"}]}, "sensors[0].on_text: only a digital input"),
    ({"sensors": [{"name": "v", "type": "adc", "pin": 3, "label": 5}]}, "sensors[0].label: must be text"),
    ({"mqtt": {"publish_every": -1}}, "mqtt.publish_every:"),
    ({"mqtt": {"publish_every": "60"}}, "mqtt.publish_every: must be an integer"),
    ({"mqtt": {"discovery": 1}}, "mqtt.discovery: must be true or false"),
    ({"mqtt": {"discovery_prefix": "home/#"}}, "mqtt.discovery_prefix: must be a topic prefix"),
    ({"mqtt": {"discovery_prefix": ""}}, "mqtt.discovery_prefix: must be a topic prefix"),
    ({"report": {"at": "7am"}}, "report.at: must be HH:MM"),
    ({"report": {"at": "24:00"}}, "report.at: must be HH:MM"),
    ({"watchdog": 30}, "watchdog: must be 0 or at least"),
    ({"deep_sleep": "yes"}, "deep_sleep: must be true or false"),
])
def test_errors_name_the_key(over, key):
    with pytest.raises(ConfigError) as ei:
        config.load(good(**over))
    assert str(ei.value).startswith(key), str(ei.value)


def test_secret_never_in_error_text():
    with pytest.raises(ConfigError) as ei:
        config.load(good(wifi={"password": 12345678}))
    assert "12345678" not in str(ei.value)
    assert str(ei.value).startswith("wifi.password: must be a string")


def test_redacted_hides_secrets():
    cfg = config.load(good(mqtt={"host": "gw", "password": "mqttpw"}, wifi={"ssid": "n", "password": "wifipw"}))
    text = repr(config.redacted(cfg))
    for secret in ("hunter2", "mqttpw", "wifipw", "MIIB"):
        assert secret not in text
    assert "'password': '***'" in text


def test_checked_config_is_frozen():
    cfg = config.load(good())
    with pytest.raises(TypeError):
        cfg["smtp"]["host"] = "elsewhere"
    assert cfg["smtp"]["host"] == "mail.example.org"


def test_ca_from_a_file_is_read_at_check_time(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(PEM)
    cfg = config.load(good(smtp={"host": "mail.example.org", "ca": str(ca)}))
    assert cfg["smtp"]["ca"] == PEM


def test_ca_der_file_becomes_pem_text_and_the_config_stays_json(tmp_path):
    import base64
    import json
    import ssl
    import trustme
    der = ssl.PEM_cert_to_DER_cert(trustme.CA().cert_pem.bytes().decode())
    (tmp_path / "ca.der").write_bytes(der)
    cfg = config.load(good(smtp={"host": "mail.example.org", "ca": str(tmp_path / "ca.der")}))
    pem = cfg["smtp"]["ca"]
    assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
    assert ssl.PEM_cert_to_DER_cert(pem) == der
    body = pem.split("\n")[1:-2]
    assert all(len(line) <= 64 for line in body) and base64.b64decode("".join(body)) == der
    assert json.loads(json.dumps(cfg))["smtp"]["ca"] == pem


def test_missing_local_file_says_what_to_do(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "config_local", None)
    with pytest.raises(ConfigError) as ei:
        config.load()
    assert "config_example.py" in str(ei.value)


def test_parse_hhmm():
    assert config.parse_hhmm("07:30") == 450
    assert config.parse_hhmm("23:59") == 1439
    for bad in ("7:3", "ab:cd", "12", "12:60"):
        with pytest.raises(ValueError):
            config.parse_hhmm(bad)


def test_episode_words_and_mqtt_state_keys_accepted():
    cfg = config.load(good(
        sensors=[{"name": "door", "type": "digital", "pin": 27, "label": "freezer door",
                  "on_text": "open", "off_text": "closed"},
                 {"name": "v", "type": "adc", "pin": 34, "unit": "V", "label": "battery"}],
        rules=[{"sensor": "door", "above": 0.5, "repeat": 0, "resolved": False, "label": "door",
                "unit": "x"},
               {"sensor": "v", "below": 3.3, "repeat": 3600}],
        mqtt={"host": "gw.lan", "publish_every": 0, "discovery": True, "discovery_prefix": "ha/x"}))
    assert cfg["sensors"][0]["on_text"] == "open" and cfg["rules"][0]["resolved"] is False
    assert cfg["mqtt"]["discovery"] is True and cfg["mqtt"]["publish_every"] == 0
    d = config.load(good())
    assert (d["mqtt"]["publish_every"], d["mqtt"]["discovery"], d["mqtt"]["discovery_prefix"]) == \
        (60, False, "homeassistant")
