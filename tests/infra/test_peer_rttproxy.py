"""tests/peers/rttproxy.py: the proxy forwards bytes intact and adds rtt/2 per direction."""
import smtplib
import time

import pytest

from peers.rttproxy import RttProxy
from peers.smtpd import MailServer
from peers.wire import Wire

RTT = 0.1


def test_lock_step_commands_pay_one_rtt_each():
    with MailServer() as srv, RttProxy(srv.host, srv.port, rtt=RTT) as proxy:
        with Wire(proxy.host, proxy.port) as w:
            t0 = time.monotonic()
            assert w.reply()[0] == 220
            for _ in range(5):
                assert w.command("NOOP")[0] == 250
            elapsed = time.monotonic() - t0
        print("greeting + 5 lock-step NOOPs at rtt %.2f s: %.3f s (%.1f rtt)" % (RTT, elapsed, elapsed / RTT))
        assert elapsed >= 5.5 * RTT * 0.99        # lower bound: the delays are sleeps
        assert proxy.connections == 1
        assert proxy.turns >= 11                   # greeting, then NOOP/reply x5


def test_pipelined_burst_is_one_turn_each_way():
    with MailServer() as srv, RttProxy(srv.host, srv.port, rtt=RTT) as proxy:
        with Wire(proxy.host, proxy.port) as w:
            assert w.reply()[0] == 220
            t0 = time.monotonic()
            w.send(b"NOOP\r\n" * 5)
            assert [c for c, _ in w.replies(5)] == [250] * 5
            elapsed = time.monotonic() - t0
        print("5 pipelined NOOPs at rtt %.2f s: %.3f s (%.1f rtt)" % (RTT, elapsed, elapsed / RTT))
        assert elapsed >= RTT * 0.99
        assert proxy.turns == 3                    # greeting down, burst up, replies down
        assert proxy.bytes_up == len(b"NOOP\r\n" * 5)


def test_large_message_arrives_intact():
    body = b"Subject: big\r\n\r\n" + b"".join(b"line %06d ............................................\r\n" % i
                                            for i in range(20000))
    with MailServer() as srv, RttProxy(srv.host, srv.port, rtt=0.01) as proxy:
        with smtplib.SMTP(proxy.host, proxy.port, timeout=30) as c:
            c.sendmail("a@x", ["b@y"], body)
        assert srv.wait_for(1)[0].data == body
        print("proxy stats:", proxy.stats())
        assert proxy.bytes_up > len(body)


def test_unreachable_target_closes_the_client():
    with MailServer() as srv:
        port = srv.port
    with RttProxy("127.0.0.1", port, rtt=0.01) as proxy:       # nothing listens there now
        with Wire(proxy.host, proxy.port) as w:
            with pytest.raises((ConnectionError, OSError)):
                w.reply()


def test_negative_rtt_refused():
    with pytest.raises(ValueError):
        RttProxy("127.0.0.1", 1, rtt=-1)
