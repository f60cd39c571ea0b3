# Planning and settling against a scripted upstream (tests/host/scripted_upstream.py), time as
# a parameter: each message is recorded as its reply arrives; every retry waits at least its
# backoff, replayed over seeded fault schedules; and when the upstream comes back after an
# outage, what waited on it goes at once, oldest first.
import json
import random

import pytest

from gateway_helpers import make_cfg, record
from outpost_contract.rules import backoff
from outpost_gateway.clock import ManualClock
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.spool import Alert, Spool
from scripted_upstream import CONNECTION_FAULTS, ScriptedUpstream
from usmtp.writer import make_message_id

SENDER = "outpost@example.org"
RELAY = {"sender": SENDER, "backoff_base": 0.5, "backoff_factor": 2.0, "backoff_max": 4.0,
         "jitter": 0.2, "batch": 5, "lifetime": 86400.0}


def setup(tmp_path, clock, upstream, seed=1, **relay):
    r = dict(RELAY)
    r.update(relay)
    cfg = make_cfg(tmp_path, relay=r, digest={"threshold": 1000, "rate_per_hour": 0},
                   routing={"owner": "", "default": ["ops@example.org"]})
    spool = Spool(str(tmp_path / "s.db"), clock).open()
    relay = Relay(cfg, spool, Metrics(), clock, rand=random.Random(seed).random, upstream=upstream)
    return spool, relay


def add(spool, seq, device="dev"):
    rec = record(device=device, seq=seq)
    spool.write([Alert(rec["id"], device, "warning", rec["kind"], rec["subject"], "test",
                       json.dumps(rec).encode(), ["ops@example.org"])])
    return rec["id"]


def drive(clock, relay, until, events=None):
    # run the relay loop the way the gateway does: time advances only by what the relay waits
    # (cut short by the next event: new work wakes it) and by what the scripted upstream
    # costs; events: {time: fn}, each run once the clock reaches its time
    events = dict(events or {})
    while clock.time() < until:
        for t in sorted(events):
            if clock.time() >= t:
                events.pop(t)()
        wait = relay.run_once()
        if wait > 0:
            nxt = min(list(events) + [until])
            clock.advance(max(1e-3, min(wait, nxt - clock.time())))


def test_each_message_is_recorded_before_the_next_goes(tmp_path):
    clock = ManualClock()
    steps = ["250", "451 4.2.0 busy", "250", "550 5.1.1 no such user", "250"]
    seen = []
    up = ScriptedUpstream(clock, script=lambda mid, n: steps[len(up.attempts)] if n == 1 else "250")
    spool, relay = setup(tmp_path, clock, up)
    ids = [add(spool, i) for i in range(1, 6)]
    watcher = Spool(str(tmp_path / "s.db"), clock, readonly=True).open()

    def look(mid, step):
        # the upstream's reply to this message is in the spool before the next message goes
        aid = ids[[make_message_id(i, SENDER) for i in ids].index(mid)]
        d = watcher.show(aid)["deliveries"][0]
        seen.append((aid, d["status"], d["attempts"]))
    up.on_reply = look
    relay.run_once()
    assert seen == [(ids[0], "done", 1), (ids[1], "ready", 1), (ids[2], "done", 1),
                    (ids[3], "dead", 1), (ids[4], "done", 1)]
    # a crash now would re-send nothing: no row is left "sending"
    assert spool.counts()["sending"] == 0


def test_a_crash_mid_batch_resends_only_the_message_in_flight(tmp_path):
    # the gateway dies (here: the pass is torn down) between the upstream's 250 for the third
    # message and anything after it; a fresh gateway on the same spool sends only what was
    # never answered, the same Message-IDs
    clock = ManualClock()

    class Crash(BaseException):
        pass

    up = ScriptedUpstream(clock)

    def crash(mid, step):
        if len(up.attempts) == 3:
            raise Crash()
    up.on_reply = crash
    spool, relay = setup(tmp_path, clock, up)
    ids = [add(spool, i) for i in range(1, 6)]
    with pytest.raises(Crash):
        relay.run_once()
    spool.close()
    up.on_reply = None
    spool2, relay2 = setup(tmp_path, clock, up)       # opening requeues what was "sending"
    relay2.run_once()
    mids = [a.mid for a in up.accepted()]
    assert mids == [make_message_id(i, SENDER) for i in ids]     # each once, in order
    assert spool2.counts()["done"] == 5


def floor(n):
    return backoff(n, RELAY["backoff_base"], RELAY["backoff_factor"], RELAY["backoff_max"]) * \
        (1 - RELAY["jitter"])


@pytest.mark.parametrize("seed", range(12))
def test_every_retry_waits_its_backoff_over_seeded_fault_schedules(tmp_path, seed):
    rnd = random.Random(seed)
    clock = ManualClock()
    steps = (["250"] * 10 + ["451 4.7.1 greylisted"] * 3 + ["452 4.2.2 mailbox full"] +
             ["421", "stall", "hangup", "550 5.7.1 refused"])
    schedule = {}

    def script(mid, n):
        # the same seed, the same faults for the same message and attempt
        return schedule.setdefault((mid, n), rnd.choice(steps) if n < 8 else "250")
    up = ScriptedUpstream(clock, script=script, timeout=62.0)
    spool, relay = setup(tmp_path, clock, up, seed=seed)
    # the attempts the relay had counted for a message when it sent it
    up.charged = lambda mid: spool.show(mid.strip("<>").rpartition("@")[0])["deliveries"][0]["attempts"]
    t0 = clock.time()
    events = {}
    for i in range(1, 31):
        events[t0 + rnd.uniform(0, 60)] = (lambda i=i: add(spool, i))
    for k in range(2):                       # two outages
        t = t0 + rnd.uniform(5, 80)
        events[t] = lambda: setattr(up, "down", True)
        events[t + rnd.uniform(1, 20)] = lambda: setattr(up, "down", False)
    drive(clock, relay, t0 + 1000.0, events)
    c = spool.counts()
    assert c["ready"] == 0 and c["sending"] == 0 and c["done"] + c["dead"] == 30
    by_mid = {}
    for a in up.attempts:
        by_mid.setdefault(a.mid, []).append(a)
    answers = sorted([a.at for a in up.attempts if a.step == "250"] + [t for t, ok in up.probes if ok])
    checked = 0
    for mid, tries in by_mid.items():
        assert [t.step for t in tries].count("250") <= 1           # never again after a 250
        for j in range(1, len(tries)):
            a, b = tries[j - 1], tries[j]
            n = b.charged
            if a.step in CONNECTION_FAULTS and any(a.at < t < b.at for t in answers):
                continue          # released: the upstream answered again since (see below)
            assert b.at - a.at >= floor(n) - 1e-9, (seed, mid, [(t.at, t.step) for t in tries], n)
            checked += 1
    assert checked > 0


def test_upstream_back_the_queue_goes_at_once_oldest_first(tmp_path):
    clock = ManualClock()
    up = ScriptedUpstream(clock)
    spool, relay = setup(tmp_path, clock, up, backoff_base=30.0, backoff_max=3600.0, jitter=0.0)
    t0 = clock.time()
    up.down = True
    ids = []
    # five alerts come during the outage, one every 20 s; each wakes the relay, which tries,
    # backs off (the oldest, tried first, is charged most), and probes on its own backoff
    events = dict((t0 + 20 * k, (lambda k=k: ids.append(add(spool, k + 1)))) for k in range(5))
    back = t0 + 300.0
    events[back] = lambda: setattr(up, "down", False)
    drive(clock, relay, back + 60, events)
    got = up.accepted()
    assert [a.mid for a in got] == [make_message_id(i, SENDER) for i in ids]     # in order
    # all five within 2 s of the upstream's return (relay.probe_every, 2 s by default: the
    # relay notices it at its next probe, then everything goes in one pass)
    assert all(0 < a.at - back <= 2.0 for a in got), [a.at - back for a in got]
    probe = next(t for t, ok in up.probes if ok)
    assert back <= probe <= back + 2.0
    # the probes came relay.probe_every apart (plus what a refused connect costs the scripted
    # upstream), and no alert was tried during the outage after the destination was found down
    fails = [t for t, ok in up.probes if not ok]
    gaps = [b - a for a, b in zip(fails, fails[1:])]
    assert gaps and max(gaps) <= 2.0 + 0.5, max(gaps)
    assert spool.list("ready") == [] and up.attempts == got
