"""Round trips per message on an open connection, and from TCP connect to the first accepted
message, for usmtp (PIPELINING+CHUNKING, PIPELINING only, neither) against smtplib and
aiosmtplib. Every client talks to the same local aiosmtpd server through a proxy that delays
each direction by half an RTT, so elapsed time / RTT is the number of round trips.

    .venv/bin/python bench/rtt_bench.py [--rtt 0.05] [--messages 20]
"""
import argparse
import asyncio
import os
import smtplib
import sys
import logging
import time

logging.getLogger("mail.log").setLevel(logging.ERROR)   # aiosmtpd logs its own deprecations
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "tests")]

import aiosmtplib                      # noqa: E402
import usmtp                           # noqa: E402
from peers.certs import TestCA         # noqa: E402
from peers.rttproxy import RttProxy    # noqa: E402
from peers.smtpd import MailServer     # noqa: E402

BODY = b"Subject: bench\r\n\r\n" + b"freezer at -18.2 C, all fine\r\n" * 20
FROM = "board@outpost.example"


def rcpts(n):
    return ["owner%d@example.com" % i for i in range(n)]


def per_message(send, n, rtt):
    t = time.perf_counter()
    for _ in range(n):
        send()
    return (time.perf_counter() - t) / n / rtt


def bench_usmtp(port, n, k, rtt, **opts):
    with usmtp.SMTP("127.0.0.1", port, mode="plain", **opts) as s:
        return per_message(lambda: s.sendmail(FROM, rcpts(k), BODY), n, rtt)


def bench_usmtp_batch(port, n, k, rtt):
    with usmtp.SMTP("127.0.0.1", port, mode="plain") as s:
        t = time.perf_counter()
        res = s.send_many([(FROM, rcpts(k), BODY)] * n)
        assert all(r == {} for r in res), res
        return (time.perf_counter() - t) / n / rtt


def bench_smtplib(port, n, k, rtt):
    s = smtplib.SMTP("127.0.0.1", port)
    s.ehlo()
    try:
        return per_message(lambda: s.sendmail(FROM, rcpts(k), BODY), n, rtt)
    finally:
        s.quit()


def bench_aiosmtplib(port, n, k, rtt):
    async def run():
        c = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
        await c.connect()
        t = time.perf_counter()
        for _ in range(n):
            await c.sendmail(FROM, rcpts(k), BODY)
        el = time.perf_counter() - t
        await c.quit()
        return el / n / rtt
    return asyncio.run(run())


def first_message(make, rtt):
    # make(mark) connects and sends; mark() is called when the message was accepted, so
    # closing the connection (QUIT) is not counted
    t0 = time.perf_counter()
    done = []
    make(lambda: done.append(time.perf_counter()))
    return (done[0] - t0) / rtt


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtt", type=float, default=0.05)
    ap.add_argument("--messages", type=int, default=20)
    a = ap.parse_args(argv)
    rtt, n = a.rtt, a.messages
    print("round trips per message on an open connection (RTT %.0f ms, %d messages each)"
          % (rtt * 1000, n))
    print("%-44s %8s %8s %8s" % ("client", "1 rcpt", "5 rcpt", "+/rcpt"))
    with MailServer(chunking=True) as chunky, MailServer() as plain:
        with RttProxy("127.0.0.1", chunky.port, rtt=rtt) as pc, \
                RttProxy("127.0.0.1", plain.port, rtt=rtt) as pp:
            rows = [
                ("usmtp PIPELINING+CHUNKING", lambda k: bench_usmtp(pc.port, n, k, rtt)),
                ("usmtp PIPELINING+CHUNKING, send_many batch",
                 lambda k: bench_usmtp_batch(pc.port, n, k, rtt)),
                ("usmtp PIPELINING only", lambda k: bench_usmtp(pc.port, n, k, rtt,
                                                                chunking=False)),
                ("usmtp neither (server without extensions)",
                 lambda k: bench_usmtp(pp.port, n, k, rtt, pipelining=False)),
                ("smtplib (reference)", lambda k: bench_smtplib(pc.port, n, k, rtt)),
                ("aiosmtplib (reference)", lambda k: bench_aiosmtplib(pc.port, n, k, rtt)),
            ]
            for name, f in rows:
                one, five = f(1), f(5)
                print("%-44s %8.2f %8.2f %8.2f" % (name, one, five, (five - one) / 4))

            print("\nround trips from TCP connect to the first accepted message (plain TCP)")

            def u(mark):
                with usmtp.SMTP("127.0.0.1", pc.port, mode="plain") as s:
                    s.sendmail(FROM, rcpts(1), BODY)
                    mark()

            def sl(mark):
                s = smtplib.SMTP("127.0.0.1", pc.port)
                s.sendmail(FROM, rcpts(1), BODY)
                mark()
                s.close()
            print("%-44s %8.2f" % ("usmtp PIPELINING+CHUNKING", first_message(u, rtt)))
            print("%-44s %8.2f" % ("smtplib", first_message(sl, rtt)))
    # STARTTLS + AUTH; deferred AUTH rides with MAIL/RCPT but the data waits for its 235
    ca = TestCA()
    with MailServer(tls="starttls", chunking=True, ca=ca, auth_users={"u": "p"},
                    auth_required=True) as tls:
        with RttProxy("127.0.0.1", tls.port, rtt=rtt) as pt:
            print("\nround trips from TCP connect to the first accepted message "
                  "(STARTTLS + AUTH PLAIN, TLS 1.3)")

            def ut(mark, defer):
                with usmtp.SMTP("localhost", pt.port, mode="starttls", cadata=ca.ca_pem) as s:
                    s.login("u", "p", defer=defer)
                    s.sendmail(FROM, rcpts(1), BODY)
                    mark()

            def st(mark):
                s = smtplib.SMTP("localhost", pt.port)
                s.starttls(context=ca.client_context())
                s.login("u", "p")
                s.sendmail(FROM, rcpts(1), BODY)
                mark()
                s.close()
            print("%-44s %8.2f" % ("usmtp, AUTH deferred into the first group",
                                   first_message(lambda m: ut(m, True), rtt)))
            print("%-44s %8.2f" % ("usmtp, AUTH on its own",
                                   first_message(lambda m: ut(m, False), rtt)))
            print("%-44s %8.2f" % ("smtplib", first_message(st, rtt)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
