# relay.connections against a real upstream (MailServer on loopback, implicit TLS + AUTH):
# a backlog is shared out over several kept-open connections, each alert on exactly one of
# them; an upstream that refuses some connections (421 at the greeting) makes the relay use
# fewer, with nothing charged or lost; one that refuses all is backed off as a whole.
import logging

import pytest

from outpost_gateway.clock import ManualClock
# the upstream and its CA are test_gateway_relay's fixtures, the same server and config builder
from test_gateway_relay import SENDER, add, ca, mid_of, relay_for, upstream  # noqa: F401
from usmtp.writer import make_message_id

NO_DIGEST = {"threshold": 10 ** 6, "rate_per_hour": 0}      # every alert its own message


def carried(srv):
    # connection -> the Message-IDs it carried
    return [[mid_of(m) for m in c.messages] for c in srv.connections]


def test_backlog_shared_over_connections_each_alert_once(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, batch=20, connections=4, digest=NO_DIGEST)
    ids = add(spool, 200)
    passes = 0
    while spool.counts()["ready"]:
        assert relay.run_once() == 0.0
        passes += 1
    msgs = upstream.wait_for(200)
    assert passes == 3                                   # 80 a pass: 20 on each of 4 connections
    per_conn = carried(upstream)
    assert len(per_conn) == 4                            # opened once, kept for the next passes
    assert all(len(c) == 50 for c in per_conn)
    flat = [m for c in per_conn for m in c]
    assert len(flat) == len(set(flat)) == 200            # no alert on two connections, none twice
    assert sorted(mid_of(m) for m in msgs) == sorted(make_message_id(i, SENDER) for i in ids)
    assert spool.counts()["done"] == 200
    relay.close()


def test_a_few_alerts_take_one_connection(tmp_path, upstream, ca):
    clock = ManualClock()
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, connections=4, digest=NO_DIGEST)
    add(spool, 3)
    relay.run_once()
    upstream.wait_for(3)
    assert len(upstream.connections) == 1
    relay.close()


def test_refused_connections_mean_fewer_not_lost(tmp_path, upstream, ca, caplog):
    clock = ManualClock()
    upstream.max_connections = 2
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, batch=10, connections=4, digest=NO_DIGEST)
    ids = add(spool, 120)
    with caplog.at_level(logging.WARNING, logger="outpost.relay"):
        assert relay.run_once() == 0.0
    assert "refused 2 of 4 connections" in caplog.text
    assert relay.parallel() == 2
    counts = spool.counts()
    assert counts["done"] == 20 and counts["ready"] == 100
    # the refused share is due at once and was not charged an attempt
    assert all(r["attempts"] == 0 and r["next_at"] <= clock.time() for r in spool.list("ready", 1000))
    while spool.counts()["ready"]:
        assert relay.run_once() == 0.0
    msgs = upstream.wait_for(120)
    assert sorted(mid_of(m) for m in msgs) == sorted(make_message_id(i, SENDER) for i in ids)
    assert sum(1 for c in upstream.connections if c.messages) == 2
    # after the hold the relay tries its full count again
    clock.advance(relay.LIMIT_HOLD)
    assert relay.parallel() == 4
    relay.close()


def test_all_connections_refused_backs_off_as_a_whole(tmp_path, upstream, ca):
    clock = ManualClock()
    upstream.greeting = "421 4.7.0 Too many connections, try later"
    cfg, spool, relay = relay_for(tmp_path, upstream, ca, clock, batch=10, connections=4, digest=NO_DIGEST,
                                  probe_every=3600.0)     # the down state's backoff, not the 2 s probe
    add(spool, 40)
    assert relay.run_once() == 0.0
    opened = len(upstream.connections)
    assert opened == 4
    assert relay.run_once() == pytest.approx(10.0)       # the whole relay waits, not per message
    assert len(upstream.connections) == opened           # and opened nothing meanwhile
    assert "upstream unreachable" in relay.last_result["result"]
    upstream.greeting = None
    clock.advance(10.0)
    while spool.counts()["ready"]:
        clock.advance(30.0)
        relay.run_once()
    assert spool.counts()["done"] == 40
    relay.close()
