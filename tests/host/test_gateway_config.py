# Config: defaults, validation errors that name the key, secrets from files and environment,
# and the example config documents every key.
import os
import re
import sys

import pytest

from gateway_helpers import HOST, base_data, make_cfg
from outpost_gateway import config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

EXAMPLE = os.path.join(HOST, "gateway.example.toml")


def test_defaults_fill_in(tmp_path):
    cfg = make_cfg(tmp_path)
    assert cfg["spool"]["max_pending"] == 100000
    assert cfg["relay"]["port"] == 2525
    assert cfg["relay"]["backoff_base"] == 10.0
    assert config.spool_path(cfg) == str(tmp_path / "state" / "spool.db")


@pytest.mark.parametrize("section,key,value,named", [
    ("relay", "port", "25", "relay.port"),
    ("relay", "port", 70000, "relay.port"),
    ("relay", "mode", "ssl", "relay.mode"),
    ("relay", "security", "tls", "relay.security"),
    ("relay", "delivery", "pigeon", "relay.delivery"),
    ("relay", "ca", "/nonexistent-ca.pem", "relay.ca"),
    ("mqtt", "ca", "/nonexistent-ca.pem", "mqtt.ca"),
    ("relay", "sender", "ops(team)@example.org", "relay.sender"),
    ("routing", "owner", "a@b@example.org", "routing.owner"),
    ("relay", "sender", "not an address", "relay.sender"),
    ("relay", "jitter", 1.5, "relay.jitter"),
    ("relay", "bogus", 1, "relay.bogus"),
    ("mqtt", "topic_prefix", "outpost/#", "mqtt.topic_prefix"),
    ("mqtt", "keepalive", True, "mqtt.keepalive"),
    ("gateway", "log_level", "loud", "gateway.log_level"),
    ("routing", "default", ["x@y", 3], "routing.default[1]"),
    ("routing", "routes", [{"devices": ["a"], "to": ["ok@example.org"], "severities": ["urgent"]}],
     "routing.routes[0].severities[0]"),
    ("routing", "routes", [{"to": ["ok@example.org"], "color": "red"}], "routing.routes[0].color"),
    ("watchdog", "intervals", {"b1": -5}, "watchdog.intervals.b1"),
    ("relay", "dkim_key_file", "/nonexistent.pem", "relay.dkim_selector"),
    ("relay", "mode", "carrier-pigeon", "relay.mode"),
    ("smtp_ingress", "allow_networks", ["10.0.0.0/99"], "smtp_ingress.allow_networks[0]"),
])
def test_bad_value_names_the_key(tmp_path, section, key, value, named):
    data = base_data(tmp_path, **{section: {key: value}})
    with pytest.raises(config.ConfigError) as ei:
        config.merge(data, env={})
    assert str(ei.value).startswith(named + ":"), str(ei.value)


def test_a_login_a_plain_relay_would_never_send_is_refused(tmp_path):
    for login in ({"password": "pw"}, {"oauth2_token": "tok"}):
        data = base_data(tmp_path, relay=dict(login, username="u"))
        with pytest.raises(config.ConfigError) as ei:
            config.merge(data, env={})
        assert str(ei.value).startswith("relay.mode: is plain, so the login is never sent"), str(ei.value)
    assert config.merge(base_data(tmp_path, relay={"username": "u", "password": "pw", "allow_plaintext_auth": True}),
                        env={})["relay"]["password"] == "pw"
    assert config.merge(base_data(tmp_path, relay={"username": "u", "password": "pw", "mode": "starttls"}),
                        env={})["relay"]["mode"] == "starttls"


@pytest.mark.parametrize("section,key,message", [
    ("relay", "user", "relay.user: unknown key, did you mean relay.username?"),
    ("relay", "ca_file", "relay.ca_file: unknown key, did you mean relay.ca?"),
    ("relay", "security", "relay.security: unknown key"),
    ("mqtt", "user", "mqtt.user: unknown key, did you mean mqtt.username?"),
    ("realy", "host", "realy: unknown key, did you mean relay?"),
])
def test_unknown_key_names_the_closest(tmp_path, section, key, message):
    data = base_data(tmp_path, **{section: {key: "x"}})
    with pytest.raises(config.ConfigError) as ei:
        config.merge(data, env={})
    assert str(ei.value) == message


def test_checked_config_is_frozen(tmp_path):
    cfg = make_cfg(tmp_path)
    with pytest.raises(TypeError):
        cfg["relay"]["port"] = 25
    with pytest.raises(TypeError):
        cfg["digest"].update(threshold=1)
    assert cfg["relay"]["port"] == 2525


def test_ca_pasted_or_from_a_file(tmp_path):
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    assert make_cfg(tmp_path, relay={"ca": pem})["relay"]["ca_data"] == pem.encode()
    (tmp_path / "ca.pem").write_text(pem)
    cfg = make_cfg(tmp_path, relay={"ca": str(tmp_path / "ca.pem")}, mqtt={"ca": str(tmp_path / "ca.pem")})
    assert cfg["relay"]["ca_data"] == pem.encode() and cfg["mqtt"]["ca_data"] == pem.encode()
    assert make_cfg(tmp_path)["relay"]["ca_data"] is None


def test_alerts_always_have_a_recipient(tmp_path):
    data = base_data(tmp_path, routing={"owner": "", "default": [],
                                        "routes": [{"devices": ["a*"], "to": ["a@example.org"]}]})
    with pytest.raises(config.ConfigError, match="^routing.default:"):
        config.merge(data, env={})


def test_unknown_section_named(tmp_path):
    data = base_data(tmp_path)
    data["relais"] = {}
    with pytest.raises(config.ConfigError, match=r"^relais: unknown key, did you mean relay\?"):
        config.merge(data, env={})


def test_smtp_ingress_is_never_open(tmp_path):
    data = base_data(tmp_path, smtp_ingress={"enabled": True, "require_tls": False,
                                             "allowed_domains": ["example.org"]})
    with pytest.raises(config.ConfigError, match="^smtp_ingress.accounts:"):
        config.merge(data, env={})
    data = base_data(tmp_path, smtp_ingress={"enabled": True, "require_tls": False,
                                             "allow_networks": ["127.0.0.1/32"]})
    with pytest.raises(config.ConfigError, match="^smtp_ingress.allowed_domains:"):
        config.merge(data, env={})


def test_secrets_from_file_and_env(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret-from-file\n")
    data = base_data(tmp_path, relay={"username": "u", "password_file": str(pw), "allow_plaintext_auth": True},
                     mqtt={"username": "m", "password_env": "MQTT_PW"})
    cfg = config.merge(data, env={"MQTT_PW": "s3cret-from-env"})
    assert cfg["relay"]["password"] == "s3cret-from-file"
    assert cfg["mqtt"]["password"] == "s3cret-from-env"
    data = base_data(tmp_path, mqtt={"username": "m", "password_env": "NOPE"})
    with pytest.raises(config.ConfigError, match="^mqtt.password_env:"):
        config.merge(data, env={})
    data = base_data(tmp_path, relay={"username": "u", "password_file": str(tmp_path / "missing")})
    with pytest.raises(config.ConfigError, match="^relay.password_file:"):
        config.merge(data, env={})


def test_account_secret_from_env(tmp_path):
    data = base_data(tmp_path, smtp_ingress={
        "enabled": True, "require_tls": False, "allowed_domains": ["example.org"],
        "accounts": [{"user": "board", "password_env": "BOARD_PW"}]})
    cfg = config.merge(data, env={"BOARD_PW": "pw1"})
    assert cfg["smtp_ingress"]["accounts"] == {"board": "pw1"}


def test_bad_toml_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[relay\nhost = 1\n")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(str(p))
    with pytest.raises(config.ConfigError, match="cannot read config"):
        config.load(str(tmp_path / "missing.toml"))


def test_example_config_documents_every_key():
    with open(EXAMPLE, "rb") as f:
        data = tomllib.load(f)
    text = open(EXAMPLE).read()
    for sect, keys in config.DEFAULTS.items():
        assert sect in data, sect
        for key, default in keys.items():
            assert key in data[sect], sect + "." + key
            # the line before each key (or its block) is a comment
            m = re.search(r"(^#[^\n]*\n)(#[^\n]*\n|[a-z_]+ = [^\n]*\n)*?" + key + r" = ", text, re.M)
            assert m, "no comment above " + sect + "." + key
        for key in data[sect]:
            assert key in keys, "example has unknown key " + sect + "." + key
    # with the blanks filled in, the example is a valid config
    data["relay"].update(host="smtp.example.com", sender="outpost@example.com")
    data["routing"]["default"] = ["me@example.com"]
    cfg = config.merge(data, env={})
    assert cfg["relay"]["mode"] == "tls"
    # and the defaults it states are the real defaults
    for sect, keys in config.DEFAULTS.items():
        for key, default in keys.items():
            if sect == "smtp_ingress" and key in ("accounts", "allow_networks"):
                continue
            if (sect, key) in (("relay", "host"), ("relay", "sender"), ("routing", "default")):
                continue
            got = data[sect][key]
            assert got == default, "%s.%s: example says %r, default is %r" % (sect, key, got, default)
