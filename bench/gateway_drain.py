# Drain (printed, not asserted): 10,000 queued alerts relayed to a local upstream behind a TCP
# proxy adding 20 ms of round-trip time, with relay.connections at 4 (the default), 8 and 20.
# The upstream is Postfix's smtp-sink (PIPELINING, no CHUNKING, like most providers): over DATA
# a client must wait for the 354 before each body (RFC 2920), so about one round trip per
# message on its connection is the floor, and N x RTT x 1.0 / connections the floor of a
# drain. Last, an upstream with CHUNKING (aiosmtpd-based MailServer, so its own CPU cost shows
# too): with relay.one_in_flight (the default) one message's end in flight per connection, so
# about one round trip per message as over DATA; with it off, a batch in one burst.
# Goal: 10,000 in <= 35 s (Postfix, 20 connections).
#   python bench/gateway_drain.py [N] [connections ...]
import contextlib
import multiprocessing
import sys
import time

from gateway_common import record, tmpdir

from gateway_helpers import fill_spool, make_cfg
from outpost_gateway.clock import SystemClock
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.spool import Spool
from peers.rttproxy import RttProxy
from peers.smtpd import MailServer
from peers.smtpsink import SmtpSink

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
CONNS = [int(a) for a in sys.argv[2:]] or [4, 8, 20]
RTT = float(__import__("os").environ.get("RTT_MS", "20")) / 1000.0


def fill(spool, n):
    fill_spool(spool, (record(device="drain", seq=i) for i in range(n)), source="bench")


def _proxy_main(target, rtt, conn):
    with RttProxy(target[0], target[1], rtt=rtt) as proxy:
        conn.send((proxy.host, proxy.port))
        conn.recv()                                 # until the drain is over
        conn.send(proxy.stats())


@contextlib.contextmanager
def proxy_process(host, port, rtt):
    # the RTT proxy in a process of its own, so its CPU does not compete with the relay's
    # threads for one interpreter lock; yields (host, port, stats) where stats() works once
    here, there = multiprocessing.Pipe()
    p = multiprocessing.Process(target=_proxy_main, args=((host, port), rtt, there), daemon=True)
    p.start()
    addr = here.recv()
    got = {}

    def stats():
        if not got:
            here.send("done")
            got.update(here.recv())
        return got
    try:
        yield addr[0], addr[1], stats
    finally:
        stats()
        p.join(10)


def drain(connections, batch=50, chunking=False, one_in_flight=True):
    server = MailServer(chunking=True, pipelining=True) if chunking else SmtpSink()
    with server as sink, proxy_process(sink.host, sink.port, RTT) as (phost, pport, stats):
        tmp = tmpdir("drain")
        cfg = make_cfg(tmp, relay={"host": phost, "port": pport, "mode": "plain", "batch": batch,
                                   "timeout": 60.0, "connections": connections,
                                   "one_in_flight": one_in_flight},
                       digest={"threshold": 10 ** 9, "rate_per_hour": 0})   # every alert its own message
        clock = SystemClock()
        spool = Spool(str(tmp / "s.db"), clock).open()
        fill(spool, N)
        spool.start_writer()     # as in the gateway: each message is settled in its group commit
        relay = Relay(cfg, spool, Metrics(), clock)
        t0 = time.perf_counter()
        passes = 0
        while spool.pending():
            relay.run_once()
            passes += 1
        dt = time.perf_counter() - t0
        relay.close()
        st = stats()
        used = st["connections"]
        floor = N * RTT * 1.0 / used
        # turns: direction changes summed over connections; two make one round trip
        rt_per_msg = st["turns"] / 2.0 / N
        print("%-22s connections %2d (used %2d), batch %d, RTT %d ms: %6.1f s, %5.0f msg/s; "
              "%.2f round trips per message per connection; floor N*RTT*1.0/connections %.1f s "
              "(x%.2f); %d passes" % ("smtp-sink (DATA)" if not chunking else
                                      "MailServer (CHUNKING)" + ("" if one_in_flight else ", batch burst"),
                                      connections, used, batch, RTT * 1000, dt, N / dt, rt_per_msg,
                                      floor, dt / floor if floor else 0.0, passes))
        sys.stdout.flush()
        spool.close()


if __name__ == "__main__":
    print("drain of %d queued 1 KB alerts (goal: 10,000 in <= 35 s over DATA at 20 ms RTT); load average %s"
          % (N, open("/proc/loadavg").read().split()[0]))
    for c in CONNS:
        drain(c)
    drain(CONNS[0], chunking=True)
    drain(CONNS[0], chunking=True, one_in_flight=False)     # relay.one_in_flight = false
