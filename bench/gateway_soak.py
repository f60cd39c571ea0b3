# Gateway soak (printed, not asserted; tests/host/test_gateway_soak.py is the short version that
# asserts): N alerts published over MQTT at QoS 1 through a real gateway process (MQTT ingress ->
# spool -> relay over 4 connections) to an upstream injecting faults (451/452 at RCPT, 421 at
# MAIL, hang-ups before and after the data), with the broker restarted RESTARTS times and the
# gateway SIGKILLed KILLS times. Prints lost (goal 0), duplicates per crash (goal <= 1 per
# connection), the gateway's RSS at the run's start and end (goal: flat within 10%) and per
# process (each restarted process warms up again: SQLite's page cache), the spool's size (file +
# WAL) over the run against spool.keep_done_days (goal: bounded), and publish -> upstream 250.
# Upstream faults come at a rate: about one message in FAULT_EVERY on each connection.
#   python bench/gateway_soak.py [N] [KILLS] [RESTARTS] [KEEP_SECONDS] [RATE alerts/s] [FAULT_EVERY] [CONNECTIONS]
# A progress line every minute (published, transfers upstream, RSS, spool size, load).
import signal
import sys

from gateway_common import tmpdir

import soak_run

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
KILLS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
RESTARTS = int(sys.argv[3]) if len(sys.argv) > 3 else 2
KEEP = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
RATE = float(sys.argv[5]) if len(sys.argv) > 5 else 50.0
FAULT_EVERY = int(sys.argv[6]) if len(sys.argv) > 6 else 1000
CONNECTIONS = int(sys.argv[7]) if len(sys.argv) > 7 else 4


def main():
    load = open("/proc/loadavg").read().split()[0]
    r = soak_run.run(tmpdir("soak"), n=N, chunk=max(1, int(RATE)), kills=KILLS, restarts=RESTARTS, keep_seconds=KEEP,
                     timeout=max(600.0, N / 50.0), rate=RATE, fault_every=FAULT_EVERY, connections=CONNECTIONS, warm=20.0, progress=60.0,
                     log=lambda s: print("  " + s, flush=True))
    print("gateway soak: %d alerts over MQTT at %.0f/s, %d gateway SIGKILLs, %d broker restarts, %d upstream"
          " connections, %d upstream faults injected (about 1 message in %d); %.0f s; load average %s at start, %s at end"
          % (N, RATE, KILLS, RESTARTS, CONNECTIONS, r["faults"], FAULT_EVERY, r["seconds"], load, open("/proc/loadavg").read().split()[0]))
    print("  lost: %d (goal 0)" % len(r["lost"]))
    print("  duplicates: %d; per crash %s (goal <= %d each)" % (r["duplicates"], r["per_crash"], r["connections"]))
    for i, (a, b) in enumerate(r["rss"]):
        print("  gateway process %d: RSS %s KiB 20 s after start, %s KiB at its end%s"
              % (i + 1, a, b, "" if not (a and b) else " (%+.1f%%)" % (100.0 * (b - a) / a)))
    firsts = [a for a, b in r["rss"] if a and b]
    if firsts:
        # the run's start (the first process, warmed) against its end (the last process): a leak
        # over the whole run shows here, a process's own warm-up does not
        a, b = firsts[0], [b for a2, b in r["rss"] if a2 and b][-1]
        print("  gateway RSS over the run: %d KiB at its start, %d KiB at its end (%+.1f%%; goal: flat"
              " within 10%%)" % (a, b, 100.0 * (b - a) / a))
    s = r["spool_samples"]
    if s:
        t0 = s[0][0]
        marks = [s[int(len(s) * k / 10)] for k in range(10)] + [s[-1]]
        print("  spool file + WAL, keep_done_days = %.0f s: max %.1f MB, end %.1f MB; over the run: %s"
              % (KEEP, r["spool_max"] / 1e6, r["spool_end"] / 1e6,
                 ", ".join("%.0fs %.1fMB" % (m[0] - t0, m[2] / 1e6) for m in marks)))
    print("  alerts left in the spool at the end (finished ones purged): %d" % r["alerts_left"])
    print("  publish -> upstream 250: p50 %.3f s, p99 %.3f s (the boards publish a burst each second at"
          " that average rate; a kill or a broker restart holds what is in flight)" % (r["p50"], r["p99"]))


if __name__ == "__main__":
    # a SIGTERM (the bench stopped early) unwinds: the gateway, broker and upstream are ended
    signal.signal(signal.SIGTERM, lambda *a: sys.exit("stopped by SIGTERM"))
    main()
