# The relay against a real upstream (MailServer on loopback, verified implicit TLS + AUTH),
# with an injected clock: outage sequence with backoff and digest, 5xx dead letters, AUTH/TLS
# pause with one notice, connection reuse, and stable Message-IDs.
import email.utils
import json

import pytest

from gateway_helpers import make_cfg, record
from outpost_gateway import admin
from outpost_gateway.clock import ManualClock
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.spool import Alert, Spool
from peers.certs import TestCA
from peers.smtpd import MailServer
from usmtp.writer import make_message_id

SENDER = "outpost@example.org"


@pytest.fixture(scope="module")
def ca():
    return TestCA()


@pytest.fixture
def upstream(ca):
    with MailServer(tls="implicit", auth_users={"gw": "right-pw"}, ca=ca, hostname="127.0.0.1",
                    pipelining=True) as srv:
        yield srv


def relay_for(tmp_path, srv, test_ca, clock, digest=None, **relay):
    # a checked config is frozen: everything a test changes goes in here, before the check
    cafile = tmp_path / "ca.pem"
    cafile.write_bytes(test_ca.ca_pem)
    r = {"host": "127.0.0.1", "port": srv.port, "mode": "tls", "ca": str(cafile),
         "username": "gw", "password": "right-pw", "timeout": 5.0, "sender": SENDER,
         "backoff_base": 10.0, "backoff_factor": 2.0, "jitter": 0.0, "pause_retry": 300.0}
    r.update(relay)
    cfg = make_cfg(tmp_path, relay=r, digest=digest or {})
    spool = Spool(str(tmp_path / "s.db"), clock).open()
    return cfg, spool, Relay(cfg, spool, Metrics(), clock)


def add(spool, n, device="dev", severity="warning", rcpts=("ops@example.org",), start=1):
    ids = []
    for i in range(start, start + n):
        rec = record(device=device, seq=i, severity=severity)
        spool.write([Alert(rec["id"], device, severity, rec["kind"], rec["subject"], "test",
                           json.dumps(rec).encode(), list(rcpts))])
        ids.append(rec["id"])
    return ids


def mid_of(msg):
    return msg.parsed()["Message-ID"]


def next_ats(spool):
    return sorted(set(round(r["next_at"] - spool.clock.time(), 3) for r in spool.list("ready", 1000)))


def test_outage_backoff_then_digest_and_critical_alone(tmp_path, upstream, ca):
    clock = ManualClock()
    # probe_every raised: the down state's own backoff (10, 20, 40 s) is what this test follows
    # (the 2 s default cadence: test_relay_settle.py)
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, timeout=1.0, probe_every=3600.0)
    warn = add(spool, 12)
    crit = add(spool, 1, severity="critical", start=100)

    upstream.down()                                   # 1. nobody listening
    assert relay.run_once() == 0.0
    assert next_ats(spool) == [10.0]                  # first retry after backoff_base
    assert all(r["attempts"] == 1 for r in spool.list("ready"))
    assert relay.run_once() == pytest.approx(10.0)    # destination down: not hammered
    assert all(r["attempts"] == 1 for r in spool.list("ready"))

    # while the destination is down the relay only probes it (opens a connection, sends
    # nothing), on its own backoff; the alerts wait on it and are not charged again
    clock.advance(10)
    upstream.greeting = "421 4.3.2 Service not available, try later"   # 2. up, but 421
    upstream.up()
    assert relay.run_once() == pytest.approx(20.0)    # doubled
    assert all(r["attempts"] == 1 for r in spool.list("ready"))
    clock.advance(20)
    upstream.greeting = None
    upstream.delay = 3.0                              # 3. tarpit: replies slower than the timeout
    assert relay.run_once() == pytest.approx(40.0)    # doubled again
    assert all(r["attempts"] == 1 for r in spool.list("ready"))
    assert upstream.messages == []

    clock.advance(40)
    upstream.delay = 0                                # 4. back
    relay.run_once()
    assert relay.run_once() > 0                       # nothing left due
    msgs = upstream.wait_for(2)
    assert len(msgs) == 2
    by_kind = dict((m.parsed()["X-Outpost-Kind"], m) for m in msgs)
    # the critical alert went out on its own, with its own stable Message-ID
    assert mid_of(by_kind["threshold"]) == make_message_id(crit[0], SENDER)
    # the backlog went out as one digest listing every alert
    body = by_kind["digest"].parsed().get_content()
    for aid in warn:
        assert aid in body
    assert "12 alerts" in by_kind["digest"].parsed()["Subject"]
    c = spool.counts()
    assert (c["done"], c["ready"], c["dead"]) == (13, 0, 0)
    assert relay.metrics.c["digests"] == 1 and relay.metrics.c["relayed"] == 13


def test_rate_limit_holds_warnings_never_critical(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, digest=dict(rate_per_hour=2, threshold=3))
    for i in range(5):                                 # warnings trickling in, one per minute
        add(spool, 1, start=i + 1)
        relay.run_once()
        clock.advance(60)
    assert len(upstream.wait_for(2)) == 2             # the first 2 within the rate...
    assert spool.counts()["ready"] == 3                # ...the other 3 held
    crit = add(spool, 1, severity="critical", start=50)
    relay.run_once()                                   # a critical alert is never held
    msgs = upstream.wait_for(3)
    assert mid_of(msgs[2]) == make_message_id(crit[0], SENDER)
    assert next_ats(spool) == [3300.0]                 # held until the hour since the first send
    crit2 = add(spool, 1, severity="critical", start=51)
    relay.run_once()                                   # nor is the next one
    assert mid_of(upstream.wait_for(4)[3]) == make_message_id(crit2[0], SENDER)
    clock.advance(3600)
    relay.run_once()                                   # the 3 held ones: one digest
    m = upstream.wait_for(5)[4]
    assert m.parsed()["X-Outpost-Kind"] == "digest"
    assert spool.counts()["ready"] == 0


def test_5xx_for_one_recipient_dead_lettered_owner_told(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock)
    upstream.rcpt_reply["bad@example.org"] = "550 5.1.1 no such user"
    ids = add(spool, 1, rcpts=("ok@example.org", "bad@example.org"))
    relay.run_once()
    dead = spool.dead()
    assert [(d["id"], d["rcpt"], d["code"]) for d in dead] == [(ids[0], "bad@example.org", 550)]
    assert dead[0]["reply"].startswith("550 ") and "no such user" in dead[0]["reply"]
    relay.run_once()                                   # the owner's notice goes out next
    msgs = upstream.wait_for(2)
    assert msgs[0].rcpt_tos == ["ok@example.org"]
    assert mid_of(msgs[0]) == make_message_id(ids[0], SENDER)
    notice = msgs[1]
    assert notice.rcpt_tos == ["owner@example.org"]
    text = notice.parsed().get_content()
    assert "550 " in text and "no such user" in text and ids[0] in text
    assert relay.metrics.c["dead"] == 1


def test_auth_failure_pauses_and_notifies_once(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, password="wrong-pw")
    add(spool, 3)
    relay.run_once()
    assert relay.paused and "535" in relay.paused["reason"]
    assert "wrong-pw" not in relay.paused["reason"]
    assert all(r["attempts"] == 0 for r in spool.list("ready"))   # not the messages' fault
    assert relay.run_once() == pytest.approx(300.0)
    for _ in range(3):                                 # still failing: no second notice
        clock.advance(300)
        relay.run_once()
    notices = [r for r in spool.list(limit=100) if r["id"].startswith("gateway-paused")]
    assert len(notices) == 1
    relay.r = dict(relay.r, password="right-pw")       # the owner fixes it (a new config)
    clock.advance(300)
    relay.run_once()
    relay.run_once()
    assert relay.paused is None
    msgs = upstream.wait_for(5)                       # 3 alerts, the paused notice, the resumed notice
    subjects = [m.parsed()["Subject"] for m in msgs]
    assert sum("cannot send mail" in s for s in subjects) == 1
    assert sum("sends mail again" in s for s in subjects) == 1
    assert spool.counts()["ready"] == 0


def test_tls_failure_pauses(tmp_path, upstream, ca):
    clock = ManualClock()
    other = TestCA()
    cafile = tmp_path / "other.pem"
    cafile.write_bytes(other.ca_pem)
    # a CA that did not sign the server
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, ca=str(cafile))
    add(spool, 1)
    relay.run_once()
    assert relay.paused is not None
    assert upstream.messages == []
    assert spool.counts()["ready"] == 2                # the alert and the paused notice


def test_backlog_pipelined_on_one_reused_connection(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, batch=50, connections=1,
                                  digest=dict(threshold=1000, rate_per_hour=0))
    ids = add(spool, 120)
    while spool.counts()["ready"]:
        assert relay.run_once() == 0.0
    msgs = upstream.wait_for(120)
    assert len(upstream.connections) == 1
    assert sorted(mid_of(m) for m in msgs) == sorted(make_message_id(i, SENDER) for i in ids)
    relay.close()


def test_whole_messages_are_never_folded_into_a_digest(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock)
    for i in range(12):           # a backlog of LAN-submitted messages, over the digest threshold
        data = b"Subject: m%d\r\nMessage-ID: <lan-%d@lan.example>\r\n\r\nbody\r\n" % (i, i)
        spool.write([Alert("lan-%d@lan.example" % i, "board", "warning", "mail", "m%d" % i, "smtp", data,
                           ["ops@example.org"], raw=True, mail_from="board@lan.example")])
    relay.run_once()
    msgs = upstream.wait_for(12)
    assert sorted(m.data for m in msgs) == sorted(
        b"Subject: m%d\r\nMessage-ID: <lan-%d@lan.example>\r\n\r\nbody\r\n" % (i, i) for i in range(12))


def test_lifetime_exceeded_is_dead_and_owner_told(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, lifetime=100.0, probe_every=3600.0)
    ids = add(spool, 1)
    upstream.down()
    relay.run_once()                        # attempt 1 fails, retry in 10 s
    clock.advance(95)
    relay.run_once()                        # attempt 2 fails; the next would be past the lifetime
    dead = spool.dead()
    assert [(d["id"], d["rcpt"]) for d in dead] == [(ids[0], "ops@example.org")]
    assert "lifetime exceeded" in dead[0]["reply"]
    upstream.up()
    clock.advance(60)
    relay.run_once()
    notice = upstream.wait_for(1)[0]
    assert notice.rcpt_tos == ["owner@example.org"] and ids[0] in notice.parsed().get_content()


def test_one_unusable_message_does_not_sink_its_batch(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, digest=dict(threshold=1000))
    ids = add(spool, 3)
    # a raw message whose envelope sender usmtp must refuse (CR/LF injection)
    spool.write([Alert("raw-bad@lan.example", "board", "warning", "mail", "x", "smtp",
                       b"Subject: x\r\n\r\nx\r\n", ["ops@example.org"], raw=True,
                       mail_from="a@b.example\r\nRCPT TO:<evil@x.example>")])
    relay.run_once()
    msgs = upstream.wait_for(3)
    assert sorted(mid_of(m) for m in msgs) == sorted(make_message_id(i, SENDER) for i in ids)
    dead = spool.dead()
    assert [d["id"] for d in dead] == ["raw-bad@lan.example"]
    assert "CR, LF" in dead[0]["reply"]
    assert all("evil" not in (m.rcpt_tos[0]) for m in upstream.messages)


def test_retried_digest_keeps_its_message_id_members_and_content(tmp_path, upstream, ca):
    # a digest refused with a 4xx (or whose reply was lost) is retried as the very same message:
    # alerts arriving meanwhile are not folded into it, and its members never go out alone
    clock = ManualClock()
    t0 = clock.time()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, digest=dict(threshold=10, rate_per_hour=0))
    first = add(spool, 12)
    upstream.data_reply = ["451 4.3.0 try again later"]
    relay.run_once()
    assert upstream.messages == []
    vias = set(d["via"] for a in first for d in spool.show(a)["deliveries"])
    assert len(vias) == 1 and None not in vias          # `queue show` names the digest carrying it
    digest_mid = vias.pop()
    late = add(spool, 11, start=13)                     # a backlog of its own meanwhile
    relay.close()                                       # and a restart between the attempts
    spool.close()
    spool = Spool(str(tmp_path / "s.db"), clock).open()
    relay = Relay(cfg, spool, Metrics(), clock)
    clock.advance(10)
    relay.run_once()
    assert relay.run_once() > 0                         # nothing left due
    msgs = upstream.wait_for(2)
    assert len(msgs) == 2                               # two digests, no individual copies
    by_mid = dict((mid_of(m), m.parsed()) for m in msgs)
    assert digest_mid in by_mid
    old = by_mid.pop(digest_mid)
    assert old["X-Outpost-Kind"] == "digest" and "12 alerts" in old["Subject"]
    assert email.utils.parsedate_to_datetime(old["Date"]).timestamp() == int(t0)  # composed once
    listed = lambda m: set(line.rpartition("[")[2].rstrip("]") for line in m.get_content().splitlines()
                           if line.endswith("]"))
    assert listed(old) == set(first)
    new = list(by_mid.values())[0]
    assert new["X-Outpost-Kind"] == "digest" and listed(new) == set(late)
    c = spool.counts()
    assert (c["done"], c["ready"], c["sending"], c["dead"]) == (23, 0, 0, 0)
    assert relay.metrics.c["digests"] == 2


def test_revived_dead_digest_member_goes_out_again(tmp_path, upstream, ca):
    # a digest refused for good: `queue retry --dead` sends its alerts again, composed afresh
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, digest=dict(threshold=3, rate_per_hour=0))
    ids = add(spool, 3)
    upstream.data_reply = ["554 5.6.0 refused"]
    relay.run_once()
    assert sorted(d["id"] for d in spool.dead()) == sorted(ids)
    assert admin.retry(spool) == 3
    assert all(d["via"] is None for a in ids for d in spool.show(a)["deliveries"])
    upstream.rcpt_reply.clear()
    relay.run_once()
    upstream.wait_for(2)                                # the digest, and the owner's notices
    msgs = [m for m in upstream.messages if m.rcpt_tos == ["ops@example.org"]]
    assert len(msgs) == 1 and msgs[0].parsed()["X-Outpost-Kind"] == "digest"
    assert all("[%s]" % a in msgs[0].parsed().get_content() for a in ids)
    assert all(d["status"] == "done" for a in ids for d in spool.show(a)["deliveries"])


def add_resolved(spool, closes, seq, device="dev", rcpts=("ops@example.org",), subject=None):
    rec = record(device=device, seq=seq, state="resolved", closes=closes,
                 subject=subject or "temperature back to normal on %s" % device)
    spool.write([Alert(rec["id"], device, "warning", rec["kind"], rec["subject"], "test",
                       json.dumps(rec).encode(), list(rcpts))])
    return rec["id"]


def test_rate_limit_never_holds_a_resolved_whose_firing_was_sent(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, digest=dict(rate_per_hour=2, threshold=100))
    fired = add(spool, 2)                              # two episodes open: the hour's rate is used
    relay.run_once()
    assert len(upstream.wait_for(2)) == 2
    held = add(spool, 1, start=3)                      # a third firing is held by the rate...
    done = add_resolved(spool, fired[0], 10)           # ...the all-clear of a sent firing is not
    relay.run_once()
    msgs = upstream.wait_for(3)
    assert mid_of(msgs[2]) == make_message_id(done, SENDER)
    assert msgs[2].parsed()["In-Reply-To"] == make_message_id(fired[0], SENDER)
    assert [r["id"] for r in spool.list("ready")] == held
    # a resolved whose firing is still held waits with it (nobody was told the episode began)
    late = add_resolved(spool, held[0], 11)
    relay.run_once()
    assert len(upstream.messages) == 3
    assert sorted(r["id"] for r in spool.list("ready")) == sorted(held + [late])


def test_digest_folds_an_episode_that_opened_and_closed_in_the_backlog(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, digest=dict(threshold=4, rate_per_hour=0))
    upstream.down()
    ids = add(spool, 3)
    done = add_resolved(spool, ids[1], 20, subject="freezer.temperature back to -18 °C after 2 h")
    other = add_resolved(spool, "dev-1-99", 21)        # closes an alert outside this digest
    relay.run_once()
    clock.advance(3600)
    upstream.up()
    relay.run_once()
    msg = upstream.wait_for(1)[0]
    p = msg.parsed()
    assert p["X-Outpost-Kind"] == "digest"
    body = p.get_body().get_content()
    assert "Resolved within this digest: 1" in body
    lines = body.splitlines()
    i = [n for n, l in enumerate(lines) if "[" + ids[1] + "]" in l][0]
    assert "resolved dev  freezer.temperature back to -18 °C after 2 h  [" + done + "]" in lines[i + 1]
    assert sum(("[" + done + "]") in l for l in lines) == 1
    assert sum(("[" + other + "]") in l for l in lines) == 1   # its own line: its firing is not here
    assert spool.counts()["ready"] == 0
