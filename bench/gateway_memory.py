# Resident memory (printed, not asserted) of a gateway process with 100,000 alerts queued in
# its spool and the upstream unreachable (so they stay queued), next to the same gateway with
# an empty spool. The alerts live in SQLite on disk; memory should not grow with the queue.
import sys
import time

from gateway_common import Gateway, free_port, record, tmpdir

from gateway_helpers import fill_spool, make_cfg
from outpost_gateway.clock import SystemClock
from outpost_gateway.spool import Spool

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000


def fill(tmp, n):
    cfg = make_cfg(tmp)
    import os
    os.makedirs(cfg["gateway"]["state_dir"], exist_ok=True)
    spool = Spool(os.path.join(cfg["gateway"]["state_dir"], "spool.db"), SystemClock()).open()
    fill_spool(spool, (record(device="mem%d" % (i % 20), seq=i) for i in range(n)), source="bench", batch=5000)
    spool.close()


def measure(n):
    tmp = tmpdir("memory")
    if n:
        fill(tmp, n)
    dead_port = free_port()          # nothing listens there: the relay keeps everything queued
    gw = Gateway(tmp, relay={"port": dead_port, "mode": "plain", "backoff_base": 1.0},
                 digest={"threshold": 10 ** 9})
    try:
        # let the relay make its passes over the queue and the status loop run
        gw.wait(lambda: gw.metrics()["outpost_retried_total"] >= min(n, 50) if n else True, 120)
        time.sleep(3)
        m = gw.metrics()
        rss = gw.rss_kib()
        print("gateway RSS with %6d alerts queued: %.1f MiB (spool depth %d, oldest %.0f s)"
              % (n, rss / 1024.0, m["outpost_spool_depth"], m["outpost_oldest_alert_age_seconds"]))
    finally:
        gw.stop()


if __name__ == "__main__":
    measure(0)
    measure(N)
