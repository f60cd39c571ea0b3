# A connection lost while the client writes (EPIPE/ECONNRESET from the socket, not a clean EOF
# the core sees) must leave the client closed, so the caller gets a transient error and can
# connect again, not a half-open object that refuses everything as misuse.
import pytest

import usmtp
from peers.smtpd import MailServer
from usmtp.errors import SMTPConnectError, is_transient

BODY = b"Subject: again\r\n\r\nsecond try\r\n"


def test_connection_lost_while_writing_the_body_closes_and_reconnects():
    with MailServer() as srv:
        s = usmtp.SMTP("127.0.0.1", srv.port, mode="plain", timeout=10)

        def body():
            yield b"Subject: lost\r\n\r\n"
            srv.down()      # drops the connection while the body is being written
            for _ in range(200):
                yield b"y" * 65536

        with pytest.raises(SMTPConnectError) as ei:
            s.sendmail("a@example.com", ["b@example.com"], body())
        assert is_transient(ei.value)
        # later calls say the connection was lost (transient), not that the caller misused it
        with pytest.raises(SMTPConnectError) as ei:
            s.noop()
        assert "connection was lost" in str(ei.value) and is_transient(ei.value)
        srv.up()
        s.connect("127.0.0.1", srv.port)
        assert s.sendmail("a@example.com", ["b@example.com"], BODY) == {}
        s.quit()
        assert [m.data for m in srv.wait_for(1)] == [BODY]


def test_failed_starttls_handshake_closes_the_connection():
    # after "220 go ahead" the plain socket is neither plaintext SMTP nor TLS any more:
    # nothing may be sent on it again
    from peers.certs import TestCA
    from usmtp.errors import SMTPTLSError
    ca, other = TestCA(), TestCA()
    with MailServer(tls="starttls", ca=ca) as srv:
        s = usmtp.SMTP("localhost", srv.port, mode="plain", cadata=other.ca_pem)
        with pytest.raises(SMTPTLSError):
            s.starttls()
        assert not s.is_tls
        with pytest.raises(SMTPConnectError) as ei:
            s.noop()
        assert "connection was lost" in str(ei.value)


def test_timeout_bounds_a_whole_reply_not_each_read():
    # `timeout` is per command: a server that trickles a reply line by line (here 1 s per
    # line, 5 EHLO lines) must not stretch one command past it by keeping each read short
    from usmtp.errors import SMTPTimeout
    with MailServer() as srv:
        srv.delay = 1.0
        with pytest.raises(SMTPTimeout) as ei:
            usmtp.SMTP("127.0.0.1", srv.port, mode="plain", timeout=3.5)
        assert "EHLO" in str(ei.value)
        assert is_transient(ei.value)
