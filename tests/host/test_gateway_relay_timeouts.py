# relay.timeout bounds connecting and each reply; relay.data_timeout bounds the reply to the end
# of a message's data (0: max(timeout, 60)). Against a scripted upstream on loopback that
# answers everything at once except the end of the data, which it answers late.
import socket
import threading

import pytest

from gateway_helpers import make_cfg
from outpost_gateway.relay import open_upstream
from usmtp.errors import SMTPTimeout

EOD_DELAY = 4.0


class SlowDataServer:
    # one SMTP session at a time; the reply to "." comes EOD_DELAY seconds late
    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._serve, daemon=True)
        self.t.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                try:
                    self._session(c)
                except OSError:
                    pass

    def _session(self, c):
        f = c.makefile("rb")
        c.sendall(b"220 slow ESMTP\r\n")
        in_data = False
        for line in f:
            if in_data:
                if line == b".\r\n":
                    in_data = False
                    if self.stop.wait(EOD_DELAY):
                        return
                    c.sendall(b"250 queued\r\n")
                continue
            verb = line[:4].upper()
            if verb == b"EHLO":
                c.sendall(b"250-slow\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                in_data = True
                c.sendall(b"354 go on\r\n")
            elif verb == b"QUIT":
                c.sendall(b"221 bye\r\n")
                return
            else:
                c.sendall(b"250 OK\r\n")

    def close(self):
        self.stop.set()
        self.sock.close()


@pytest.fixture
def slow():
    s = SlowDataServer()
    yield s
    s.close()


def relay_cfg(tmp_path, port, **relay):
    r = {"port": port, "mode": "plain", "timeout": 2.0}
    r.update(relay)
    return make_cfg(tmp_path, relay=r)["relay"]


def send(r):
    s = open_upstream(r)
    try:
        return s.sendmail("outpost@example.org", ["ops@example.org"], b"Subject: t\r\n\r\nbody\r\n")
    finally:
        s.close()


def test_data_timeout_waits_longer_than_timeout(tmp_path, slow):
    # each reply within timeout (2 s), the end of the data within data_timeout (20 s)
    assert send(relay_cfg(tmp_path, slow.port, data_timeout=20.0)) == {}


def test_data_timeout_is_what_bounds_the_end_of_data(tmp_path, slow):
    with pytest.raises(SMTPTimeout):
        send(relay_cfg(tmp_path, slow.port, timeout=20.0, data_timeout=1.0))


def test_data_timeout_zero_means_max_of_timeout_and_60(tmp_path, slow):
    for timeout, want in ((2.0, 60.0), (90.0, 90.0)):
        s = open_upstream(relay_cfg(tmp_path, slow.port, timeout=timeout))
        try:
            assert s.data_timeout == want
        finally:
            s.close()
    assert send(relay_cfg(tmp_path, slow.port)) == {}    # 4 s late is within 60 s


def test_negative_data_timeout_is_refused(tmp_path):
    from outpost_gateway import config
    with pytest.raises(config.ConfigError, match="relay.data_timeout"):
        make_cfg(tmp_path, relay={"data_timeout": -1.0})
