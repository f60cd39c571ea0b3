# What the status page costs at the readings' bound (printed, not asserted): a spool holding
# readings.max_rows readings (default 500,000: 20 boards x 5 readings, one message a minute,
# about 3.5 days) and 2,000 alerts. Prints the spool's size on disk, and the CPU time (this
# process) of /api/boards, /api/queue and one 24 h chart, each built as the HTTP handler builds
# it. CPU time, so a shared machine changes the figures less than wall time would.
#   python bench/gateway_page.py [ROWS]
import json
import os
import sys
import time

import gateway_common  # noqa: F401 (import paths)
from gateway_common import tmpdir

from gateway_helpers import make_cfg, record
from outpost_gateway import overview
from outpost_gateway.clock import ManualClock
from outpost_gateway.service import open_spool
from outpost_gateway.spool import Alert, Readings, Seen

ROWS = int(sys.argv[1]) if len(sys.argv) > 1 else 500000
BOARDS, NAMES = 20, ("temp", "hum", "soil", "light", "battery")


def cpu(fn, n=5):
    # best of n: CPU seconds of one call
    best = None
    for _ in range(n):
        t = time.process_time()
        fn()
        d = time.process_time() - t
        best = d if best is None else min(best, d)
    return best


def main():
    tmp = tmpdir("page")
    now = 1_800_000_000.0
    clock = ManualClock(now)
    cfg = make_cfg(tmp, readings={"max_rows": ROWS})
    sp = open_spool(cfg, clock)
    msgs = ROWS // (BOARDS * len(NAMES))
    t0 = time.monotonic()
    batch = []
    for i in range(msgs):
        at = now - (msgs - i) * 60.0
        for b in range(BOARDS):
            batch.append(Readings("board%02d" % b, at, dict((n, float((i + b) % 40)) for n in NAMES)))
        if len(batch) >= 2000:
            sp.write(batch)
            batch = []
    sp.write(batch)
    sp.write([Seen("board%02d" % b, now, "online", True) for b in range(BOARDS)])
    alerts = []
    for k in range(2000):
        r = record(device="board%02d" % (k % BOARDS), seq=k, state="firing",
                   readings={"temp": {"value": 31.0, "unit": "C"}})
        alerts.append(Alert(r["id"], r["device"], r["severity"], r["kind"], r["subject"], "mqtt",
                            json.dumps(r).encode(), ["ops@example.org"]))
    sp.write(alerts)
    fill = time.monotonic() - t0
    sp.trim_readings(now)
    rows = sp._db().execute("SELECT count(*) FROM readings").fetchone()[0]
    sp._db().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = os.path.getsize(sp.path)
    print("gateway status page at the readings bound (uptime: %s)" % os.popen("uptime").read().strip())
    print("  readings rows: %d (%d boards x %d readings x %d messages), alerts: 2000" %
          (rows, BOARDS, len(NAMES), msgs))
    print("  spool on disk: %.1f MB (%.0f bytes per reading row, alerts included); filled in %.1f s" %
          (size / 1e6, size / max(rows, 1), fill))
    print("  /api/boards: %.1f ms CPU" % (1000 * cpu(lambda: json.dumps(overview.boards(cfg, sp, now)))))
    print("  /api/queue:  %.1f ms CPU" % (1000 * cpu(lambda: json.dumps(overview.queue(sp, now)))))
    print("  one chart (24 h, %d points thinned to the plot's width): %.1f ms CPU" % (
        min(msgs, 1440), 1000 * cpu(lambda: overview.chart(sp, "board00", "temp", now))))
    sp.close()


if __name__ == "__main__":
    main()
