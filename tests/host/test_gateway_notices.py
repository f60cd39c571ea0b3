# The owner's notices cannot fail, whatever they are built from: a dead letter for a very long
# recipient, an upstream's multi-line AUTH refusal, a board whose stored name breaks the
# contract, control characters and broken Unicode. Each notice lands in the spool as a valid
# alert record, and the relay can write it as mail.
import json

import pytest

from outpost_contract import record as alert_record
from gateway_helpers import make_cfg
from outpost_gateway import compose
from outpost_gateway.clock import ManualClock
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.spool import Spool
from outpost_gateway.watchdog import Watchdog

HOSTILE = [
    "x" * 300 + "@example.org",
    "535-5.7.8 Username and Password not accepted. Learn more at\n535 5.7.8  https://support.example/?p=1",
    "a\rb\nc\x0bd\x0ce\x1bf\x00g\x7fh",
    "\ud800 lone surrogate \udfff",
    "\n\n\n",
    "",
    "\u202e right-to-left \u00e9 \u4e2d\u6587 " * 40,
]
# plain test ids: a lone surrogate in an id cannot cross to a pytest-xdist worker's controller
IDS = ["long-address", "smtp-reply", "control-chars", "lone-surrogate", "newlines", "empty", "rtl-cjk"]


@pytest.fixture
def relay(tmp_path):
    clock = ManualClock()
    cfg = make_cfg(tmp_path)
    spool = Spool(str(tmp_path / "s.db"), clock).open()
    r = Relay(cfg, spool, Metrics(), clock)
    yield r, spool, clock
    spool.close()


def notices(spool):
    out = []
    for row in spool.due(1e12, 1000):
        rec = alert_record.decode(bytes(row["payload"]))    # a valid record, or this raises
        assert "\n" not in rec["subject"] and len(rec["subject"]) <= alert_record.MAX_SUBJECT
        compose.message_for(row, "outpost@example.org")      # and it can be written as mail
        out.append(rec)
    return out


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_dead_letter_notice(relay, text):
    r, spool, clock = relay
    row = {"alert_id": "dev-1-1", "rcpt": text, "kind": "threshold", "subject": text, "device": text}
    r._dead_notice(row, 550, text, clock.time())
    got = notices(spool)
    assert len(got) == 1 and got[0]["kind"] == "dead-letter"
    assert got[0]["subject"].startswith("Outpost could not deliver an alert to")


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_paused_and_resumed_notices(relay, text):
    r, spool, clock = relay
    r._pause(clock.time(), text)
    clock.advance(10)
    r._resume(clock.time())
    got = notices(spool)
    assert [g["kind"] for g in got] == ["relay-paused", "relay-paused"]
    assert got[0]["subject"].startswith("Outpost gateway cannot send mail")
    if text.startswith("535-"):
        # the first line of the reply, nothing of the second
        assert "Username and Password not accepted" in got[0]["subject"]
        assert "support.example" not in got[0]["subject"]


# (a lone surrogate cannot be stored in SQLite at all, so no board can carry one)
@pytest.mark.parametrize("name", [h for h in HOSTILE if "\ud800" not in h],
                         ids=[i for h, i in zip(HOSTILE, IDS) if "\ud800" not in h])
def test_watchdog_notices_for_a_board_with_a_broken_name(tmp_path, name):
    # a name stored by an older gateway that did not check topics: the notice still goes out,
    # and the other boards are still watched
    clock = ManualClock()
    cfg = make_cfg(tmp_path, watchdog={"intervals": {}})
    spool = Spool(str(tmp_path / "s.db"), clock).open()
    try:
        db = spool._db()
        for dev in (name, "fine"):
            db.execute("INSERT INTO boards(device,last_seen,status,changed) VALUES(?,?,?,?)",
                       (dev, clock.time(), "offline", clock.time()))
        w = Watchdog(cfg, spool, clock)
        w.check()
        clock.advance(cfg["watchdog"]["offline_grace"] + 1)
        made = w.check()
        assert len(made) == 2 and w.failing == {}
        got = notices(spool)
        assert sorted(g["kind"] for g in got) == ["device-silent", "device-silent"]
    finally:
        spool.close()


def test_one_line_keeps_the_first_line_and_cuts():
    assert compose.one_line("  \n 535-5.7.8 first\r\n535 second") == "535-5.7.8 first"
    assert compose.one_line("a\x1b[2Jb\x0bc") == "a[2Jbc"
    s = compose.one_line("y" * 500)
    assert len(s) == alert_record.MAX_SUBJECT and s.endswith("...")
    assert json.dumps(compose.one_line("\ud800x"))  # no lone surrogate survives
