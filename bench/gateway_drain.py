# Drain (printed, not asserted): 10,000 queued alerts relayed to a local upstream (Postfix
# smtp-sink, which advertises PIPELINING) behind a TCP proxy adding 20 ms of round-trip time.
# Reports the time, messages/s, and messages per connection. With DATA a client must wait for
# the 354 before each message body (RFC 2920), so one round trip per message is the floor;
# an upstream with CHUNKING (BDAT) lets a whole batch go in one round trip, shown second
# (aiosmtpd-based MailServer, so its own CPU cost shows too).
import json
import sys
import time

from gateway_common import record, tmpdir

from gateway_helpers import make_cfg
from outpost_gateway.clock import SystemClock
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.spool import Alert, Spool
from peers.rttproxy import RttProxy
from peers.smtpd import MailServer
from peers.smtpsink import SmtpSink

N = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
RTT = 0.02


def fill(spool, n):
    ops = []
    for i in range(n):
        rec = record(device="drain", seq=i)
        ops.append(Alert(rec["id"], "drain", "warning", rec["kind"], rec["subject"], "bench",
                         json.dumps(rec).encode(), ["ops@example.org"]))
        if len(ops) == 1000:
            spool.write(ops)
            ops = []
    if ops:
        spool.write(ops)


def drain(batch, chunking=False):
    server = MailServer(chunking=True, pipelining=True) if chunking else SmtpSink()
    with server as sink, RttProxy(sink.host, sink.port, rtt=RTT) as proxy:
        tmp = tmpdir("drain")
        cfg = make_cfg(tmp, relay={"host": proxy.host, "port": proxy.port, "mode": "plain", "batch": batch,
                                   "timeout": 60.0},
                       digest={"threshold": 10 ** 9, "rate_per_hour": 0})   # every alert its own message
        clock = SystemClock()
        spool = Spool(str(tmp / "s.db"), clock).open()
        fill(spool, N)
        relay = Relay(cfg, spool, Metrics(), clock)
        t0 = time.perf_counter()
        while spool.pending():
            relay.run_once()
        dt = time.perf_counter() - t0
        relay.close()
        conns = len(proxy.connections) if hasattr(proxy.connections, "__len__") else proxy.connections
        print("drain %d alerts to %s, batch %d, RTT %d ms: %.1f s = %.0f msg/s; %d connection(s), %.0f messages per "
              "connection, %.1f ms per batch round; %d direction turns" % (N, "MailServer with CHUNKING" if chunking
                                                                   else "smtp-sink (DATA)", batch, RTT * 1000, dt, N / dt, conns, N / max(1, conns),
                                                       1000 * dt / (N / batch), proxy.turns))
        spool.close()


if __name__ == "__main__":
    drain(50)
    drain(50, chunking=True)
    drain(200, chunking=True)
