# lane: micropython
# The outbox journal: recovery after a cut at every byte, resend after reset, the full policy.
import os
from outpost import outbox

_n = [0]


def tmp(name):
    # a fresh path in /tmp when there is one (pytest, unix VM), else the current directory
    _n[0] += 1
    base = "outpost-test-" + name + "-" + str(_n[0]) + "-" + str(id(_n))
    try:
        os.stat("/tmp")
        base = "/tmp/" + base
    except OSError:
        pass
    for p in (base, base + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
    return base


def opened(name):
    # a fresh journal's path and its Outbox, opened
    p = tmp(name)
    ob = outbox.Outbox(p)
    ob.open()
    return p, ob


def rm(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


def rec(i, sev="warning", pad=0):
    return ('{"v":1,"id":"dev-1-' + str(i) + '","device":"dev","severity":"' + sev +
            '","kind":"test","subject":"s' + str(i) + '","body":"' + "x" * pad + '"}').encode()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def test_frame_roundtrip_and_scan():
    data = outbox.frame("A", b"hello") + outbox.frame("D", b"x")
    entries, skipped = outbox.scan(data)
    assert entries == [("A", b"hello"), ("D", b"x")]
    assert skipped == 0
    bad = bytearray(data)
    bad[5] ^= 1
    entries, skipped = outbox.scan(bytes(bad))
    assert entries == [("D", b"x")]
    assert skipped == len(outbox.frame("A", b"hello"))


def test_add_done_survive_reopen():
    p, ob = opened("reopen")
    ob.add(rec(1))
    ob.add(rec(2))
    ob.done("dev-1-1")
    ob2 = outbox.Outbox(p)
    assert ob2.open() == 0
    assert [x[0] for x in ob2.pending()] == ["dev-1-2"]
    assert ob2.pending()[0][2] == rec(2)
    rm(p)


def test_cut_at_every_byte_recovers_every_complete_record():
    p = tmp("cut")
    ob = outbox.Outbox(p, compact_at=1 << 20)
    ob.open()
    steps = []   # (journal length after the step, expected pending ids)
    ob.add(rec(1, "info"))
    steps.append((ob.size, ["dev-1-1"]))
    ob.add(rec(2, "critical"))
    steps.append((ob.size, ["dev-1-1", "dev-1-2"]))
    ob.done("dev-1-1")
    steps.append((ob.size, ["dev-1-2"]))
    ob.add(rec(3))
    steps.append((ob.size, ["dev-1-2", "dev-1-3"]))
    ob.fail("dev-1-2", "550 no such user")
    steps.append((ob.size, ["dev-1-3"]))
    ob.add(rec(4, "critical", 40))
    steps.append((ob.size, ["dev-1-3", "dev-1-4"]))
    with open(p, "rb") as f:
        full = f.read()
    assert len(full) == steps[-1][0]
    originals = [rec(1, "info"), rec(2, "critical"), rec(3), rec(4, "critical", 40)]
    q = tmp("cutcopy")
    for cut in range(len(full) + 1):
        write(q, full[:cut])
        expect = []
        for size, ids in steps:
            if size <= cut:
                expect = ids
        r = outbox.Outbox(q, compact_at=1 << 20)
        r.open()
        got = sorted([x[0] for x in r.pending()])
        assert got == sorted(expect), (cut, got, expect)
        for x in r.pending():
            assert x[2] in originals
        # the journal stays usable after recovery: a new record survives another reopen
        r.add(rec(9))
        r2 = outbox.Outbox(q, compact_at=1 << 20)
        assert r2.open() == 0, cut
        assert sorted([x[0] for x in r2.pending()]) == sorted(expect + ["dev-1-9"])
    rm(p)
    rm(q)


def test_garbage_in_the_middle_is_skipped():
    p = tmp("mid")
    data = outbox.frame("A", rec(1)) + b"\xa7\x41\x7f\xffjunk" + outbox.frame("A", rec(2))
    write(p, data)
    ob = outbox.Outbox(p)
    assert ob.open() > 0
    assert [x[0] for x in ob.pending()] == ["dev-1-1", "dev-1-2"]
    rm(p)


def test_reset_during_send_resends_same_record():
    p, ob = opened("reset")
    ob.add(rec(7, "critical"))
    # power lost while sending: no done frame was written
    again = outbox.Outbox(p)
    again.open()
    assert again.pending() == [("dev-1-7", "critical", rec(7, "critical"))]
    again.done("dev-1-7")
    third = outbox.Outbox(p)
    third.open()
    assert third.pending() == []
    rm(p)


def test_duplicate_add_is_ignored():
    p, ob = opened("dup")
    ob.add(rec(1))
    size = ob.size
    assert ob.add(rec(1)) == []
    assert ob.size == size and len(ob) == 1
    rm(p)


def test_full_outbox_drops_oldest_info_first():
    p = tmp("full")
    logs = []
    room = len(rec(1, "critical", 200)) + len(rec(2, "info", 200)) + len(rec(3, "warning", 200)) + \
        len(rec(4, "info", 200)) + 10
    ob = outbox.Outbox(p, max_bytes=room, compact_at=1 << 20, log=logs.append)
    ob.open()
    ob.add(rec(1, "critical", 200))
    ob.add(rec(2, "info", 200))
    ob.add(rec(3, "warning", 200))
    ob.add(rec(4, "info", 200))
    assert ob.add(rec(5, "warning", 200)) == ["dev-1-2"]
    assert ob.add(rec(6, "critical", 200)) == ["dev-1-4"]
    assert ob.add(rec(7, "critical", 200)) == ["dev-1-3"]
    # only critical left: a new info record is the one refused
    assert ob.add(rec(8, "info", 200)) == ["dev-1-8"]
    assert ob.dropped == 4
    assert len(logs) == 4 and "DROPPED dev-1-2" in logs[0]
    ids = sorted([x[0] for x in ob.pending()])
    assert ids == ["dev-1-1", "dev-1-5", "dev-1-6", "dev-1-7"]
    # critical first in sending order, oldest first within a severity
    assert [x[0] for x in ob.pending()] == ["dev-1-1", "dev-1-6", "dev-1-7", "dev-1-5"]
    re = outbox.Outbox(p, max_bytes=room)
    re.open()
    assert re.dropped == 4
    assert sorted([x[0] for x in re.pending()]) == ids
    rm(p)


def test_compaction_bounds_the_journal_and_keeps_counts():
    p = tmp("compact")
    ob = outbox.Outbox(p, max_bytes=2048, compact_at=4096)
    ob.open()
    ob.add(rec(0, "critical"))
    for i in range(1, 200):
        ob.add(rec(i))
        ob.done("dev-1-" + str(i))
    ob.fail("dev-1-0", "554 rejected")
    assert os.stat(p)[6] <= 4096
    re = outbox.Outbox(p)
    re.open()
    assert re.pending() == [] and re.dead == 1
    # two appends per alert: the add and the outcome (plus the rare compaction)
    assert ob.writes <= 2 * 200 + 12
    rm(p)


def test_cut_compaction_keeps_the_old_journal():
    p, ob = opened("cutcompact")
    ob.add(rec(1))
    write(p + ".tmp", b"\xa7partial")
    re = outbox.Outbox(p)
    re.open()
    assert [x[0] for x in re.pending()] == ["dev-1-1"]
    # compaction cut after removing the journal but before the rename
    ob.compact()
    os.rename(p, p + ".tmp")
    re = outbox.Outbox(p)
    re.open()
    assert [x[0] for x in re.pending()] == ["dev-1-1"]
    rm(p)


def test_record_without_id_is_refused():
    p, ob = opened("noid")
    try:
        ob.add(b'{"v":1}')
    except ValueError as e:
        assert "id" in str(e)
    else:
        assert False, "no error"
    rm(p)
