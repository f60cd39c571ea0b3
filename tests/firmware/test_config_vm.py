# lane: micropython
# The config module on the MicroPython VM too: merge, validation errors naming the key, redaction.
from outpost import config

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def good():
    return {"device": "shed", "smtp": {"host": "mail.example.org", "ca": PEM, "username": "shed",
                                       "password": "hunter2"},
            "mail": {"sender": "shed@example.org", "to": ["me@example.org"]}}


def error_of(over):
    c = good()
    for k in over:
        c[k] = over[k]
    try:
        config.load(c)
    except config.ConfigError as e:
        return str(e)
    return None


def test_good_config_loads_with_defaults():
    cfg = config.load(good())
    assert cfg["smtp"]["mode"] == "tls" and cfg["smtp"]["port"] == 0
    assert cfg["transport"]["order"] == ["smtp", "mqtt", "serial"]


def test_errors_name_the_key():
    cases = [
        ({"devcie": 1}, "devcie: unknown key"),
        ({"device": "a b"}, "device: "),
        ({"mail": {"sender": "x", "to": ["me@example.org"]}}, "mail.sender: "),
        ({"rules": [{"sensor": "t", "above": 1, "severity": "loud"}]}, "rules[0].severity: "),
        ({"sensors": [{"name": "d", "type": "digital"}]}, "sensors[0].pin: "),
        ({"report": {"at": "25:00"}}, "report.at: "),
    ]
    for over, start in cases:
        msg = error_of(over)
        assert msg is not None and msg.startswith(start), (over, msg)


def test_secret_value_not_in_error():
    msg = error_of({"mqtt": {"password": 1234567}})
    assert msg.startswith("mqtt.password: ") and "1234567" not in msg


def test_redacted():
    text = repr(config.redacted(config.load(good())))
    assert "hunter2" not in text and "MIIB" not in text and "***" in text


def test_addresses_and_names():
    assert config.valid_addr("a.b@example.org")
    assert config.valid_addr("root@localhost")      # a LAN name without a dot is an address
    for bad in ("nobody", "a@b@c.d", "a b@example.org", "<a@example.org>", "@example.org",
                "ops(team)@example.org", "a@example.org."):
        assert not config.valid_addr(bad), bad
    assert config.valid_name("freezer-1.shed_2")
    assert not config.valid_name("") and not config.valid_name("x" * 65) and not config.valid_name("é")


def test_mqtt_tls_keys():
    cfg = config.load(good())
    m = cfg["mqtt"]
    assert m["tls"] is False and m["ca"] == "" and m["server_hostname"] == "" and m["port"] == 0
    ok = config.load(dict(good(), mqtt={"host": "10.0.0.2", "tls": True, "ca": PEM,
                                        "server_hostname": "gw.lan"}))
    assert ok["mqtt"]["tls"] is True and ok["mqtt"]["server_hostname"] == "gw.lan"
    assert "MIIB" not in repr(config.redacted(ok))
    cases = [
        ({"host": "gw", "tls": True}, "mqtt.ca: needed"),
        ({"host": "gw", "tls": True, "ca": "no-such.pem"}, "mqtt.ca: cannot read"),
        ({"host": "gw", "tls": "yes", "ca": PEM}, "mqtt.tls: must be true or false"),
        ({"host": "gw", "tls": True, "ca": PEM, "port": 1883}, "mqtt.port: 1883 is the plain"),
        ({"host": "gw", "server_hostname": "a\r\nb"}, "mqtt.server_hostname: must not contain CR"),
    ]
    for over, start in cases:
        msg = error_of({"mqtt": over})
        assert msg is not None and msg.startswith(start), (over, msg)
