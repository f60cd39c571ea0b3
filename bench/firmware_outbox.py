"""Outbox journal figures (printed, never asserted):

    .venv/bin/python bench/firmware_outbox.py

1. flash writes and bytes written per alert (add + done), and how often compaction runs
2. recovery (open) time for a journal holding N pending records
3. cut-at-every-byte recovery of a 20-record journal: offsets tried, records recovered in all
"""
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "lib")]

from outpost import outbox  # noqa: E402


def rec(i, sev="warning", pad=120):
    return ('{"v":1,"id":"bench-1-%d","device":"bench","severity":"%s","kind":"threshold",'
            '"subject":"freezer.temperature is -5 C, above -12 C","body":"%s"}' % (i, sev, "x" * pad)).encode()


def main():
    d = tempfile.mkdtemp()
    path = os.path.join(d, "outbox.log")
    ob = outbox.Outbox(path)
    ob.open()
    n = 2000
    written = 0
    compactions = 0
    for i in range(n):
        before = ob.size
        ob.add(rec(i))
        ob.done("bench-1-%d" % i)
        if ob.size < before:
            compactions += 1
        written += len(outbox.frame("A", rec(i))) + len(outbox.frame("D", ("bench-1-%d" % i).encode()))
    print("per alert: %.2f flash writes (appends + compactions), %d bytes appended (record %d bytes)"
          % (ob.writes / n, written // n, len(rec(0))))
    print("compactions over %d alerts: %d (journal stays under %d bytes)" % (n, ob.writes - 2 * n, ob.compact_at))

    for k in (10, 100, 150):
        p = os.path.join(d, "pending-%d.log" % k)
        o = outbox.Outbox(p, max_bytes=1 << 20, compact_at=1 << 22)
        o.open()
        for i in range(k):
            o.add(rec(i))
        t = time.perf_counter()
        for _ in range(20):
            r = outbox.Outbox(p, max_bytes=1 << 20, compact_at=1 << 22)
            r.open()
        dt = (time.perf_counter() - t) / 20
        print("recovery of %d pending records (%d bytes): %.2f ms (CPython)" % (k, os.path.getsize(p), dt * 1000))

    p = os.path.join(d, "cut.log")
    o = outbox.Outbox(p, compact_at=1 << 22)
    o.open()
    for i in range(20):
        o.add(rec(i, pad=20))
    with open(p, "rb") as f:
        full = f.read()
    q = os.path.join(d, "cut-copy.log")
    t = time.perf_counter()
    total = 0
    for cut in range(len(full) + 1):
        with open(q, "wb") as f:
            f.write(full[:cut])
        r = outbox.Outbox(q, compact_at=1 << 22)
        r.open()
        total += len(r)
    dt = time.perf_counter() - t
    print("cut at every byte of a %d-byte, 20-record journal: %d offsets in %.2f s, %d records recovered in all"
          % (len(full), len(full) + 1, dt, total))


if __name__ == "__main__":
    main()
