# Ingest checks shared by every ingress, the relay's outcome classification and backoff, and
# routing: bad input gets a clear reason and a counted refusal, never an exception.
import json

import pytest

from gateway_helpers import make_cfg, record
from outpost_gateway import routing
from outpost_gateway.clock import ManualClock
from outpost_gateway.ingest import Ingest
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import backoff, classify
from outpost_gateway.spool import Spool
from usmtp.errors import (SMTPAuthError, SMTPConnectError, SMTPPermanentError, SMTPProtocolError,
                          SMTPRecipientsRefused, SMTPTimeout, SMTPTLSError, SMTPTransientError,
                          SMTPUsageError)


@pytest.fixture
def ing(tmp_path):
    cfg = make_cfg(tmp_path, gateway={"allowed_devices": ["green*"]})
    spool = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    spool.start_writer()
    m = Metrics()
    yield Ingest(cfg, spool, m, ManualClock()), spool, m
    spool.close()


def offer(ing, payload, device=None):
    got = []
    ing.offer(payload, "test", lambda res, why=None: got.append((res, why)), device=device)
    ing.spool.stop_writer()         # everything queued is answered
    ing.spool.start_writer()
    return got[0]


@pytest.mark.parametrize("payload,reason,words", [
    (b"{not json", "malformed", "JSON"),
    (json.dumps({"v": 1, "id": "greenhouse-1-1", "device": "greenhouse"}).encode(), "malformed", "severity"),
    (json.dumps(record(device="greenhouse", subject="a\r\nBcc: x@evil.example")).encode(), "malformed", "subject"),
    (json.dumps(record(device="greenhouse", body="x" * 40000)).encode(), "oversize", "32768"),
    (json.dumps(record(device="shed")).encode(), "unknown-device", "shed"),
    (json.dumps(record(device="greenhouse", to=["a@b.example\r\nRCPT TO:<x@y>"])).encode(), "malformed", "to"),
    (json.dumps(record(device="greenhouse", state="resolved")).encode(), "malformed", "closes"),
    (json.dumps(record(device="greenhouse", state="over", closes="greenhouse-1-1")).encode(), "malformed", "state"),
])
def test_bad_input_refused_with_reason(ing, payload, reason, words):
    ingest, spool, m = ing
    res, why = offer(ingest, payload)
    assert res == "bad"
    assert words in why
    assert m.refusals == {("test", reason): 1}
    assert spool.counts()["alerts"] == 0


def test_topic_device_must_match(ing):
    ingest, spool, m = ing
    res, why = offer(ingest, json.dumps(record(device="greenhouse")).encode(), device="greenhouse2")
    assert res == "bad" and "does not match" in why


def test_good_then_duplicate(ing):
    ingest, spool, m = ing
    p = json.dumps(record(device="greenhouse")).encode()
    assert offer(ingest, p) == ("new", None)
    assert offer(ingest, p) == ("dup", None)
    assert (m.c["received"], m.c["acknowledged"], m.c["duplicates"]) == (2, 2, 1)
    assert [b["device"] for b in spool.boards()] == ["greenhouse"]


def test_firing_and_resolved_records_are_both_spooled_as_sent(ing):
    # episodes: the resolved record keeps its state and the id it closes all the way to the relay
    ingest, spool, m = ing
    fire = json.dumps(record(device="greenhouse", seq=1, state="firing")).encode()
    done = json.dumps(record(device="greenhouse", seq=2, state="resolved", closes="greenhouse-1-1")).encode()
    assert offer(ingest, fire)[0] == "new"
    assert offer(ingest, done)[0] == "new"
    rows = {r["alert_id"]: r for r in spool.due(1e12, 10)}
    assert sorted(rows) == ["greenhouse-1-1", "greenhouse-1-2"]
    rec = json.loads(bytes(rows["greenhouse-1-2"]["payload"]))
    assert (rec["state"], rec["closes"]) == ("resolved", "greenhouse-1-1")


def test_routing_by_device_and_severity(tmp_path):
    cfg = make_cfg(tmp_path, routing={
        "routes": [{"devices": ["green*"], "severities": ["critical"], "to": ["pager@example.org"]},
                   {"devices": ["green*"], "to": ["garden@example.org"]}],
        "honour_alert_to": True, "alert_to_domains": ["example.org"]})
    assert routing.recipients(cfg, "greenhouse", "critical") == ["pager@example.org", "garden@example.org"]
    assert routing.recipients(cfg, "greenhouse", "info") == ["garden@example.org"]
    assert routing.recipients(cfg, "shed", "info") == ["ops@example.org"]
    assert routing.recipients(cfg, "shed", "info", ["me@example.org", "x@elsewhere.example"]) == \
        ["ops@example.org", "me@example.org"]


def test_classify_outcomes():
    assert classify({})[0] == "done"
    assert classify({"a@x": (450, "mailbox busy")})[0] == "retry"
    assert classify({"a@x": (550, "5.1.1 no such user")}) == ("dead", 550, "550 5.1.1 no such user")
    assert classify(SMTPTransientError(421, "try later"))[0] == "retry"
    assert classify(SMTPPermanentError(554, "rejected"))[0] == "dead"
    assert classify(SMTPRecipientsRefused({"a@x": (550, "no")}))[:2] == ("dead", 550)
    assert classify(SMTPRecipientsRefused({"a@x": (451, "later")}))[:2] == ("retry", 451)
    assert classify(SMTPTimeout("slow"))[0] == "retry"
    assert classify(SMTPConnectError("refused"))[0] == "retry"
    assert classify(SMTPProtocolError("garbage"))[0] == "retry"
    assert classify(SMTPUsageError("bad argument"))[0] == "dead"
    assert classify(SMTPAuthError(535, "bad credentials"))[0] == "pause"
    assert classify(SMTPTLSError("certificate verify failed"))[0] == "pause"
    assert classify(ConnectionResetError("reset"))[0] == "retry"


def test_backoff_grows_caps_and_jitters():
    d = [backoff(n, 30, 2, 3600, 0.0, lambda: 0.5) for n in range(1, 10)]
    assert d[:4] == [30, 60, 120, 240]
    assert max(d) == 3600
    lo = backoff(3, 30, 2, 3600, 0.2, lambda: 0.0)
    hi = backoff(3, 30, 2, 3600, 0.2, lambda: 0.999999)
    assert abs(lo - 96) < 1e-6 and 143 < hi < 144
