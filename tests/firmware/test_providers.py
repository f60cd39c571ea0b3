# lane: micropython
# "smtp": {"provider": ...} fills in host, port and mode (outpost_contract.providers), on
# CPython and on the MicroPython VM; what the user sets wins.
from outpost import config
from outpost_contract import providers

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def load(smtp):
    s = {"ca": PEM, "username": "me@mydomain.net", "password": "app pw"}
    for k in smtp:
        s[k] = smtp[k]
    return config.load({"device": "shed", "smtp": s,
                        "mail": {"sender": "me@mydomain.net", "to": ["me@mydomain.net"]}})


def server(cfg):
    c = cfg["smtp"]
    return c["host"], c["port"], c["mode"]


def test_each_preset():
    assert server(load({"provider": "gmail"})) == ("smtp.gmail.com", 465, "tls")
    assert server(load({"provider": "outlook"})) == ("smtp.office365.com", 587, "starttls")
    assert server(load({"provider": "outlook.com"})) == ("smtp-mail.outlook.com", 587, "starttls")
    assert server(load({"provider": "fastmail"})) == ("smtp.fastmail.com", 465, "tls")
    assert server(load({"provider": "icloud"})) == ("smtp.mail.me.com", 587, "starttls")


def test_what_the_user_sets_wins():
    # Gmail's STARTTLS port: the mode follows the port given
    assert server(load({"provider": "gmail", "port": 587})) == ("smtp.gmail.com", 587, "starttls")
    # a mode given without a port: the mode's default port (0)
    assert server(load({"provider": "gmail", "mode": "starttls"})) == ("smtp.gmail.com", 0, "starttls")
    assert server(load({"provider": "fastmail", "host": "smtp.example.net"}))[0] == "smtp.example.net"


def test_unknown_provider_is_named_with_the_closest():
    try:
        load({"provider": "gmial"})
    except config.ConfigError as e:
        msg = str(e)
    else:
        raise AssertionError("accepted an unknown provider")
    assert msg.startswith("smtp.provider: unknown provider, did you mean 'gmail'?")
    assert "fastmail" in msg and "icloud" in msg


def test_no_provider_changes_nothing():
    over = {"device": "x", "smtp": {"host": "h"}}
    assert providers.apply(over) is over
    assert server(load({"host": "mail.mydomain.net", "port": 2525, "mode": "starttls"})) == \
        ("mail.mydomain.net", 2525, "starttls")


def test_missing_ca_says_how_to_get_it():
    try:
        config.load({"device": "shed", "smtp": {"provider": "icloud"},
                     "mail": {"sender": "me@mydomain.net", "to": ["me@mydomain.net"]}})
    except config.ConfigError as e:
        msg = str(e)
    else:
        raise AssertionError("no CA accepted")
    assert "make ca HOST=smtp.mail.me.com PORT=587" in msg and '"ca": "ca.pem"' in msg
