# The relay settles every message by what the upstream said, whatever breaks mid-batch: an
# upstream on loopback (tests/peers/faultsmtp.py) injects each fault at each position of a
# pipelined batch. After the run: every alert reached the upstream exactly once with a 250 (or
# is dead after a 5xx, with the owner told), nothing answered 250 was ever sent again, no empty
# message went out, and a retry sent the very bytes of the first attempt.
import json

import pytest

from gateway_helpers import make_cfg, record
from outpost_gateway.clock import ManualClock
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.spool import Alert, Spool
from peers.faultsmtp import FAULTS, PERMANENT, FaultServer
from usmtp.writer import make_message_id

SENDER = "outpost@example.org"
BATCH = 3


def setup(tmp_path, srv, n):
    clock = ManualClock(1700000000.0)
    cfg = make_cfg(tmp_path, relay={"host": "127.0.0.1", "port": srv.port, "mode": "plain",
                                    "timeout": 2.0, "data_timeout": 2.0, "sender": SENDER, "batch": BATCH,
                                    "backoff_base": 10.0, "backoff_factor": 2.0, "jitter": 0.0},
                   digest={"threshold": 1000, "rate_per_hour": 0})
    spool = Spool(str(tmp_path / "s.db"), clock).open()
    ids = []
    for i in range(1, n + 1):
        rec = record(device="dev", seq=i)
        spool.write([Alert(rec["id"], "dev", "warning", rec["kind"], rec["subject"], "test",
                           json.dumps(rec).encode(), ["ops@example.org"])])
        ids.append(rec["id"])
    return clock, spool, Relay(cfg, spool, Metrics(), clock), ids


def drain(clock, spool, relay, passes=40):
    for _ in range(passes):
        wait = relay.run_once()
        c = spool.counts()
        if c["ready"] == 0 and c["sending"] == 0:
            return
        clock.advance(max(wait, 1.0))
    raise AssertionError("the relay did not settle everything: %r" % spool.counts())


def check_run(srv, spool, ids, dead_ids):
    mids = {make_message_id(i, SENDER): i for i in ids}
    # nothing answered 250 was sent a second time, and no empty or anonymous message
    assert srv.accepted_after_250() == []
    assert all(t.data and t.mid for t in srv.transfers)
    got = {}
    for t in srv.accepted():
        got[t.mid] = got.get(t.mid, 0) + 1
    for mid, aid in mids.items():
        assert got.get(mid, 0) == (0 if aid in dead_ids else 1), (aid, got)
    assert sorted(d["id"] for d in spool.dead()) == sorted(dead_ids)
    return mids


# position BATCH+1 opens the second batch, sent on the connection the first one kept open
@pytest.mark.parametrize("pos", range(1, BATCH + 2))
@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_at_each_batch_position(tmp_path, fault, pos):
    with FaultServer(fault, conn=1, pos=pos) as srv:
        clock, spool, relay, ids = setup(tmp_path, srv, 2 * BATCH)
        try:
            drain(clock, spool, relay)
        finally:
            relay.close()
        hit = ids[pos - 1]
        mids = check_run(srv, spool, ids, [hit] if fault in PERMANENT else [])
        # a retry sent the same bytes as the first attempt
        by_mid = {}
        for t in srv.transfers:
            by_mid.setdefault(t.mid, set()).add(t.data)
        assert all(len(v) == 1 for m, v in by_mid.items() if m in mids)
        c = spool.counts()
        notices = [t for t in srv.accepted() if b"X-Outpost-Kind: dead-letter" in t.data]
        if fault in PERMANENT:
            # the owner was told, and the notice itself went out
            assert len(notices) == 1 and hit.encode() in notices[0].data
        else:
            assert notices == [] and c["dead"] == 0
        assert c["ready"] == 0 and c["sending"] == 0


@pytest.mark.parametrize("refusal", [f for f in FAULTS if f.startswith(("5", "4")) and "421" not in f])
@pytest.mark.parametrize("breaks", ["hangup-mail", "stall-mail"])
def test_refusal_then_broken_batch_settles_the_refused_one(tmp_path, refusal, breaks):
    # a refusal inside a pipelined batch is that message's outcome even when the connection
    # breaks later in the same batch: a 5xx is dead at once (not retried, no copy upstream),
    # a 4xx is retried; the message after the break is retried; the one before it is done
    with FaultServer(plan={(1, 1): refusal, (1, 2): breaks}) as srv:
        clock, spool, relay, ids = setup(tmp_path, srv, BATCH)
        try:
            drain(clock, spool, relay)
        finally:
            relay.close()
        check_run(srv, spool, ids, [ids[0]] if refusal in PERMANENT else [])
        if refusal in PERMANENT:
            d = spool.dead()[0]
            assert d["reply"].startswith(refusal[:3]) and spool.show(ids[0])["deliveries"][0]["attempts"] == 1


@pytest.mark.slow
def test_many_alerts_under_faults_lose_and_repeat_nothing(tmp_path):
    # a longer run: each fault in turn hits the first batch of a fresh upstream connection
    n = 4 * BATCH
    for k, fault in enumerate(FAULTS):
        d = tmp_path / ("run%d" % k)
        d.mkdir()
        with FaultServer(fault, conn=1, pos=1 + k % BATCH) as srv:
            clock, spool, relay, ids = setup(d, srv, n)
            try:
                drain(clock, spool, relay)
            finally:
                relay.close()
            assert srv.accepted_after_250() == []
            mids = [t.mid for t in srv.accepted() if b"dead-letter" not in t.data]
            want = n - (1 if fault in PERMANENT else 0)
            assert len(mids) == len(set(mids)) == want, fault
