"""A raw SMTP line client for tests that must control every byte (pipelining, BDAT, abuse).

    with Wire(srv.host, srv.port) as w:
        w.reply()                                   # (220, ["localhost ESMTP ..."])
        w.send(b"EHLO me\\r\\nNOOP\\r\\n")            # any bytes, in one write
        w.replies(2)                                # [(250, [...]), (250, ["OK"])]
"""
import socket


class Wire:
    def __init__(self, host, port, timeout=10, ssl_context=None, server_hostname=None):
        self.sock = socket.create_connection((host, port), timeout)
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_hostname)
        self._buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _line(self):
        while b"\n" not in self._buf:
            got = self.sock.recv(65536)
            if not got:
                raise ConnectionError("server closed the connection; unread: %r" % self._buf)
            self._buf += got
        line, _, self._buf = self._buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """One (possibly multi-line) reply as (code, [texts])."""
        texts = []
        while True:
            line = self._line()
            if len(line) < 3 or not line[:3].isdigit():
                raise ValueError("not an SMTP reply line: %r" % line)
            texts.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), texts

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def command(self, line):
        """Send one command line (CRLF added) and read its reply."""
        self.send(line.encode("utf-8") + b"\r\n")
        return self.reply()

    def starttls(self, ssl_context, server_hostname):
        code, texts = self.command("STARTTLS")
        if code != 220:
            raise ConnectionError("STARTTLS refused: %d %s" % (code, texts))
        self.sock = ssl_context.wrap_socket(self.sock, server_hostname=server_hostname)

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
