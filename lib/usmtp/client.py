# usmtp.SMTP: the blocking client with smtplib's names, driving the sans-I/O core over a socket,
# on CPython and on MicroPython (>= 1.22, ssl/tls). This is the only usmtp module that imports
# socket (context.py builds the TLS context, cacert.py turns CA data into what each TLS API
# takes); it decides the runtime once. The socket code is here, not in a module of its own:
# every send needs it.

import sys

from usmtp import errors
from usmtp.core import ClientCore, DONE, NEED_DATA, lazy
from usmtp.errors import SMTPConnectError, SMTPError, SMTPTimeout, SMTPUsageError

MICROPYTHON = sys.implementation.name == "micropython"
# On a board each read is one allocation of that size, made while the heap is at its most split
# (after the TLS handshake): 128 bytes fit where 512 did not (the real port at 124k). A longer
# reply line comes in pieces; the core's parser joins them.
READ_SIZE = 128 if MICROPYTHON else 16384
# bytes gathered into one socket write (a pipelined group of commands goes in one write: the
# server cannot answer in between), in one buffer the core allocates when the session starts
WRITE_SIZE = 512 if MICROPYTHON else 16384
BDAT_SIZE = 1024 if MICROPYTHON else 4096     # a BDAT chunk, one buffer allocated per message


def _is_timeout(e):
    if not MICROPYTHON:
        import socket
        if isinstance(e, socket.timeout):
            return True
    # ETIMEDOUT: Linux/lwIP, MicroPython unix, BSD
    return isinstance(e, OSError) and e.args and e.args[0] in (110, 116, 60)


def _oserror(e, doing):
    # a socket error as usmtp's: a timeout, or a lost connection
    if _is_timeout(e):
        return SMTPTimeout("timed out " + doing)
    return SMTPConnectError("connection lost " + doing + ": " + str(e))


def ticks_ms():
    import time
    if MICROPYTHON:
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def elapsed_ms(start):
    # ticks wrap around on MicroPython: only ticks_diff() measures across the wrap
    import time
    if MICROPYTHON:
        return time.ticks_diff(time.ticks_ms(), start)
    return int(time.monotonic() * 1000) - start


def connect(host, port, timeout, source_address=None):
    """A connected TCP socket with `timeout` set, or SMTPConnectError/SMTPTimeout."""
    import socket
    try:
        if MICROPYTHON:
            addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
            s = socket.socket()
            s.settimeout(timeout)
            try:
                s.connect(addr)
            except BaseException:
                s.close()
                raise
        else:
            s = socket.create_connection((host, port), timeout, source_address)
        # pipelined commands go out in several writes: without this each waits for the
        # server's delayed ACK (Nagle), about 40 ms a message on Linux
        try:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):
            pass
        return s
    except OSError as e:
        if _is_timeout(e):
            raise SMTPTimeout("timed out connecting to %s:%d" % (host, port))
        raise SMTPConnectError("cannot connect to %s:%d: %s" % (host, port, e))


def wrap(sock, ctx, server_hostname):
    """TLS handshake on a connected socket; any failure is SMTPTLSError (or SMTPTimeout)."""
    if MICROPYTHON:
        import gc
        gc.collect()    # the handshake needs a large contiguous block of heap
    try:
        return ctx.wrap_socket(sock, server_hostname=server_hostname)
    except MemoryError:
        raise       # a board short of heap: an outage (errors.outcome), not a TLS setup fault
    except Exception as e:
        if _is_timeout(e):
            raise SMTPTimeout("timed out in TLS with " + server_hostname)
        # MicroPython reports a failed certificate check as ValueError, CPython as SSLError
        raise errors.SMTPTLSError("TLS with %s failed: %s" % (server_hostname, e))


def local_literal(sock):
    """The EHLO name: our address as a literal ([192.0.2.1] or [IPv6:...]), as RFC 5321 asks
    of a client without a meaningful host name."""
    try:
        a = sock.getsockname()
        ip = a[0] if isinstance(a, tuple) else None
    except Exception:
        ip = None
    if not ip or not isinstance(ip, str):
        return "[127.0.0.1]"
    if ":" in ip:
        return "[IPv6:" + ip + "]"
    return "[" + ip + "]"


def _size_and_8bit(msg):
    # known only for a message given whole; a stream is sent without SIZE or BODY=8BITMIME
    if isinstance(msg, str):
        msg = msg.encode("utf-8")
    if isinstance(msg, (bytes, bytearray)):
        return len(msg), len(msg) > 0 and max(msg) > 127, msg
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
    the system store on CPython) unless insecure_skip_verify=True. context: an ssl context of
    your own instead (usmtp.context.client_context(cadata) makes the one usmtp would): a board
    builds it first thing in a wake, while its heap still has the large free block it takes.
    Timeouts in seconds: `timeout` for connect and each command, `data_timeout` for the reply
    to the end of a message (servers scan it then), `connect_timeout` overrides for connecting.
    """

    _sock = None        # the socket we read and write (TLS when it is)
    _raw = None         # the plain socket under it (timeouts are set on it)
    _tmo = None
    _core = None
    _lost = None        # why an error closed the connection, until connect() again
    greeting = None

    def __init__(self, host=None, port=0, mode=None, cadata=None, server_hostname=None,
                 timeout=10, local_hostname=None, insecure_skip_verify=False,
                 allow_plaintext_auth=False, trace=None, connect_timeout=None,
                 data_timeout=None, pipelining=True, chunking=True, source_address=None,
                 context=None):
        self.mode = mode
        self.context = context
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
        if host:
            self.connect(host, port)

    # ---- connection -------------------------------------------------------------------

    def connect(self, host, port=0):
        """Connect, read the greeting, EHLO, and STARTTLS as the mode asks.
        Returns the greeting (code, text)."""
        if self._sock is not None:
            raise SMTPUsageError("already connected")
        mode = self.mode
        if not port:
            # the mode's port: 465 implicit TLS, 587 STARTTLS, 25 opportunistic or plain
            port = 465 if mode == "tls" else 25 if mode in ("opportunistic", "plain") else 587
        if mode is None:
            self.mode = "tls" if port == 465 else "opportunistic" if port == 25 else "starttls"
        self.port = port
        # build (and check) the TLS context before touching the network
        ctx = self._context()
        return self._open(connect(host, port, self.connect_timeout, self.source_address), host, ctx)

    def connect_socket(self, sock, host):
        """Run the session over a socket that is already connected (a transport of your own:
        a modem, a tunnel, a test peer). It needs the runtime's socket methods (settimeout and
        sendall/recv on CPython; write/readline on MicroPython). mode defaults to "starttls";
        host is the name the certificate must carry. Returns the greeting (code, text)."""
        if self._sock is not None:
            raise SMTPUsageError("already connected")
        if self.mode is None:
            self.mode = "starttls"
        return self._open(sock, host, self._context())

    def _context(self, need=False):
        # "opportunistic" builds it only if the server offers STARTTLS (a LAN server may have none)
        if self.context is None and (need or self.mode in ("tls", "starttls")):
            # usmtp/context.py, loaded for this only: on a board its heap is free again for
            # the handshake
            from usmtp import context
            try:
                return context.client_context(self.cadata, self.insecure_skip_verify)
            finally:
                if MICROPYTHON:
                    del sys.modules["usmtp.context"]
                    import usmtp
                    del usmtp.context
        return self.context

    def _open(self, sock, host, ctx):
        self._lost = None
        self.host = host
        hostname = self.server_hostname or host
        core = ClientCore(self.mode, "[127.0.0.1]", self.allow_plaintext_auth, self.trace,
                          pipelining=self.pipelining, chunking=self.chunking,
                          flush_at=WRITE_SIZE, bdat_size=BDAT_SIZE)
        try:
            core.local_hostname = self.local_hostname or local_literal(sock)
            self._raw = self._sock = sock
            self._tmo = None
            if self.mode == "tls":
                self._sock = wrap(sock, ctx, hostname)
            self._core = core
            if self._run(core.op_open(), self.connect_timeout) == "starttls":
                self._starttls(ctx, hostname)
        except BaseException:
            self.close()
            raise
        g = core.greeting_reply
        self.greeting = (g.code, g.text)
        return self.greeting

    def _starttls(self, ctx, hostname):
        try:
            self._sock = wrap(self._sock, ctx or self._context(True), hostname or self.host)
        except BaseException as e:
            # after the 220 the socket is neither plaintext SMTP nor TLS: nothing more on it
            self._lost = "TLS handshake failed: " + str(e)
            self.close()
            raise
        self._tmo = None
        self._core.tls_established()
        self._run(self._core.op_hello())

    # ---- the socket, with a timeout on each call ------------------------------------------

    def _settimeout(self, t):
        if t != self._tmo:
            # CPython's SSLSocket owns the file descriptor; MicroPython's TLS object has no
            # settimeout, but the plain socket under it does
            (self._raw if MICROPYTHON else self._sock).settimeout(t)
            self._tmo = t

    def _write(self, data, timeout):
        self._settimeout(timeout)
        try:
            if MICROPYTHON:
                mv = memoryview(data)
                while len(mv) > 0:
                    n = self._sock.write(mv)
                    if n is not None:
                        mv = mv[n:]
            else:
                self._sock.sendall(data)
        except OSError as e:
            raise _oserror(e, "sending")

    def _read(self, timeout):
        self._settimeout(timeout)
        try:
            # MicroPython's read(n) waits for all n bytes; replies are lines, so read lines
            d = self._sock.readline(READ_SIZE) if MICROPYTHON else self._sock.recv(READ_SIZE)
        except OSError as e:
            raise _oserror(e, "reading")
        return d or b""

    def _run(self, op, timeout=None):
        core = self._core
        if core is None or self._sock is None:
            raise SMTPUsageError("not connected")
        core.start(op)
        seen = -1           # replies dispatched when the clock for the awaited one started
        start = 0
        try:
            while True:
                out = core.data_to_send()
                if out:
                    self._write(out, self.timeout)
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
                        start = ticks_ms()
                    left = t - elapsed_ms(start) / 1000
                    data = None
                    if left > 0:
                        try:
                            data = self._read(max(left, 0.1))
                        except SMTPTimeout:
                            pass
                    if data is None:
                        raise SMTPTimeout("no reply to %s in %s s" % (w, t))
                    core.receive_data(data)
        except SMTPError as e:
            if isinstance(e, SMTPConnectError):
                from usmtp.extra import salvage
                salvage(self, core)
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

    def _live(self):
        if self._core is None or self._sock is None:
            if self._lost:
                # not the caller's mistake: a retry policy must see a transient network error
                raise SMTPConnectError("the connection was lost (" + self._lost + ")")
            raise SMTPUsageError("not connected")
        return self._core

    def _reply(self):
        r = self._core.last_reply if self._core else None
        if r is None:
            return (0, "")
        return (r.code, r.text)

    def _do(self, op):
        self._run(op)
        return self._reply()

    # ---- smtplib-shaped API -----------------------------------------------------------

    def __getattr__(self, name):
        # the calls one message does not make load on first use, from usmtp.extra: ehlo, helo,
        # starttls, login_oauth2, send_message, data_begin, data_end, noop, rset, has_extn;
        # send_many from usmtp.batch, data_write from usmtp.stream; and two properties:
        # esmtp_features (what the server offers) and is_tls
        if name == "is_tls":
            return bool(self._core and self._core.secure)
        if name == "esmtp_features":
            return dict(self._core.ext) if self._core else {}
        return lazy(self, " ehlo:extra helo:extra starttls:extra login_oauth2:extra"
                          " send_message:extra data_begin:extra data_end:extra noop:extra"
                          " rset:extra has_extn:extra send_many:batch data_write:stream ", name)

    def login(self, user, password, mechanism=None, defer=False):
        """AUTH with the best mechanism the server offers (PLAIN, then LOGIN).
        defer=True lets AUTH PLAIN ride with the first message's MAIL and RCPT; its data
        goes only after the 235, and a refused login raises SMTPAuthError from that send
        (after RSET: no message goes out unauthenticated)."""
        return self._do(self._live().op_auth(user, password, False, mechanism, defer))

    def sendmail(self, from_addr, to_addrs, msg):
        """Send one message. msg: bytes, str, an iterable of chunks, or a writer Message.
        Returns {recipient: (code, text)} for refused recipients; raises only when the
        message was not accepted for anyone."""
        size, eight, msg = _size_and_8bit(msg)
        tx = self._live().make_tx(from_addr, to_addrs, msg, size, eight)
        return self._run(self._core.op_send(tx))

    def quit(self):
        res = (221, "")
        # inside DATA a QUIT would be message text: closing is how a client abandons a message
        if self._core is not None and self._sock is not None and \
                self._core.state not in ("closed", "data"):
            try:
                res = self._do(self._core.op_simple("QUIT"))
            except (SMTPConnectError, SMTPTimeout):
                pass        # a server that hangs up instead of answering QUIT has said goodbye
        self.close()
        return res

    def close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        if self._core is not None:
            self._core.lost()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            if self._sock is not None:
                self.quit()
        except SMTPError:
            pass
        finally:
            self.close()
        return False
