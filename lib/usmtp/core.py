# usmtp core: the SMTP client protocol with no I/O (no socket, no ssl, no clock).
#
# This file owns every state transition: T below says, for a state and the command a reply
# answers (or an event the driver reports: TLS up, connection lost), where success and
# failure lead. The driver never sets the state; a reply the table does not expect raises
# SMTPProtocolError naming the state.
#
# Driver loop (client.py):
#     core.start(core.op_open())
#     while True:
#         out = core.data_to_send();  out and sock.write(out)
#         step = core.poll()              # 1 write, 2 need bytes, 0 done (core.result)
#         if step == 2: core.receive_data(sock.readline())   # b"" is EOF
#
# An operation is a generator: it queues command lines and yields N to wait until at most N
# replies are outstanding; replies are matched to commands in order (PIPELINING, RFC 2920) and
# collected in self.got. The whole one-message session is here: greeting, EHLO, STARTTLS, a
# deferred AUTH PLAIN, MAIL/RCPT/DATA with the body's line ends normalised and dots stuffed,
# QUIT. Everything rarer loads from a module of its own when used. Names are few on purpose:
# on a board each distinct identifier stays in the heap; constants are const() (inlined). A
# failure's text is a phrase of usmtp.phrases, by number (usmtp.errors.err), loaded only when
# an error is raised: a session that succeeds carries none of them.
def const(x):
    # MicroPython's compiler folds const() and inlines each _NAME (no import needed for that);
    # CPython calls this
    return x


from usmtp.errors import SMTPError, SMTPUsageError, SMTPProtocolError, SMTPConnectError, err

_SEND = const(1)
_NEED = const(2)
_MAX_LINE = const(2048)      # a reply line (RFC 5321 says 512; real servers are sloppier)
_MAX_LINES = const(100)      # lines in one reply
_MAX_REPLY = const(16384)    # bytes in one reply
_WAIT = const(100)          # pipelined commands in flight before we read replies

# states (usmtp.phrases has their names, for errors)
_CLOSED = const(0)
_GREET = const(1)
_START = const(2)   # connected or TLS just up: EHLO next
_READY = const(3)
_TLS = const(4)     # STARTTLS answered 220: the driver's handshake next
_MAIL = const(5)
_DATA = const(6)
# commands (and events); VERBS names them in errors and on the wire
VERBS = "GREETING EHLO HELO STARTTLS AUTH MAIL RCPT DATA EOD RSET NOOP QUIT TLS LOST BDAT BDAT-LAST"
_C_GREET = const(0)
_C_EHLO = const(1)
_C_HELO = const(2)
_C_STLS = const(3)
_C_AUTH = const(4)
_C_MAIL = const(5)
_C_RCPT = const(6)
_C_DATA = const(7)
_C_EOD = const(8)
_C_RSET = const(9)
_C_NOOP = const(10)
_C_QUIT = const(11)
_E_TLS = const(12)
_E_LOST = const(13)
_C_BDAT = const(14)
# rows of 5 bytes: state (9: any), command, success code - 200 (0: none), state after success,
# state after a 4xx/5xx (9: unchanged). RCPT's success is any 25x; AUTH's 334 (a challenge,
# auth.py) leaves the state as it is. A bytes literal: one constant, no code to build it.
T = (b"\x01\x00\x14\x02\x00"    # greeting: 220 -> start
     b"\x02\x01\x32\x03\x02"    # EHLO from start: 250 -> ready
     b"\x02\x02\x32\x03\x02"    # HELO from start
     b"\x03\x01\x32\x03\x03"    # EHLO again when ready
     b"\x03\x02\x32\x03\x03"    # HELO again when ready
     b"\x03\x03\x14\x04\x03"    # STARTTLS: 220 -> tls
     b"\x04\x0c\x00\x02\x09"    # TLS up (the driver's event) -> start
     b"\x03\x04\x23\x03\x03"    # AUTH: 235
     b"\x03\x05\x32\x05\x03"    # MAIL: 250 -> mail
     b"\x05\x06\x32\x05\x05"    # RCPT: 25x
     b"\x05\x07\x9a\x06\x05"    # DATA: 354 -> data
     b"\x06\x08\x32\x03\x03"    # end of data: 250 -> ready
     b"\x05\x0e\x32\x05\x05"    # BDAT
     b"\x05\x0f\x32\x03\x05"    # BDAT LAST: 250 -> ready
     b"\x03\x06\x00\x03\x03"    # RCPT, DATA, BDAT after a refused MAIL (pipelined)
     b"\x03\x07\x00\x03\x03"
     b"\x03\x0e\x00\x03\x03"
     b"\x03\x0f\x00\x03\x03"
     b"\x09\x09\x32\x03\x09"    # RSET from any state -> ready
     b"\x09\x0a\x32\x09\x09"    # NOOP
     b"\x09\x0b\x15\x00\x00"    # QUIT: 221 -> closed
     b"\x09\x0d\x00\x00\x00")   # connection lost -> closed



def word(v, i):
    return v.split()[i]


def check_arg(v, t):
    """Refuse CR, LF and NUL in anything that goes on a command line (no injection)."""
    if isinstance(v, bytes):
        v = v.decode()
    if "\r" in v or "\n" in v or "\x00" in v:
        raise err(SMTPUsageError, 26, t, v)
    return v


def addr(a, t):
    # 'Name <a@b>' or 'a@b' -> 'a@b', held to the one address rule (usmtp.checks)
    from usmtp.checks import address_problem, split_mailbox
    # (only the sender may be empty: <>)
    a = check_arg(a, t)
    try:
        a = split_mailbox(a)[1]
        p = (a or t != "sender") and address_problem(a)
    except ValueError as e:
        p = e
    if p:
        raise SMTPUsageError("%s %r %s" % (t, a, p))
    return a


def secret(t, v):
    # a credential: text (or UTF-8 bytes) without NUL; its value never shown in the error
    try:
        if isinstance(v, bytes):
            v = v.decode()
        if "\x00" not in v + "":   # TypeError: not text
            return v
    except (UnicodeError, TypeError):
        pass
    raise err(SMTPUsageError, 27, t)


class Core:
    # what a session starts with (immutable: class-level, each set on the instance when it
    # changes). last: the last reply, (code, text); lines: the reply being assembled, [code,
    # size, line, ...]; auth: a deferred AUTH PLAIN line. The arguments, in SMTP's words:
    # mode, local_hostname, allow_plaintext_auth, trace, pipelining, chunking, and the size of
    # the write buffer
    state = _GREET
    authed = eof = last = lines = op = wait = auth = result = None

    def __init__(self, mode="plain", name="[127.0.0.1]", plain=False, trace=None, pipe=True,
                 chunk=True, size=2048):
        self.buf = bytearray(size)      # the one write buffer, before anything else
        from usmtp.checks import mode_problem
        p = mode_problem(mode)
        if p:
            raise SMTPUsageError("mode " + p)
        self.mode = mode
        self.name = check_arg(name, "local_hostname")
        self.plain = plain
        self.trace = trace
        self.off = ("" if pipe else "PIPELINING") + ("" if chunk else "CHUNKING")
        self.secure = mode == "tls"
        self.ext = {}
        self.got = []           # replies to the current operation, in order
        self.inb = bytearray()  # received bytes not yet parsed
        self.q = []             # pieces to write
        self.pend = []          # commands awaiting replies

    def has(self, v):
        # what the server offers and we use: "PIPELINING", "CHUNKING" (unless turned off), ...
        return v in self.ext and v not in self.off

    # ---- driver interface -------------------------------------------------------------

    def start(self, op):
        if self.op is not None:
            raise err(SMTPUsageError, 57)
        if self.state == _CLOSED:
            raise err(SMTPConnectError, 31)
        self.op = op
        self.wait = None
        self.got = []           # (result is set when poll() returns 0)

    def data_to_send(self):
        """What to write now: queued pieces, small ones gathered into the session's buffer."""
        q = self.q
        b = memoryview(self.buf)
        n = 0
        while q and n + len(q[0]) <= len(b):
            p = q.pop(0)
            b[n:n + len(p)] = p
            n += len(p)
        if n:
            return b[:n]
        return q.pop(0) if q else b""   # nothing queued, or a piece larger than the buffer

    def receive_data(self, d):
        self.eof = not d    # b"": the server closed the connection
        b = self.inb
        b.extend(d)
        if len(b) > _MAX_LINE and b.find(b"\n") < 0:
            raise err(SMTPProtocolError, 28, _MAX_LINE, _MAX_LINES, _MAX_REPLY)

    def next_reply(self):
        """The next complete reply as (code, text), or None: every byte the server controls is
        bounded (_MAX_LINE a line, _MAX_LINES lines, _MAX_REPLY bytes)."""
        b = self.inb
        while True:
            nl = b.find(b"\n")
            if nl < 0:
                return None
            ln = bytes(b[:nl]).rstrip(b"\r")
            self.inb = b = b[nl + 1:]
            n = len(ln)
            c = int(ln[:3]) if ln[:3].isdigit() else 0
            r = self.lines or [c, 0]
            # "250-" a line that more follow, "250 " or "250" the last
            if not 200 <= c <= 599 or c != r[0] or ln[3:4] not in b" -":
                raise err(SMTPProtocolError, 29, ln[:40])
            try:
                t = ln[4:].decode()
            except UnicodeError:
                t = repr(ln[4:])    # shown with its bytes escaped
            self.lines = r
            r[1] += n + 2
            r.append(t)
            if n > _MAX_LINE or r[1] > _MAX_REPLY or len(r) > _MAX_LINES + 2:
                raise err(SMTPProtocolError, 28, _MAX_LINE, _MAX_LINES, _MAX_REPLY)
            if ln[3:4] != b"-":
                self.lines = None
                return (c, "\n".join(r[2:]))

    def poll(self):
        try:
            while True:
                if self.op is None:
                    return 0
                w = self.wait
                if w is None:
                    pass
                elif w < 0:
                    if self.q:
                        return _SEND    # a body piece: all of it written before going on
                else:
                    while len(self.pend) > w:
                        r = self.next_reply()
                        if r is None:
                            if self.q:
                                return _SEND
                            if self.eof:
                                raise err(SMTPConnectError, 30, self.waiting_for())
                            return _NEED
                        self.dispatch(r)
                self.wait = None
                try:
                    w = next(self.op)
                except StopIteration as e:
                    self.op = None
                    self.result = e.value
                    return 0
                # -1: a body piece, written once enough is queued (memory O(buffer));
                # -2: a reused buffer, written before the operation goes on
                if w != -1 or sum(map(len, self.q)) >= len(self.buf):
                    self.wait = w
        except SMTPError as e:
            self.op = None
            if isinstance(e, (SMTPProtocolError, SMTPConnectError)):
                self.lost()     # (a 421 closed the session in dispatch)
            raise

    def tls_established(self):
        """The driver wrapped the socket in TLS: forget what was said in plaintext (RFC 3207)."""
        if self.state != _TLS:
            raise err(SMTPUsageError, 32)
        self.secure = True
        self.ext = {}
        self.state = T[self.row(_E_TLS) + 3]

    def lost(self):
        """The connection broke, timed out or was closed: nothing more on it."""
        self.state = T[self.row(_E_LOST) + 3]

    def waiting_for(self):
        return word(VERBS, self.pend[0]) if self.pend else None

    # ---- the table ----------------------------------------------------------------------

    def row(self, cmd):
        s = self.state
        for i in range(0, len(T), 5):
            if T[i + 1] == cmd and (T[i] == s or T[i] == 9):
                return i
        from usmtp.moreerrors import amiss
        raise amiss(SMTPProtocolError, 33, s, word(VERBS, cmd))

    def dispatch(self, r):
        cmd = self.pend.pop(0)
        self.last = r
        c = r[0]
        if c == 421:
            # the server is closing the channel: nothing else will be answered
            self.lost()
            self.pend = []
            raise self.fail(r, word(VERBS, cmd))
        i = self.row(cmd)
        if c == T[i + 2] + 200 or cmd == _C_RCPT and c // 10 == 25:
            s = T[i + 3]
        elif c >= 400 or cmd == _C_AUTH and c == 334:
            s = T[i + 4]
        else:
            from usmtp.moreerrors import amiss
            raise amiss(SMTPProtocolError, 34, self.state, c, word(VERBS, cmd), r[1])
        if s != 9:
            self.state = s
        if cmd == _C_AUTH and c == 235:
            self.authed = True
        if cmd == _C_BDAT and c == 250:
            r = (250, "")   # one object (a constant) for every accepted chunk: no text kept
        self.got.append(r)      # (batch.py wraps this to settle its messages as they come)

    def cmd(self, c, a=None, x=False):
        # queue one command line (its argument checked: no CR/LF injection)
        line = word(VERBS, c)
        if a is not None:
            line += " " + check_arg(a, line)
        self.q.append(line.encode() + b"\r\n")
        self.pend.append(c)

    def need(self, *a):
        if self.state not in a:
            from usmtp.moreerrors import amiss
            raise amiss(SMTPUsageError, 39, self.state, "")

    def reply(self, c):
        self.cmd(c)
        yield 0
        return self.got[-1]

    def fail(self, r, t):
        from usmtp.moreerrors import refusal
        return refusal(r, t)

    # ---- operations ------------------------------------------------------------------

    def op_open(self):
        """Greeting, EHLO (HELO fallback), STARTTLS as the mode asks. Returns "starttls" when
        the driver must now wrap the socket, else "ready"."""
        if self.state == _GREET:
            self.pend.append(_C_GREET)
            yield 0
            r = self.got[-1]
            if r[0] != 220:
                raise self.fail(r, "greeting")
        yield from self.op_hello()
        if self.secure or self.mode == "plain":
            return "ready"
        r = None
        if "STARTTLS" in self.ext:
            r = yield from self.reply(_C_STLS)
            if r[0] == 220:
                if self.inb:
                    # bytes sent before the handshake would be read as if they came over TLS
                    # (the error ends the session: nothing more is read)
                    raise err(SMTPProtocolError, 35)
                return "starttls"
        if self.mode == "starttls":     # required: not offered, or refused
            from usmtp.extra import no_tls
            no_tls(r)
        return "ready"

    def op_hello(self):
        """EHLO, or HELO when the server does not know EHLO."""
        self.need(_START, _READY)
        self.cmd(_C_EHLO, self.name)
        yield 0
        r = self.got[-1]
        ext = {}
        if r[0] == 250:
            for ln in r[1].split("\n")[1:]:
                k, _, v = ln.strip().partition(" ")
                k = k.upper()
                if k[:5] == "AUTH=":    # old servers: "AUTH=LOGIN PLAIN"
                    k, v = "AUTH", k[5:] + " " + v
                if k:
                    ext[k] = (ext[k] + " " + v) if k == "AUTH" and k in ext else v
        elif r[0] < 500:
            raise self.fail(r, "EHLO")
        else:
            from usmtp.extra import helo    # a server that knows no EHLO
            yield from helo(self)
        self.ext = ext
        return "ready"

    def op_auth(self, user, pw, oauth=False, mech=None, defer=False):
        """AUTH. With defer=True and a server that pipelines, AUTH PLAIN is not sent now but
        leads the next message's MAIL and RCPT (RFC 4954 section 4): one round trip less; a
        refusal is then raised by that send, after RSET."""
        self.need(_READY)
        if not self.secure and not self.plain:
            raise err(SMTPUsageError, 36)
        offered = self.ext.get("AUTH")     # None: not offered (auth.py says so)
        if defer and not oauth and (mech or "PLAIN").upper() == "PLAIN" and \
                self.has("PIPELINING") and "PLAIN" in str(offered).upper().split():
            import binascii     # (auth.plain's, without loading auth.py)
            pw = "\x00" + secret("user", user) + "\x00" + secret("password", pw)
            self.auth = "PLAIN " + binascii.b2a_base64(pw.encode()).strip().decode()
            return "PLAIN"
        from usmtp.auth import exchange
        return (yield from exchange(self, offered, user, pw, oauth, mech, defer))

    def op_simple(self, c):
        """NOOP, RSET or QUIT (as VERBS index or name): returns the reply."""
        if isinstance(c, str):
            c = VERBS.split().index(c)
        if self.state == _DATA:
            from usmtp.moreerrors import amiss
            raise amiss(SMTPUsageError, 39, _DATA, word(VERBS, c) + " ")
        r = yield from self.reply(c)
        if r[0] != (221 if c == _C_QUIT else 250):
            raise self.fail(r, word(VERBS, c))
        return r

    def envelope(self, sender, v, size=None):
        """A message's envelope checked: (sender, [recipients], utf8); raises on bad input."""
        sender = addr(sender or "", "sender")
        if isinstance(v, str):
            v = [v]
        m = []
        for a in v:
            a = addr(a, "recipient")
            if a not in m:
                m.append(a)
        if not m:
            raise err(SMTPUsageError, 58)
        a = sender + "".join(m)
        utf8 = len(a.encode()) != len(a)
        lim = self.ext.get("SIZE", "")
        # a SIZE we cannot read, or 0, is no limit we can honour
        if size and lim.isdigit() and size > int(lim) > 0:
            from usmtp.moreerrors import too_big
            raise too_big(size, int(lim))
        if utf8 and "SMTPUTF8" not in self.ext:
            raise err(SMTPUsageError, 37)
        return sender, m, utf8

    def tx(self, m, body, size=None, x=False):
        # queue one transaction for envelope m: [AUTH] MAIL RCPT.. then DATA and the body (or
        # BDAT chunks), pipelined as far as the server allows; returns (index of its first
        # reply in self.got, 1 when a deferred AUTH leads it, BDAT or not). body None: stop
        # after the 354 (usmtp.stream writes it).
        sender, to, utf8 = m
        g = self.got
        b = len(g) + len(self.pend)
        pipe = self.has("PIPELINING")
        bd = self.has("CHUNKING") and body is not None
        ext = self.ext
        au = 0
        if self.auth:
            self.cmd(_C_AUTH, self.auth, True)
            self.auth = None
            au = 1
        p = ""
        if size and "SIZE" in ext:
            p += " SIZE=%d" % size
        if x and "8BITMIME" in ext:
            p += " BODY=8BITMIME"
        if utf8:
            p += " SMTPUTF8"
        self.cmd(_C_MAIL, "FROM:<%s>%s" % (sender, p))
        t = (b, au, bd)
        for a in to:
            yield _WAIT if pipe else 0
            if not pipe and g[b][0] != 250:
                return t
            self.cmd(_C_RCPT, "TO:<%s>" % a)
        if au or not pipe:
            # no message data before AUTH's 235 (a server that takes local mail without AUTH
            # would deliver it anyway); without pipelining each step waits for its reply
            yield 0
            if au and g[b][0] != 235 or not self.sendable(g[b + au:], to):
                return t
        if bd:
            from usmtp.bdat import bdat
            last = yield from bdat(self, body, (b + au, to))
            return (b, au, last)    # where the reply to BDAT LAST will be
        self.cmd(_C_DATA)
        yield 0                 # DATA ends a pipelined group (RFC 2920)
        if g[-1][0] == 354:
            if not self.sendable(g[b + au:], to):
                # nothing can be delivered but the server wants data: end it at once
                self.q.append(b".\r\n")
                self.pend.append(_C_EOD)
            elif body is not None:
                yield from self.body(body)
        return t

    def sendable(self, r, v):
        # MAIL (r[0]) taken and some RCPT accepted
        if r[0][0] == 250:
            for x in r[1:len(v) + 1]:
                if x[0] // 10 == 25:
                    return True
        return False

    def verdict(self, m, t, body=1, x=None):
        # what the replies to transaction t (self.tx; got[b:x]) say: the refused-recipients
        # dict, or the error that sank the message (returned, not raised). Anything but every
        # recipient taken is sorted out by usmtp.moreerrors.failed, loaded only then
        to = m[1]
        b, au, bd = t
        r = self.got[b:x]
        n = au + 1 + len(to)
        # (a reply after the RCPTs means AUTH, when it led, was taken: tx sends nothing more
        # before its 235)
        ok = len(r) > n and self.sendable(r[au:], to)
        if ok and bd:
            from usmtp.bdat import taken
            ok = taken(self, r[n:], bd)
        elif ok:
            ok = r[n][0] == 354 and (body is None or len(r) > n + 1 and r[n + 1][0] == 250)
        if ok:
            for i in r[au + 1:n]:
                if i[0] // 10 != 25:
                    break
            else:
                return {}
        from usmtp.moreerrors import failed
        return failed(m[0], to, au, r, bd, ok)

    def op_send(self, sender, v, body, size=None, x=False):
        """One message: the refused-recipients dict; raises when nobody got it."""
        self.need(_READY)
        m = self.envelope(sender, v, size)
        t = yield from self.tx(m, body, size, x)
        yield 0
        v = self.verdict(m, t, body)
        if isinstance(v, dict):
            return v
        if self.state != _CLOSED:
            yield from self.reply(_C_RSET)
        raise v

    def body(self, v):
        # DATA: the message stuffed and queued piece by piece, then its end
        n = 0
        for d in norm(v, True):
            n += len(d)
            self.q.append(d)
            yield -1
        self.pend.append(_C_EOD)
        return n    # (usmtp.trace shows it)


def sized(m):
    # -> (msg, its size or None, whether it has 8-bit bytes) for sendmail and send_many: a str
    # goes as UTF-8 bytes; a stream or a Message is measured as it goes
    if isinstance(m, str):
        m = m.encode()
    if isinstance(m, (bytes, bytearray)):
        return m, len(m), max(m, default=0) > 127
    return m, None, False


def fix(d, a, c):
    # one piece of a message -> wire bytes: every line end made CRLF (even a CR and its LF split
    # across pieces) and, with c (DATA), a leading "." doubled on every line (RFC 5321 4.5.2:
    # no SMTP smuggling). a = [at a line's start, last byte a CR], carried piece to piece.
    # O(piece) memory; C-level replace, never a per-byte loop.
    if isinstance(d, str):
        d = d.encode()
    elif not isinstance(d, bytes):
        if not isinstance(d, (bytearray, memoryview)):
            raise err(TypeError, 38, type(d).__name__)
        d = bytes(d)
    if not d:
        return b""
    if a[1] and d[0] == 10:
        d = d[1:]       # the LF of a CRLF split across pieces: already written
    a[1] = d[-1:] == b"\r"
    # (a replace that finds nothing returns its bytes as they are: no copy)
    d = d.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if c:
        d = d.replace(b"\r\n.", b"\r\n..")
        if a[0] and d[:1] == b".":
            d = b"." + d
    if d:
        a[0] = d[-1] == 10
    return d


def tail(a, c):
    # the last line closed, and with dots the end-of-data mark
    return (b"" if a[0] else b"\r\n") + (b".\r\n" if c else b"")


def norm(v, c):
    # the message as wire bytes, piece by piece (fix), then its tail
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, (bytes, bytearray, memoryview)):
        mv = memoryview(v)
        v = (mv[i:i + 4096] for i in range(0, len(mv), 4096))
    elif hasattr(v, "chunks"):
        v = v.chunks()
    st = [True, False]
    for d in v:
        d = fix(d, st, c)
        if d:
            yield d
    d = tail(st, c)
    if d:
        yield d
