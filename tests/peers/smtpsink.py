"""Postfix's smtp-sink on 127.0.0.1: a fast, real SMTP server that advertises PIPELINING
(also 8BITMIME, ENHANCEDSTATUSCODES, DSN, and an AUTH that accepts anything).

    with SmtpSink() as sink:
        ... send to sink.host, sink.port ...
        (msg,) = sink.wait_for(1)        # .mail_from, .rcpt_tos, .data (CRLF line ends, unstuffed), .raw
        sink.sessions()                  # per connection: the command lines smtp-sink saw (-v)

Every transaction is dumped to a file (-d) in a temporary folder; commands are read back from
smtp-sink's verbose log. flags= passes more smtp-sink options, e.g. ["-E"] (no
ENHANCEDSTATUSCODES), ["-r", "RCPT"] (4xx to every RCPT), ["-w", "2"] (slow DATA).
As root, smtp-sink must drop privileges (-u nobody), so the dump folder is world-writable.
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from .ports import free_port
from .process import end, read_log

BINARY = "/usr/sbin/smtp-sink"


class SinkMessage:
    """One dumped transaction."""

    def __init__(self, raw):
        self.raw = raw                  # the dump file as smtp-sink wrote it (LF line ends)
        head, _, rest = raw.partition(b"\nReceived: ")
        self.mail_from = None
        self.rcpt_tos = []
        self.mail_args = ""
        for line in head.split(b"\n"):
            key, _, value = line.partition(b": ")
            value = value.decode("utf-8", "replace")
            if key == b"X-Mail-Args":
                self.mail_args = value
                self.mail_from = value.split(" ", 1)[0].strip("<>")
            elif key == b"X-Rcpt-Args":
                self.rcpt_tos.append(value.split(" ", 1)[0].strip("<>"))
        # Received: takes three lines; the message follows, then one empty line
        lines = rest.split(b"\n")[3:]
        if lines and lines[-1] == b"":
            lines.pop()                 # the split's tail after the final newline
        if lines and lines[-1] == b"":
            lines.pop()                 # the empty line smtp-sink appends
        # smtp-sink has already removed the dot-stuffing; its dump uses LF line ends
        self.data = b"".join(l + b"\r\n" for l in lines)

    def __repr__(self):
        return "<SinkMessage from %r to %r, %d bytes>" % (self.mail_from, self.rcpt_tos, len(self.data))


class SmtpSink:
    def __init__(self, flags=(), hostname="smtp-sink", start_timeout=15):
        if not os.path.exists(BINARY):
            raise RuntimeError("smtp-sink is not installed (%s, Debian package postfix); .ci/run installs it" % BINARY)
        self.host = "127.0.0.1"
        self.port = None
        self.flags = list(flags)
        self.hostname = hostname
        self.start_timeout = start_timeout
        self.dir = tempfile.mkdtemp(prefix="outpost-smtpsink-")
        self.dump_dir = os.path.join(self.dir, "dump")
        os.mkdir(self.dump_dir)
        self.log_path = os.path.join(self.dir, "smtp-sink.log")
        self.proc = None

    def start(self):
        cmd = [BINARY, "-v", "-h", self.hostname, "-d", os.path.join(self.dump_dir, "%Y%m%d%H%M%S.")]
        if os.geteuid() == 0:
            # smtp-sink refuses to run as root without -u; the dropped user must write the dumps
            cmd += ["-u", "nobody"]
            os.chmod(self.dir, 0o711)
            os.chmod(self.dump_dir, 0o777)
        cmd += self.flags
        for _ in range(3):
            self.port = free_port()    # may be taken before smtp-sink binds it: retry
            log = open(self.log_path, "wb")
            try:
                self.proc = subprocess.Popen(cmd + ["%s:%d" % (self.host, self.port), "64"],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            finally:
                log.close()
            if self._ready():
                return self
            self._end()
        raise RuntimeError("smtp-sink did not start; log:\n" + self.log())

    def _ready(self):
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), 1) as s:
                    s.settimeout(2)
                    if s.recv(512).startswith(b"220"):
                        # end politely: a probe that closes with the 221 unread makes a reset
                        # that smtp-sink can carry over to the next client
                        s.sendall(b"QUIT\r\n")
                        s.recv(512)
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    def messages(self):
        """Transactions dumped so far, oldest first."""
        found = []
        for name in sorted(os.listdir(self.dump_dir)):
            path = os.path.join(self.dump_dir, name)
            with open(path, "rb") as f:
                found.append((os.stat(path).st_mtime_ns, name, f.read()))
        found.sort()
        return [SinkMessage(raw) for _, _, raw in found if b"\nReceived: " in raw]

    def wait_for(self, n, timeout=10):
        """Wait until at least n transactions were dumped; return them."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n:
                return msgs
            if time.monotonic() > deadline:
                raise TimeoutError("smtp-sink dumped %d of %d messages in %s s" % (len(msgs), n, timeout))
            time.sleep(0.02)

    def sessions(self):
        """Command lines per client connection, from the verbose log (the readiness probe excluded)."""
        sessions = []
        current = None
        for line in self.log().splitlines():
            _, _, text = line.partition(": ")
            if text.startswith("connect ("):
                current = []
            elif text == "disconnect":
                if current:
                    sessions.append(current)
                current = None
            elif current is not None and text and not text.startswith(("vstream_", "fd=", "smtp_stream_")):
                current.append(text)
        if current:
            sessions.append(current)
        if sessions and sessions[0] == ["QUIT"]:
            sessions.pop(0)             # the readiness probe
        return sessions

    def log(self):
        return read_log(self.log_path)

    def _end(self):
        proc, self.proc = self.proc, None
        end(proc)

    def close(self):
        self._end()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
