# lane: micropython
# The config machinery both configs are built on: merge with "did you mean", typed checks that
# name the key, frozen sections. Runs on the MicroPython VM too (the board may check its config).
from outpost_contract import settings
from outpost_contract.settings import ConfigError
from tinytest import raises

DEFAULTS = {"relay": {"host": "", "port": 0, "username": "", "password": "", "ca": ""},
            "watchdog": {"intervals": {}}, "rules": []}


def test_merge_keeps_defaults_and_overrides_deeply():
    cfg = settings.merge(DEFAULTS, {"relay": {"host": "mx.example.org"}, "rules": [1]})
    assert cfg["relay"]["host"] == "mx.example.org" and cfg["relay"]["port"] == 0
    assert cfg["rules"] == [1] and DEFAULTS["relay"]["host"] == ""


def test_unknown_key_names_the_closest_known_key():
    e = raises(ConfigError, settings.merge, DEFAULTS, {"relay": {"user": "x"}})
    assert str(e) == "relay.user: unknown key, did you mean relay.username?", str(e)
    e = raises(ConfigError, settings.merge, DEFAULTS, {"relay": {"ca_file": "x"}})
    assert "did you mean relay.ca?" in str(e), str(e)
    e = raises(ConfigError, settings.merge, DEFAULTS, {"realy": {}})
    assert str(e) == "realy: unknown key, did you mean relay?", str(e)
    e = raises(ConfigError, settings.merge, DEFAULTS, {"relay": {"zzzzzzzz": 1}})
    assert str(e) == "relay.zzzzzzzz: unknown key", str(e)


def test_free_form_table_takes_any_key():
    cfg = settings.merge(DEFAULTS, {"watchdog": {"intervals": {"shed": 60}}})
    assert cfg["watchdog"]["intervals"] == {"shed": 60}


def test_typed_checks_name_the_key():
    cfg = {"s": {"n": 5, "b": "yes", "t": "a\nb", "m": "ssl", "a": "ops(team)@example.org",
                 "l": ["a@example.org", "bad"]}}
    assert settings.integer(cfg, "s.n", 1, 9) == 5
    assert "s.n: must be an integer from 6 to 9" in str(raises(ConfigError, settings.integer, cfg, "s.n", 6, 9))
    assert str(raises(ConfigError, settings.boolean, cfg, "s.b")).startswith("s.b: must be true or false")
    assert "s.t: must not contain CR" in str(raises(ConfigError, settings.string, cfg, "s.t"))
    assert "s.m: must be one of tls, starttls" in str(raises(ConfigError, settings.mode, cfg, "s.m"))
    assert "s.a: contains a comment" in str(raises(ConfigError, settings.address, cfg, "s.a"))
    assert str(raises(ConfigError, settings.addresses, cfg, "s.l")).startswith("s.l[1]: has no @")


def test_secret_values_are_not_shown():
    e = raises(ConfigError, settings.string, {"p": 42}, "p", True)
    assert "42" not in str(e)


def test_ca_takes_pem_text_bytes_or_a_path():
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert settings.ca({"ca": pem}, "ca") == pem.encode()
    assert settings.ca({"ca": b"\x30\x82"}, "ca") == b"\x30\x82"
    assert settings.ca({"ca": ""}, "ca") == b""
    assert settings.ca({"ca": "ca.pem"}, "ca") == "ca.pem"
    assert settings.ca({"ca": "ca.pem"}, "ca", lambda p: pem.encode()) == pem.encode()
    e = raises(ConfigError, settings.ca, {"ca": "-----BEGIN PRIVATE KEY-----\n"}, "ca")
    assert "must be a certificate" in str(e)

    def missing(p):
        raise OSError(2, "No such file or directory")
    assert "cannot read 'nope.pem'" in str(raises(ConfigError, settings.ca, {"ca": "nope.pem"}, "ca", missing))


def test_frozen_sections_refuse_changes():
    cfg = settings.freeze({"relay": {"port": 25}, "routes": [{"to": ["a@b"]}]})
    assert cfg["relay"]["port"] == 25 and isinstance(cfg["relay"], dict)
    raises(TypeError, cfg["relay"].__setitem__, "port", 26)
    raises(TypeError, cfg["relay"].update, {"port": 26})
    raises(TypeError, cfg["routes"][0].__setitem__, "to", [])
    assert cfg["relay"]["port"] == 25
