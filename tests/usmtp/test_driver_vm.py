# lane: micropython
# The blocking driver (client.py: SMTP._read and _write) on each runtime's own socket methods: on the
# MicroPython VM (which has no network) the write loop, readline and the ETIMEDOUT mapping run
# for real; pytest runs the CPython branch (sendall/recv). The peer is a scripted server.
from tinytest import raises
from usmtp.client import SMTP
from usmtp.errors import SMTPConnectError, SMTPTimeout


class ScriptedServer:
    """A connected socket whose server side is a script: each reply is handed out when the
    client wants to read, one line per read; what the client writes is kept."""

    def __init__(self, replies, short_writes=7):
        self.replies = list(replies)
        self.pending = b""
        self.written = bytearray()
        self.short = short_writes
        self.timeout = None
        self.closed = False

    def settimeout(self, t):
        self.timeout = t

    # MicroPython's socket methods
    def write(self, data):
        n = min(len(data), self.short)      # short writes: the driver must loop
        self.written.extend(bytes(data[:n]))
        return n

    def readline(self, limit=-1):
        return self._line()

    # CPython's
    def sendall(self, data):
        self.written.extend(bytes(data))

    def recv(self, n):
        return self._line()

    def _line(self):
        if not self.pending:
            if not self.replies:
                return b""                   # the server hung up
            r = self.replies.pop(0)
            if r is None:
                raise OSError(110, "timed out")   # ETIMEDOUT, as both runtimes report it
            self.pending = r
        i = self.pending.find(b"\n") + 1 or len(self.pending)
        line, self.pending = self.pending[:i], self.pending[i:]
        return line

    def close(self):
        self.closed = True


GREET = b"220 mx.example ESMTP\r\n"
EHLO = b"250-mx.example\r\n250-PIPELINING\r\n250 SIZE 1000\r\n"


def test_session_over_the_drivers_socket_methods():
    srv = ScriptedServer([GREET, EHLO, b"250 ok\r\n250 ok\r\n354 go\r\n", b"250 queued\r\n",
                          b"221 bye\r\n"])
    s = SMTP(mode="plain", timeout=5)
    assert s.connect_socket(srv, "mx.example") == (220, "mx.example ESMTP")
    # the timeout bounds each whole reply: what is left of it is set before each read
    assert s.has_extn("PIPELINING") and 0 < srv.timeout <= 5
    assert s.sendmail("a@x.example", ["b@y.example"], b"Subject: t\n\n.\nend\n") == {}
    assert s.quit()[0] == 221 and srv.closed
    assert bytes(srv.written) == (
        b"EHLO [127.0.0.1]\r\n"
        b"MAIL FROM:<a@x.example> SIZE=18\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"
        b"Subject: t\r\n\r\n..\r\nend\r\n.\r\n"
        b"QUIT\r\n")


def test_timeout_closes_and_later_calls_say_the_connection_was_lost():
    srv = ScriptedServer([GREET, EHLO, None])
    s = SMTP(mode="plain", timeout=1)
    s.connect_socket(srv, "mx.example")
    e = raises(SMTPTimeout, s.noop)
    assert "NOOP" in str(e) and srv.closed
    e = raises(SMTPConnectError, s.noop)
    assert "connection was lost" in str(e)


def test_server_hanging_up_is_a_connect_error():
    srv = ScriptedServer([GREET, EHLO])
    s = SMTP(mode="plain", timeout=1)
    s.connect_socket(srv, "mx.example")
    e = raises(SMTPConnectError, s.sendmail, "a@x.example", ["b@y.example"], b"x")
    assert "closed the connection" in str(e)
