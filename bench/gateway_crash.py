# Duplicates per crash (printed, not asserted): a real gateway process relaying a pipelined
# backlog over relay.connections upstream connections is killed with SIGKILL at random points
# of its batches, KILLS times, then left to finish. Prints, per crash, how many messages the
# upstream accepted before the crash and again after it (goal: at most one per connection,
# always the same Message-ID), and whether anything was lost (goal: nothing).
#   python bench/gateway_crash.py [KILLS] [N] [CONNECTIONS]
import random
import sys

from gateway_common import tmpdir

import relay_crash

KILLS = int(sys.argv[1]) if len(sys.argv) > 1 else 40
N = int(sys.argv[2]) if len(sys.argv) > 2 else 4000
CONNS = int(sys.argv[3]) if len(sys.argv) > 3 else 4


def main():
    r = relay_crash.run(tmpdir("crash"), random.Random(KILLS * 1000 + N), n=N, kills=KILLS,
                        connections=CONNS, batch=50, timeout=300.0)
    per = r["per_crash"]
    lost = len(r["want"] - set(r["count"]))
    print("gateway crash: %d alerts, %d SIGKILLs mid-batch, relay.connections %d, relay.batch 50"
          % (N, KILLS, CONNS))
    print("  lost: %d" % lost)
    print("  duplicates per crash: max %d, mean %.2f, total %d (goal: <= %d per crash)"
          % (max(per), sum(per) / float(len(per)), sum(per), CONNS))
    print("  per crash: %s" % " ".join(str(n) for n in per))
    print("  most copies of one Message-ID: %d; upstream connections opened: %d"
          % (max(r["count"].values()), r["connections"]))


if __name__ == "__main__":
    main()
