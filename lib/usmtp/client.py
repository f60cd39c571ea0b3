# usmtp.SMTP: the blocking client with smtplib's names, driving the sans-I/O core over a socket.

from usmtp import netio
from usmtp.core import ClientCore, DONE, NEED_DATA
import usmtp.tx  # noqa: F401 (every client sends: loaded now, before a TLS handshake shares the heap)
from usmtp.errors import (SMTPConnectError, SMTPError, SMTPTimeout, SMTPUsageError)



def _size_and_8bit(msg):
    # known only for a message given whole; a stream is sent without SIZE or BODY=8BITMIME
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    if isinstance(msg, (bytes, bytearray)):
        eight = False
        for c in msg:
            if c > 127:
                eight = True
                break
        return len(msg), eight, msg
    return None, False, msg


def _settle(core, e):
    # a batch broken off by a timeout or a lost connection still settles every message the
    # server had answered (usmtp.batch)
    if core._batch is not None:
        from usmtp.batch import settle
        settle(core, e)


class SMTP:
    """An SMTP client connection.

    mode: "tls" (implicit TLS, default for port 465), "starttls" (STARTTLS required, default
    for 587 and any other port), "opportunistic" (STARTTLS when offered, default for 25) or
    "plain" (never TLS). Certificates are always verified (cadata: PEM or DER CA data; None uses
    the system store on CPython) unless insecure_skip_verify=True.
    Timeouts in seconds: `timeout` for connect and each command, `data_timeout` for the reply
    to the end of a message (servers scan it then), `connect_timeout` overrides for connecting.
    """

    def __init__(self, host=None, port=0, mode=None, cadata=None, server_hostname=None,
                 timeout=10, local_hostname=None, insecure_skip_verify=False,
                 allow_plaintext_auth=False, trace=None, connect_timeout=None,
                 data_timeout=None, pipelining=True, chunking=True, source_address=None):
        self.mode = mode
        self.cadata = cadata
        self.server_hostname = server_hostname
        self.timeout = timeout
        self.connect_timeout = connect_timeout or timeout
        self.data_timeout = data_timeout or max(timeout, 60)
        self.local_hostname = local_hostname
        self.insecure_skip_verify = insecure_skip_verify
        self.allow_plaintext_auth = allow_plaintext_auth
        if trace is not None:
            from usmtp.trace import sink    # a file-like trace becomes a callable
            trace = sink(trace)
        self.trace = trace
        self.pipelining = pipelining
        self.chunking = chunking
        self.source_address = source_address
        self._stream = None
        self._core = None
        self._lost = None          # why an error closed the connection, until connect() again
        self.greeting = None
        if host:
            self.connect(host, port)

    # ---- connection -------------------------------------------------------------------

    def connect(self, host, port=0):
        """Connect, read the greeting, EHLO, and STARTTLS as the mode asks.
        Returns the greeting (code, text)."""
        if self._stream is not None:
            raise SMTPUsageError("already connected")
        mode = self.mode
        if not port:
            # the mode's port: 465 implicit TLS, 587 STARTTLS, 25 opportunistic or plain
            port = 465 if mode == "tls" else 25 if mode in ("opportunistic", "plain") else 587
        if mode is None:
            mode = "tls" if port == 465 else "opportunistic" if port == 25 else "starttls"
        self.mode = mode
        self.port = port
        ctx = None
        if mode in ("tls", "starttls"):
            # build (and check) the TLS context before touching the network; "opportunistic"
            # builds it only if the server offers STARTTLS (a LAN server may have none)
            ctx = netio.client_context(self.cadata, self.insecure_skip_verify)
        sock = netio.connect(host, port, self.connect_timeout, self.source_address)
        return self._open(sock, host, ctx)

    def connect_socket(self, sock, host):
        """Run the session over a socket that is already connected (a transport of your own:
        a modem, a tunnel, a test peer). It needs the runtime's socket methods (settimeout and
        sendall/recv on CPython; write/readline on MicroPython). mode defaults to "starttls";
        host is the name the certificate must carry. Returns the greeting (code, text)."""
        if self._stream is not None:
            raise SMTPUsageError("already connected")
        if self.mode is None:
            self.mode = "starttls"
        ctx = None
        if self.mode in ("tls", "starttls"):
            ctx = netio.client_context(self.cadata, self.insecure_skip_verify)
        return self._open(sock, host, ctx)

    def _open(self, sock, host, ctx):
        self._lost = None
        self.host = host
        hostname = self.server_hostname or host
        core = ClientCore(self.mode, "[127.0.0.1]", self.allow_plaintext_auth, self.trace,
                          pipelining=self.pipelining, chunking=self.chunking,
                          flush_at=netio.WRITE_SIZE, bdat_size=netio.BDAT_SIZE)
        raw = sock
        try:
            core.local_hostname = self.local_hostname or netio.local_literal(sock)
            if self.mode == "tls":
                sock = netio.wrap(sock, ctx, hostname)
            self._stream = netio.Stream(sock, raw)
            self._core = core
            res = self._run(core.op_open(), self.connect_timeout)
            g = core.greeting_reply
            if res == "starttls":
                self._wrap_starttls(ctx, hostname)
        except BaseException:
            self.close()
            raise
        self.greeting = (g.code, g.text)
        return self.greeting

    def _wrap_starttls(self, ctx, hostname):
        if ctx is None:
            ctx = netio.client_context(self.cadata, self.insecure_skip_verify)
        try:
            s = netio.wrap(self._stream.sock, ctx, hostname or self.host)
        except BaseException as e:
            # after the 220 the socket is neither plaintext SMTP nor TLS: nothing more on it
            self._lost = "TLS handshake failed: " + str(e)
            self.close()
            raise
        self._stream = netio.Stream(s, self._stream.raw)
        self._core.tls_established()
        self._run(self._core.op_hello())

    def _run(self, op, timeout=None):
        core = self._core
        if core is None or self._stream is None:
            raise SMTPUsageError("not connected")
        stream = self._stream
        core.start(op)
        seen = -1           # replies dispatched when the clock for the awaited one started
        start = 0
        try:
            while True:
                out = core.data_to_send()
                if out:
                    stream.write(out, self.timeout)
                step = core.poll()
                if step == DONE:
                    return core.result
                if step == NEED_DATA:
                    w = core.waiting_for()
                    t = timeout or (self.data_timeout if w in ("EOD", "BDAT-LAST")
                                    else self.timeout)
                    # the timeout bounds the whole reply: a server trickling it byte by byte
                    # must not stretch one command without end
                    if core.replies != seen:
                        seen = core.replies
                        start = netio.ticks_ms()
                    left = t - netio.elapsed_ms(start) / 1000
                    data = None
                    if left > 0:
                        try:
                            data = stream.read(max(left, 0.1))
                        except SMTPTimeout:
                            pass
                    if data is None:
                        raise SMTPTimeout("timed out waiting for the reply to %s (%s s)"
                                          % (w, t))
                    core.receive_data(data)
        except SMTPError as e:
            if isinstance(e, SMTPConnectError):
                self._salvage(stream, core)
            _settle(core, e)
            if core.state == "closed" or isinstance(e, (SMTPTimeout, SMTPConnectError)):
                # after a timeout, replies and commands are out of step, and a socket error
                # (raised here, not by the core) leaves the operation half done: either way
                # the connection is spent
                core.lost()
                self._lost = e.__class__.__name__ + ": " + str(e)
                self.close()
            raise
        except BaseException as e:
            _settle(core, e)
            core.lost()
            self._lost = e.__class__.__name__
            self.close()
            raise

    def _salvage(self, stream, core):
        # the connection broke: replies the server sent before that may still be readable,
        # and a 250 it gave must count (the message is not sent a second time)
        for _ in range(64):
            try:
                data = stream.read(0.2)
            except (SMTPError, OSError):
                break
            if not data:
                break
            core.receive_data(data)
        core.drain()

    def _live(self):
        if self._core is None or self._stream is None:
            if self._lost:
                # not the caller's mistake: a retry policy must see a transient network error
                raise SMTPConnectError("the connection was lost (" + self._lost +
                                       "); connect again")
            raise SMTPUsageError("not connected (call connect() first, or give SMTP a host)")
        return self._core

    def _reply(self):
        r = self._core.last_reply if self._core else None
        if r is None:
            return (0, "")
        return (r.code, r.text)

    # ---- smtplib-shaped API -----------------------------------------------------------

    @property
    def esmtp_features(self):
        return dict(self._core.ext) if self._core else {}

    def has_extn(self, name):
        return name.upper() in self.esmtp_features

    @property
    def is_tls(self):
        return bool(self._core and self._core.secure)

    def ehlo(self, name=None):
        core = self._live()
        if name:
            core.local_hostname = name
        self._run(core.op_hello())
        return self._reply()

    helo = ehlo

    def starttls(self):
        """Upgrade to TLS now (for mode "plain"/"opportunistic" connections). Already encrypted
        connections are left as they are."""
        if self._live().secure:
            return self._reply()
        res = self._run(self._core.op_starttls(True))
        if res == "starttls":
            self._wrap_starttls(None, self.server_hostname or self.host)
        return self._reply()

    def login(self, user, password, mechanism=None, defer=False):
        """AUTH with the best mechanism the server offers (PLAIN, then LOGIN).
        defer=True lets AUTH PLAIN ride with the first message's MAIL and RCPT; its data
        goes only after the 235, and a refused login raises SMTPAuthError from that send
        (after RSET: no message goes out unauthenticated)."""
        self._run(self._live().op_auth(user, password, False, mechanism, defer))
        return self._reply()

    def login_oauth2(self, user, token, defer=False):
        """AUTH XOAUTH2 with an OAuth 2 bearer token (Gmail, Microsoft 365)."""
        self._run(self._live().op_auth(user, token, True, "XOAUTH2", defer))
        return self._reply()

    def sendmail(self, from_addr, to_addrs, msg):
        """Send one message. msg: bytes, str, an iterable of chunks, or a writer Message.
        Returns {recipient: (code, text)} for refused recipients; raises only when the
        message was not accepted for anyone."""
        size, eight, msg = _size_and_8bit(msg)
        tx = self._live().make_tx(from_addr, to_addrs, msg, size, eight)
        return self._run(self._core.op_send(tx))

    def send_message(self, message):
        """Send a usmtp.writer.Message to its own recipients (Bcc included, never shown)."""
        sender = message.sender
        if isinstance(sender, tuple):
            sender = sender[1]
        return self.sendmail(sender, message.recipients(), message)

    def send_many(self, items, on_settled=None, one_end=True):
        """Several messages in one pipelined batch: items of (from_addr, to_addrs, msg).
        Returns, per message, its refused dict or the SMTPError that refused it (usmtp.batch).
        on_settled(i, result, reply), if given, is called as each message's reply arrives (its
        refused dict or its SMTPError, and the Reply that settled it), so the caller can record
        it before the next message goes out (one_end=False: a CHUNKING batch still goes in one
        burst); messages refused before sending are only in the returned list."""
        from usmtp.batch import client_send_many
        return client_send_many(self, items, on_settled, one_end)

    def data_begin(self, from_addr, to_addrs):
        """Start a message whose body the caller writes piece by piece with data_write() and
        ends with data_end(). Returns the refused-recipients dict (usmtp.stream)."""
        tx = self._live().make_tx(from_addr, to_addrs, None)
        return self._run(self._core.op_begin_data(tx))

    def data_write(self, chunk):
        from usmtp.stream import client_write
        client_write(self, chunk)

    def data_end(self):
        """Finish the message; returns the server's (code, text) for it."""
        self._run(self._core.op_end_data())
        return self._reply()

    def noop(self):
        self._run(self._live().op_simple("NOOP"))
        return self._reply()

    def rset(self):
        self._run(self._live().op_simple("RSET"))
        return self._reply()

    def quit(self):
        res = (221, "")
        # inside DATA a QUIT would be message text: closing is how a client abandons a message
        if self._core is not None and self._stream is not None and \
                self._core.state not in ("closed", "data"):
            try:
                self._run(self._core.op_simple("QUIT"))
                res = self._reply()
            except (SMTPConnectError, SMTPTimeout):
                pass        # a server that hangs up instead of answering QUIT has said goodbye
        self.close()
        return res

    def close(self):
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        if self._core is not None:
            self._core.lost()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self._stream is not None:
                self.quit()
        except SMTPError:
            pass
        finally:
            self.close()
        return False
