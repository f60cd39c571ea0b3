# usmtp.SMTP: the blocking client with smtplib's names, driving the sans-I/O core over a socket
# on CPython and on MicroPython (>= 1.22). The only usmtp module that touches a socket; it
# decides the runtime once (context.py builds the TLS context, cacert.py turns CA data into
# what each TLS API takes). What one message does not call (ehlo, starttls, noop, rset,
# send_many, data_*, ...) loads from usmtp.extra on first use; a failure is sorted by
# usmtp.sockerr and said by usmtp.phrases, each loaded only then.
import sys

from usmtp.core import Core, sized
from usmtp.errors import SMTPError, SMTPConnectError, SMTPTimeout, SMTPUsageError, err

MP = sys.implementation.name == "micropython"
# on a board each read is one allocation made while the heap is most split (after the TLS
# handshake): 128 bytes fit where 512 did not; a longer line comes in pieces. Writes gather
# into one buffer of SIZE (usmtp.core)
SIZE = 512 if MP else 16384


def ms(t=0):
    # milliseconds since t, a value of ms(): ticks wrap around on MicroPython, and only
    # ticks_diff measures across the wrap
    import time
    return time.ticks_diff(time.ticks_ms(), t) if MP else int(time.monotonic() * 1000) - t


def failed(e, n, *a):
    # a socket or TLS error e as usmtp's (usmtp.sockerr, loaded only now): phrase n+1, or
    # phrase n for a timeout (a MemoryError stays one)
    from usmtp.sockerr import sockerr
    return sockerr(e, n, a)


class SMTP:
    """An SMTP client connection.

    mode: "tls" (implicit TLS, default for port 465), "starttls" (STARTTLS required, default
    for 587 and any other port), "opportunistic" (STARTTLS when offered, default for 25) or
    "plain" (never TLS). Certificates are always verified (cadata: PEM or DER CA data; None uses
    the system store on CPython) unless insecure_skip_verify=True; context: an ssl context of
    your own. Timeouts in seconds: `timeout` for connect and each command, `data_timeout` for
    the reply to the end of a message, `connect_timeout` for connecting.
    """

    _sock = _core = _lost = greeting = None

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
        self.trace = trace      # a callable or a file (usmtp.trace.Traced takes either)
        self.pipelining = pipelining
        self.chunking = chunking
        self.source_address = source_address
        if host:
            self.connect(host, port)

    def connect(self, host, port=0):
        """Connect, read the greeting, EHLO, and STARTTLS as the mode asks: the greeting."""
        m = self.mode
        if not port:
            port = 465 if m == "tls" else 25 if m in ("opportunistic", "plain") else 587
        if m is None:
            self.mode = "tls" if port == 465 else "opportunistic" if port == 25 else "starttls"
        self.port = port
        ctx = self._context()       # built (and checked) before touching the network
        import socket
        t = self.connect_timeout
        try:
            if MP:
                a = socket.getaddrinfo(host, port)[0][-1]     # (the first address, as lwIP gives)
                s = socket.socket()
                s.settimeout(t)
                try:
                    s.connect(a)
                except BaseException:
                    s.close()
                    raise
            else:
                s = socket.create_connection((host, port), t, self.source_address)
            try:    # pipelined writes must not wait for the server's delayed ACK (Nagle)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        except OSError as e:
            raise failed(e, 51, host, port)
        return self.connect_socket(s, host, ctx)

    def connect_socket(self, sock, host, ctx=None):
        """Run the session over a socket already connected (a transport of your own); mode
        defaults to "starttls"; host is the name the certificate must carry."""
        if self._sock is not None:
            raise err(SMTPUsageError, 53)
        if self.mode is None:
            self.mode = "starttls"
        ctx = ctx or self._context()
        self._lost = None
        self.host = host
        try:
            a = self.local_hostname
            if not a:
                try:
                    a = sock.getsockname()[0]
                except Exception:
                    a = "127.0.0.1"
                a = ("[IPv6:%s]" if ":" in a else "[%s]") % a
            k = Core
            if self.trace:
                from usmtp.trace import Traced as k     # the core that shows its session
            core = self._core = k(self.mode, a, self.allow_plaintext_auth, self.trace,
                                     self.pipelining, self.chunking, SIZE)
            self._raw = self._sock = sock
            if self.mode == "tls":
                self._tls(ctx)
            r = self._run(core.op_open(), self.connect_timeout)
            g = self.greeting = core.got[0]     # the 220, before STARTTLS's EHLO replaces got
            if r == "starttls":
                self._starttls(ctx)
        except BaseException:
            self.close()
            raise
        return g

    def _context(self, x=False):
        if self.context is None and (x or self.mode in ("tls", "starttls")):
            # usmtp.context loads for this only: on a board its heap is free for the handshake
            from usmtp import context
            try:
                return context.client_context(self.cadata, self.insecure_skip_verify)
            finally:
                if MP:      # (CPython keeps it: relays build contexts from several threads)
                    del sys.modules["usmtp.context"]
                    import usmtp
                    del usmtp.context
        return self.context

    def _tls(self, ctx):
        """TLS handshake; any failure is SMTPTLSError (or SMTPTimeout; MemoryError stays one)."""
        import gc
        gc.collect()        # the handshake needs a large contiguous block
        name = self.server_hostname or self.host    # the name the certificate must carry
        try:
            self._sock = (ctx or self._context(True)).wrap_socket(self._sock,
                                                                  server_hostname=name)
        except Exception as e:
            raise failed(e, 49, name)

    def _starttls(self, ctx):
        try:
            self._tls(ctx)
        except BaseException as e:
            # after the 220 the socket is neither plaintext SMTP nor TLS: nothing more on it
            self._drop(e)
            raise
        self._core.tls_established()
        self._run(self._core.op_hello())

    def _io(self, d, t):
        # write data (or read a line when data is None) with timeout t
        # MicroPython's TLS object has no settimeout; the plain socket under it does
        (self._raw if MP else self._sock).settimeout(t)
        s = self._sock
        try:
            if d is None:
                # MicroPython's read(n) waits for all n bytes: replies are lines
                return s.readline(128) if MP else s.recv(SIZE)     # b"": EOF
            if MP:
                mv = memoryview(d)
                while mv:
                    n = s.write(mv)
                    if n is not None:
                        mv = mv[n:]
            else:
                s.sendall(d)
        except OSError as e:
            raise failed(e, 47, "reading" if d is None else "sending")

    def _run(self, op, timeout=None):
        # op: an operation of the core, which the caller has from _live() (or has just made)
        core = self._core
        core.start(op)
        seen = -1
        try:
            while True:
                out = core.data_to_send()
                if out:
                    self._io(out, self.timeout)
                step = core.poll()     # 0: done, 1: more to write, 2: a reply needed
                if not step:
                    return core.result
                if step > 1:
                    # the end of a message (DATA's or BDAT LAST) has data_timeout
                    t = timeout or (self.data_timeout if core.pend[0] in (8, 15)
                                    else self.timeout)
                    # the timeout bounds the whole reply, however slowly it trickles in
                    if len(core.got) != seen:   # a reply came: its own timeout
                        seen = len(core.got)
                        start = ms()
                    left = t - ms(start) / 1000
                    d = None
                    if left > 0:
                        try:
                            d = self._io(None, max(left, 0.1))
                        except SMTPTimeout:
                            pass
                    if d is None:
                        raise err(SMTPTimeout, 54, core.waiting_for(), t)
                    core.receive_data(d)
        except BaseException as e:
            if isinstance(e, SMTPError) and not isinstance(e, (SMTPTimeout, SMTPConnectError)) \
                    and core.state:
                raise       # a refusal: the connection is fine
            self._drop(e)
            raise

    def _drop(self, e):
        # the connection is of no more use after e: what later calls say, then closed; after a
        # break, what the server had said before it may still count (a 250: usmtp.extra.salvage)
        self._lost = repr(e)
        try:
            if isinstance(e, SMTPConnectError):
                from usmtp.extra import salvage
                salvage(self, self._core)
        finally:
            self.close()

    def _live(self):
        if self._sock is None:     # (a socket comes with its core: connect_socket)
            if self._lost:
                # not the caller's mistake: a retry policy must see a transient network error
                raise err(SMTPConnectError, 55, self._lost)
            raise err(SMTPUsageError, 56)
        return self._core

    def __getattr__(self, name):
        # the calls one message does not make, from usmtp.extra (send_many, ehlo, starttls,
        # noop, rset, data_begin, login_oauth2, esmtp_features, is_tls, ...)
        if name[0] == "_":
            raise AttributeError(name)
        return __import__("usmtp.extra", None, None, ["_"]).attr(self, name)

    def login(self, user, password, mechanism=None, defer=False):
        """AUTH with the best mechanism the server offers (PLAIN, then LOGIN). defer=True lets
        AUTH PLAIN ride with the first message's MAIL and RCPT; its data goes only after the
        235, and a refused login raises SMTPAuthError from that send."""
        self._run(self._live().op_auth(user, password, False, mechanism, defer))
        return self._core.last or (0, "")

    def sendmail(self, from_addr, to_addrs, msg):
        """Send one message (bytes, str, an iterable of chunks, or a writer Message):
        {recipient: (code, text)} for refused recipients; raises when nobody got it."""
        return self._run(self._live().op_send(from_addr, to_addrs, *sized(msg)))

    def quit(self):
        res = (221, "")
        c = self._core
        try:
            # inside DATA a QUIT would be message text: closing is how a client abandons it
            if self._sock is not None and c.state and c.state != 6:
                self._run(c.op_simple(11))
                res = c.last
        except (SMTPConnectError, SMTPTimeout):
            pass    # a server that hangs up instead of answering QUIT has said goodbye
        finally:
            self.close()
        return res

    def close(self):
        s = self._sock
        if s:
            self._sock = None
            try:
                s.close()
            except OSError:
                pass
        if self._core:
            self._core.lost()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        try:
            self.quit()     # (which closes)
        except SMTPError:
            pass

