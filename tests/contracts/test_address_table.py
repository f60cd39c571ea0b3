# One address rule, every caller: each address below goes through the firmware config, the
# message writer, the SMTP core, the alert record, the gateway ingest and the gateway config,
# and all six must give the answer in the table. (The rule itself: usmtp/checks.py.)
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "host"))

from outpost import config as board_config  # noqa: E402
from outpost_contract import record  # noqa: E402
from outpost_gateway import config as gw_config  # noqa: E402
from outpost_gateway.clock import ManualClock  # noqa: E402
from outpost_gateway.ingest import Ingest  # noqa: E402
from outpost_gateway.metrics import Metrics  # noqa: E402
from outpost_gateway.spool import Spool  # noqa: E402
from usmtp.core import Core  # noqa: E402
from usmtp.errors import SMTPUsageError  # noqa: E402
from usmtp.writer import Message  # noqa: E402

LONG_DOMAIN = ".".join(["d" * 63, "e" * 63, "f" * 61])        # 189 bytes
VALID = [
    "me@example.org",
    "first.last@example.org",
    "ops+alerts@example.org",
    "o'brien@example.ie",
    "{weird}=ok?#$%&*/^`|~@example.org",
    "UPPER@EXAMPLE.ORG",
    "x@a.b",
    "root@localhost",                        # a LAN name without a dot
    "a-b_c@ex-ample.org",
    "1234@123.example",
    "user@sub.domain.example.co.uk",
    "zoë@example.org",                       # UTF-8 local part (SMTPUTF8)
    "ops@bücher.example",                    # IDN, as UTF-8
    "用户@例子.广告",
    "l" * 64 + "@example.org",               # the longest local part
    "l" * 64 + "@" + LONG_DOMAIN,            # 254 bytes: the longest address
]
INVALID = [
    "",
    "nobody",
    "@example.org",
    "me@",
    "a@b@c.d",                               # @ twice
    "ops(team)@example.org",                 # a comment
    "me@example.org (Me)",
    '"quoted"@example.org',                  # quoted local parts are not supported
    '"a b"@example.org',
    "me@example.org.",                       # trailing dot
    "me@.example.org",
    "me@example..org",
    ".me@example.org",
    "me.@example.org",
    "m..e@example.org",
    "me@-example.org",
    "me@example-.org",
    "me@exam_ple.org",
    "me@[192.0.2.1]",                        # address literal
    "me @example.org",
    "me@exa mple.org",
    "me\t@example.org",
    "me\r\n@example.org",
    "me@example.org\r\nBcc: x@evil.example",
    "me\0@example.org",
    "me@example.org\x00",
    "a,b@example.org",
    "me@example.org;",
    "me\\x@example.org",
    "me\u2028@example.org",
    "<me@example.org>",
    "l" * 65 + "@example.org",               # local part over 64
    "l" * 64 + "@" + LONG_DOMAIN + "f",      # 255 bytes
    "me@" + "a" * 64 + ".example",           # a label over 63
]
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def firmware_config(a):
    try:
        board_config.load({"device": "shed", "mail": {"sender": "shed@example.org", "to": [a]}})
        return True
    except board_config.ConfigError:
        return False


def writer(a):
    try:
        Message("shed@example.org", [("", a)], "s", "b", date=0)
        return True
    except SMTPUsageError:
        return False


def core(a):
    c = Core()
    c.ext = {"SMTPUTF8": ""}    # a server that takes UTF-8 addresses: the address rule alone
    try:
        c.envelope("shed@example.org", ["<" + a + ">"])
        return True
    except SMTPUsageError:
        return False


REC = {"v": 1, "id": "shed-1-1", "device": "shed", "severity": "warning", "kind": "test",
       "subject": "s"}


def alert_record(a):
    try:
        record.encode(dict(REC, to=[a]))
        return True
    except record.RecordError:
        return False


GATEWAY = {}


@pytest.fixture(scope="module", autouse=True)
def gateway_spool(tmp_path_factory):
    # the ingest keeps what it refuses in a real spool
    spool = Spool(str(tmp_path_factory.mktemp("spool") / "s.db"), ManualClock()).open()
    spool.start_writer()
    GATEWAY["ingest"] = Ingest(gw_config.merge(_gw_data(), env={}), spool, Metrics(), ManualClock())
    yield
    spool.close()


def gateway_ingest(a):
    rec, why = GATEWAY["ingest"].check(json.dumps(dict(REC, to=[a]), ensure_ascii=False).encode(), "mqtt")
    return rec is not None


def _gw_data(**routing):
    r = {"owner": "owner@example.org", "default": ["ops@example.org"]}
    r.update(routing)
    return {"gateway": {"state_dir": "/nonexistent"}, "mqtt": {"enabled": False},
            "http": {"enabled": False}, "routing": r,
            "relay": {"host": "127.0.0.1", "mode": "plain", "sender": "outpost@example.org"}}


def gateway_config(a):
    try:
        gw_config.merge(_gw_data(default=[a]), env={})
        return True
    except gw_config.ConfigError:
        return False


CALLERS = [firmware_config, writer, core, alert_record, gateway_ingest, gateway_config]


def test_table_size():
    assert len(VALID) + len(INVALID) >= 40
    assert len(VALID[-1].encode()) == 254 and len(INVALID[-2].encode()) == 255


@pytest.mark.parametrize("addr", VALID + INVALID)
def test_every_caller_agrees(addr):
    want = addr in VALID
    got = {c.__name__: c(addr) for c in CALLERS}
    assert got == {name: want for name in got}, (addr, got)


def test_sender_mailbox_with_a_display_name_on_both_sides():
    # "Name <address>" is a mailbox: the board's mail.sender and the gateway's relay.sender take it
    cfg = board_config.load({"device": "shed", "mail": {"sender": "Freezer shed <shed@example.org>",
                                                        "to": ["me@example.org"]}})
    assert cfg["mail"]["sender"] == "Freezer shed <shed@example.org>"
    gw = _gw_data()
    gw["relay"]["sender"] = "Outpost <outpost@example.org>"
    assert gw_config.merge(gw, env={})["relay"]["sender"] == "Outpost <outpost@example.org>"
    for bad in ("Freezer <ops(team)@example.org>", "Freezer\r\n <a@example.org>", "Freezer <a@b@c.d>"):
        with pytest.raises(board_config.ConfigError):
            board_config.load({"device": "shed", "mail": {"sender": bad, "to": ["me@example.org"]}})
        gw["relay"]["sender"] = bad
        with pytest.raises(gw_config.ConfigError):
            gw_config.merge(gw, env={})
