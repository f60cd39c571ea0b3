# The spool's size is bounded by spool.keep_done_days: finished alerts older than it are purged,
# and compact() folds the WAL into the file and rewrites the file smaller (VACUUM) once more than
# half of it is free pages, as after a big backlog drained. The soak (bench/gateway_soak.py)
# prints the size over a long run; these check the mechanism itself.
import os

from gateway_helpers import fill_spool, record
from outpost_gateway.clock import ManualClock
from outpost_gateway.spool import Outcome, Spool

RCPT = "ops@example.org"
BODY = "x" * 3000       # a record with a few readings: fewer rows fill the pages compact() looks at


def backlog(sp, clock, first, n):
    # n alerts received now, relayed and done
    recs = [record(device="d%d" % (i % 4), seq=i, note=BODY) for i in range(first, first + n)]
    fill_spool(sp, recs, rcpts=(RCPT,))
    sp.finish([Outcome(r["id"], RCPT, "done", 1, clock.time()) for r in recs], clock.time())


def test_a_drained_backlog_is_purged_and_the_file_rewritten_smaller(tmp_path):
    clock = ManualClock()
    sp = Spool(str(tmp_path / "s.db"), clock).open()
    backlog(sp, clock, 0, 4000)
    assert sp.file_bytes() > 4000 * 3000
    # nothing old enough yet: compact folds the WAL but cannot shrink what is kept
    assert sp.purge_done(clock.time() - 3600.0) == 0
    _, kept = sp.compact()
    assert kept > 4000 * 3000
    clock.advance(7200.0)
    assert sp.purge_done(clock.time() - 3600.0) == 4000
    before, after = sp.compact()
    assert after < before / 4, (before, after)
    assert not os.path.exists(sp.path + "-wal") or os.path.getsize(sp.path + "-wal") == 0
    assert sp.counts() == {"ready": 0, "sending": 0, "done": 0, "dead": 0, "alerts": 0}
    sp.close()


def test_steady_traffic_reuses_the_freed_pages(tmp_path):
    # purged every round, the file stays at the high-water mark of what keep_done_days holds,
    # however many alerts pass through it
    clock = ManualClock()
    sp = Spool(str(tmp_path / "s.db"), clock).open()
    sizes = []
    for k in range(7):
        backlog(sp, clock, k * 500, 500)
        clock.advance(600.0)
        sp.purge_done(clock.time() - 900.0)     # keeps the last two rounds
        sp.compact()
        sizes.append(sp.file_bytes())
    assert max(sizes[3:]) <= sizes[2] * 1.1, sizes
    sp.close()
