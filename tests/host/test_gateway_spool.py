# The spool: durable group commit, dedupe, crash recovery, the full policy, operator commands.
import sqlite3
import threading

from gateway_helpers import record_bytes
from outpost_gateway import admin
from outpost_gateway.clock import ManualClock
from outpost_gateway import admin
from outpost_gateway.spool import Alert, Outcome, Seen, Spool


def alert(i, rcpts=("a@example.org",), severity="warning"):
    return Alert("dev-1-%d" % i, "dev", severity, "threshold", "subj %d" % i, "test",
                 record_bytes(device="dev", seq=i), list(rcpts))


def test_wal_and_full_sync(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    db = sp._db()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    sp.close()


def test_dedupe_by_alert_id(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    assert sp.write([alert(1), alert(2), alert(1)]) == ["new", "new", "dup"]
    assert sp.write([alert(2)]) == ["dup"]
    assert sp.counts()["alerts"] == 2
    assert sp.counts()["ready"] == 2
    sp.close()


def test_fan_out_one_delivery_per_recipient(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    sp.write([alert(1, rcpts=("a@example.org", "b@example.org"), severity="critical")])
    rows = sp.due(ManualClock().time() + 1, 10)
    assert sorted(r["rcpt"] for r in rows) == ["a@example.org", "b@example.org"]
    assert all(r["critical"] == 1 for r in rows)
    assert sp.pending() == 1
    sp.close()


def test_group_commit_answers_only_after_commit(tmp_path):
    # every callback must find its row already committed, seen from another connection
    path = str(tmp_path / "s.db")
    sp = Spool(path, ManualClock()).open()
    sp.start_writer()
    other = sqlite3.connect(path, check_same_thread=False)
    missing = []
    results = []
    done = threading.Event()
    n = 2000

    def cb_for(i):
        def cb(res):
            got = other.execute("SELECT 1 FROM alerts WHERE id=?", ("dev-1-%d" % i,)).fetchone()
            if got is None:
                missing.append(i)
            results.append(res)
            if len(results) == n:
                done.set()
        return cb

    for i in range(n):
        sp.submit(alert(i), cb_for(i))
    assert done.wait(30)
    sp.stop_writer()
    assert missing == []
    assert results.count("new") == n
    # many alerts share one commit
    assert sp.commits < n
    sp.close()


def test_stop_writer_answers_everything_queued(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    sp.start_writer()
    got = []
    for i in range(300):
        sp.submit(alert(i), got.append)
    sp.stop_writer()
    assert len(got) == 300
    sp.close()


def test_sending_rows_go_back_to_ready_on_open(tmp_path):
    clock = ManualClock()
    path = str(tmp_path / "s.db")
    sp = Spool(path, clock).open()
    sp.write([alert(1), alert(2)])
    sp.set_status([("dev-1-1", "a@example.org")], "sending", clock.time())
    assert sp.counts()["sending"] == 1
    sp.close()       # as if the process died here
    sp2 = Spool(path, clock).open()
    c = sp2.counts()
    assert c["sending"] == 0 and c["ready"] == 2
    sp2.close()


def test_full_spool_refuses_new_but_answers_duplicates(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), ManualClock(), max_pending=3).open()
    assert sp.write([alert(1), alert(2), alert(3)]) == ["new"] * 3
    assert sp.is_full()
    assert sp.write([alert(4), alert(1)]) == ["full", "dup"]
    # delivering one frees room
    now = ManualClock().time()
    sp.finish([Outcome("dev-1-1", "a@example.org", "done", 1, now, None, 250, None)], now)
    assert sp.write([alert(4)]) == ["new"]
    sp.close()


def test_finish_dead_letter_retry_purge(tmp_path):
    clock = ManualClock()
    sp = Spool(str(tmp_path / "s.db"), clock).open()
    sp.write([alert(1), alert(2)])
    now = clock.time()
    sp.finish([Outcome("dev-1-1", "a@example.org", "dead", 1, now, "550 5.1.1 no such user", 550, None),
               Outcome("dev-1-2", "a@example.org", "done", 1, now, None, 250, None)], now)
    dead = sp.dead()
    assert [(d["id"], d["code"], d["reply"]) for d in dead] == [("dev-1-1", 550, "550 5.1.1 no such user")]
    assert sp.pending() == 0
    assert sp.show("dev-1-1")["deliveries"][0]["status"] == "dead"
    assert admin.retry(sp) == 1
    assert sp.show("dev-1-1")["deliveries"][0]["status"] == "ready"
    assert admin.retry(sp, "nope") == 0
    # purge of finished alerts keeps waiting ones
    assert admin.purge(sp, older_than=now + 1) == 1
    assert sp.show("dev-1-2") is None
    assert sp.show("dev-1-1") is not None
    assert admin.purge(sp, alert_id="dev-1-1") == 1
    assert sp.counts()["alerts"] == 0
    sp.close()


def test_boards_learn_gap_and_last_will(tmp_path):
    clock = ManualClock()
    sp = Spool(str(tmp_path / "s.db"), clock).open()
    t = clock.time()
    for k in range(3):
        sp.write([Seen("b1", t + 60 * k)])
    b = sp.boards()[0]
    assert b["last_seen"] == t + 120 and abs(b["gap"] - 60) < 1e-6
    sp.write([Seen("b1", t + 130, "offline")])
    b = sp.boards()[0]
    assert b["status"] == "offline" and b["last_seen"] == t + 120
    sp.close()


def test_signs_of_life_in_one_commit_collapse_per_board(tmp_path):
    clock = ManualClock()
    sp = Spool(str(tmp_path / "s.db"), clock).open()
    t = clock.time()
    sp.write([Seen("b1", t)])
    assert sp.write([Seen("b1", t + 5), Seen("b1", t + 9), Seen("b2", t + 7)]) == ["seen"] * 3
    got = dict((b["device"], b["last_seen"]) for b in sp.boards())
    assert got == {"b1": t + 9, "b2": t + 7}
    sp.close()


def test_state_roundtrip(tmp_path):
    sp = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    assert sp.get_state("x", 5) == 5
    sp.set_state("x", {"a": 1})
    assert sp.get_state("x") == {"a": 1}
    sp.close()


def test_send_times_and_digests_kept_then_purged(tmp_path):
    clock = ManualClock()
    t0 = clock.time()
    sp = Spool(str(tmp_path / "s.db"), clock).open()
    sp.write([alert(1), alert(2), alert(3)])
    keys = [("dev-1-1", "a@example.org"), ("dev-1-2", "a@example.org")]
    sp.set_status(keys, "sending", t0, sends=[("a@example.org", t0)],
                  digests=[("<digest-x@example.org>", "a@example.org", b"the digest", keys)])
    sp.close()
    clock.advance(1800)
    sp = Spool(str(tmp_path / "s.db"), clock).open()          # a restart
    assert sp.recent_sends(clock.time() - 3600) == {"a@example.org": [t0]}
    # members are back to ready, still inside their digest; only the other alert is due alone
    assert [r["alert_id"] for r in sp.due(clock.time(), 10)] == ["dev-1-3"]
    assert sp.ready_count_by_rcpt(clock.time()) == {"a@example.org": 1}
    [(mid, rcpt, msg, rows)] = sp.pending_digests(clock.time())
    assert (mid, rcpt, msg) == ("<digest-x@example.org>", "a@example.org", b"the digest")
    assert sorted(r["alert_id"] for r in rows) == ["dev-1-1", "dev-1-2"]
    now = clock.time()
    sp.finish([Outcome(a, r, "done", 1, now, None, 250, mid) for a, r in keys], now)
    assert sp.pending_digests(now) == []
    clock.advance(3600)
    assert admin.purge(sp, older_than=clock.time()) == 2
    assert sp.recent_sends(0) == {}                           # older than the window: gone
    assert sp._db().execute("SELECT count(*) FROM digests").fetchone()[0] == 0
    sp.close()
