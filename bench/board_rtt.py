"""Cold-wake round trips on the real runtime (printed, never asserted).

    .venv/bin/python bench/board_rtt.py [--rtt 0.2]

The unchanged firmware on the MicroPython unix port (boards/unix, .mpy files as `make deploy`
lays them out) boots, samples, makes one alert and mails it over STARTTLS + AUTH PLAIN to an
aiosmtpd server (PIPELINING + CHUNKING, TLS 1.3) through tests/peers/rttproxy.py, which delays
each direction by rtt/2. Measured: from the moment the board prints the alert (journalled,
about to send) to the moment the 250 for the message reaches the board (the server's acceptance
+ rtt/2), in round trips. The TCP handshake to the proxy is on loopback and not delayed, so
add 1 for a real network's SYN/SYN-ACK. QUIT comes after the 250 and is not counted: the alert
is marked done on the 250.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "realmp")]

from peers.rttproxy import RttProxy  # noqa: E402
from peers.smtpd import MailServer  # noqa: E402
from realboard import RealBoard  # noqa: E402
from test_board_real import board_config, starttls_auth  # noqa: E402


def one(rtt, chunking):
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True,
                    chunking=chunking, pipelining=True) as srv:
        with RttProxy(srv.host, srv.port, rtt=rtt) as proxy:
            smtp = starttls_auth(srv, port=proxy.port, timeout=30)
            d = pathlib.Path(tempfile.mkdtemp(prefix="board-rtt-"))
            with RealBoard(d, board_config(smtp=smtp, order=("smtp",)), heapsize="512k") as b:
                with open(os.path.join(b.fs, "pin27"), "w") as f:
                    f.write("1")
                b.start()
                i = b.wait_for("alert unix1-1-1", timeout=60)
                t0 = time.monotonic()
                while not srv.messages:
                    if time.monotonic() - t0 > 60:
                        raise SystemExit("no message after 60 s:\n" + "\n".join(b.lines[i:]))
                    time.sleep(0.001)
                t250 = time.monotonic() + rtt / 2
                b.wait_for("sent unix1-1-1 via smtp", timeout=60)
                return (t250 - t0) / rtt


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtt", type=float, default=0.2)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    print("cold wake on the real runtime: alert -> 250, in round trips of %.0f ms "
          "(STARTTLS + AUTH PLAIN, TLS 1.3)" % (a.rtt * 1000))
    for chunking, label in ((True, "PIPELINING + CHUNKING"), (False, "PIPELINING, no CHUNKING")):
        rts = [one(a.rtt, chunking) for _ in range(a.runs)]
        print("  %-26s %s  (median %.2f)" % (label, " ".join("%.2f" % r for r in rts),
                                              sorted(rts)[len(rts) // 2]))


if __name__ == "__main__":
    main()
