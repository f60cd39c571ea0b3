# usmtp client core: the SMTP client protocol with no I/O (no socket, no ssl, no clock).
#
# This file owns every state transition. TABLE below says, for the session state the server is
# in and the command a reply answers, which codes mean success and where success and failure
# lead; a driver only reports what happened (tls_established(), lost()), it never sets the
# state. A reply the table does not expect raises SMTPProtocolError naming the state.
#
# The driver (client.py) runs one operation at a time:
#     core.start(core.op_open())            # or op_hello, op_auth, op_send, op_send_many, ...
#     while True:
#         out = core.data_to_send();  out and sock.write(out)
#         step = core.poll()                # SEND, NEED_DATA or DONE; raises SMTPError
#         if step is DONE: return core.result
#         if step is NEED_DATA: core.receive_data(sock.read())   # b"" means EOF
#
# Operations are generators. They queue commands with _send() and yield a number N to wait
# until at most N replies are outstanding (0: all answered), FLUSH to let the driver write
# what is queued once it is worth a write, or WRITE to have it all written before they go on
# (a reused buffer). Replies are matched to commands in order, which is what makes PIPELINING
# (RFC 2920) safe. Here too, because every send needs them and on a board each module costs
# heap of its own: the reply parser (every byte the server controls is bounded), a deferred
# AUTH PLAIN, and one message over DATA (the transaction, line ends and dot-stuffing, below).
# The rest loads when an operation needs it: bdat.py (CHUNKING), batch.py (send_many),
# stream.py (a body written piece by piece, as uMail does), auth.py (an AUTH exchange: LOGIN,
# challenges), oauth.py (XOAUTH2), trace.py (a trace).

from usmtp import errors    # its rarer classes load when a failure names them (errors.py)
from usmtp.errors import SMTPConnectError, SMTPError, SMTPProtocolError, SMTPUsageError

SEND = 1
NEED_DATA = 2
DONE = 0
FLUSH = -1
WRITE = -2

MAX_OUTSTANDING = 100      # pipelined commands in flight before we stop and read replies
MAX_AUTH_CHALLENGES = 5
BDAT_SIZE = 4096           # body bytes per BDAT chunk when the size is not known up front
FLUSH_AT = 2048            # queued bytes that make a body write worth doing
PIECE = 4096               # a message given whole is stuffed and queued this much at a time
MAX_LINE = 2048      # a reply line: RFC 5321 says 512; real servers are sloppier
MAX_LINES = 100      # continuation lines in one reply (EHLO lists ~20)
MAX_REPLY = 16384    # total bytes of one reply

# The state table, one row a line: state, command (the one a reply answers, or an event the
# driver reports), the reply codes that mean success, the state after success, the state after
# a 4xx/5xx ("-": unchanged). State "*" is every state. "LOST" and "TLS" are no replies: the
# driver reports a connection that broke or timed out (lost()), or a finished TLS handshake
# (tls_established()). Text, not a dict of tuples: on a board each tuple is a heap object.
TABLE = """
greeting GREETING 220 start closed
start EHLO 250 ready start
start HELO 250 ready start
ready HELO 250 ready ready
ready EHLO 250 ready ready
ready STARTTLS 220 tls ready
tls TLS - start -
ready AUTH 235/334 ready ready
ready AUTH-RESP 235/334 ready ready
ready MAIL 250 mail ready
mail RCPT 250/251/252 mail mail
mail DATA 354 data mail
data EOD 250 ready ready
mail BDAT 250 mail mail
mail BDAT-LAST 250 ready mail
ready RCPT - ready ready
ready DATA - ready ready
ready BDAT - ready ready
ready BDAT-LAST - ready ready
* RSET 250 ready -
* NOOP 250 - -
* QUIT 221 closed closed
* LOST - closed closed
"""


def row(state, cmd):
    """The table's row for a reply to cmd in state: [state, cmd, codes, on success, on
    failure], or None when cmd is not valid there."""
    i = TABLE.find("\n* " + cmd + " ")
    if i < 0:
        i = TABLE.find("\n" + state + " " + cmd + " ")
        if i < 0:
            return None
    return TABLE[i + 1:TABLE.find("\n", i + 1)].split()


RCPT_OK = (250, 251, 252)


def check_arg(value, what):
    """Refuse CR, LF and NUL in anything that goes on a command line (no command injection)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if "\r" in value or "\n" in value or "\x00" in value:
        raise SMTPUsageError(what + ": CR, LF or NUL in " + repr(value))
    return value


# ---- replies: bytes from the server -> Reply ----------------------------------------------

class Reply:
    def __init__(self, code, enhanced):
        self.code = code
        self.lines = []             # text of each line, enhanced code stripped
        self.enhanced = enhanced    # "5.1.1" or None
        self.text = ""              # the lines joined, once the reply is complete


def printable(b):
    return "".join([chr(c) if 32 <= c < 127 else "?" for c in b])


def _ascii(b):
    # reply text is meant to be ASCII; show anything else without failing on it
    try:
        return b.decode("utf-8")
    except UnicodeError:
        return printable(b)


def _enhanced(code, text):
    # "5.1.1 User unknown" -> ("5.1.1", "User unknown") when the class matches the reply code
    head, _, rest = text.partition(" ")
    p = head.split(".")
    if len(p) != 3 or p[0] != str(code // 100):
        return None, text
    for x in p:
        if not x or len(x) > 3 or not x.isdigit():
            return None, text
    return head, rest


def _bad(what):
    return SMTPProtocolError("reply " + what)


def parse_ehlo(reply):
    """EHLO reply -> {KEYWORD: params string}. The first line is the server's name."""
    ext = {}
    for line in reply.lines[1:]:
        kw, _, params = line.strip().partition(" ")
        # old servers say "AUTH=LOGIN PLAIN"
        if kw[:5].upper() == "AUTH=":
            params = kw[5:] + (" " + params if params else "")
            kw = "AUTH"
        kw = kw.upper()
        if not kw:
            continue
        if kw in ext and kw == "AUTH":
            params = ext[kw] + " " + params
        ext[kw] = params
    return ext


# ---- AUTH PLAIN (RFC 4954, 4616); LOGIN and the exchange are in auth.py, XOAUTH2 in oauth.py ----

def b64(data):
    import binascii
    if isinstance(data, str):
        data = data.encode()
    return binascii.b2a_base64(data).strip()


def check_secret(name, value):
    # a credential as text; the value itself is never shown
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeError:
            raise SMTPUsageError(name + " is not UTF-8")
    if not isinstance(value, str) or "\x00" in value:
        raise SMTPUsageError(name + " must be a string without NUL")
    return value


def plain(user, secret):
    # the AUTH PLAIN response (RFC 4616): the one a board sends, deferred (op_auth)
    return b64("\x00" + check_secret("user", user) + "\x00" + check_secret("password", secret))


def lazy(obj, table, name):
    # obj's method `name` when `table` (" name:module ...") says which usmtp module holds it, as
    # a function of obj: the method and its module load on first use, never for one message
    i = table.find(" " + name + ":")
    if i < 0:
        raise AttributeError(name)
    i += len(name) + 2
    f = getattr(__import__("usmtp." + table[i:table.find(" ", i)], None, None, ["_"]), name)
    return lambda *a, **k: f(obj, *a, **k)


def _refused(r, what):
    return errors.reply_error(r.code, r.text, r.enhanced, what)


# ---- the session ------------------------------------------------------------------------------

class ClientCore:
    def __init__(self, mode="plain", local_hostname="[127.0.0.1]", allow_plaintext_auth=False,
                 trace=None, secure=False, pipelining=True, chunking=True,
                 bdat_size=BDAT_SIZE, flush_at=FLUSH_AT):
        # the session's one buffer first, before a module loads around it (usmtp.checks here)
        self._out = bytearray(flush_at)    # where queued pieces are gathered (data_to_send)
        from usmtp.checks import mode_problem
        p = mode_problem(mode)
        if p:
            raise SMTPUsageError("mode " + p)
        self.mode = mode
        self.local_hostname = check_arg(local_hostname, "local_hostname")
        self.allow_plaintext_auth = allow_plaintext_auth
        self.trace = trace
        self.secure = secure or mode == "tls"
        self.use_pipelining = pipelining
        self.use_chunking = chunking
        self.bdat_size = bdat_size
        self.flush_at = flush_at
        self.state = "greeting"
        self._ext({}, False)        # EHLO keywords -> params; emptied after STARTTLS
        self.authenticated = False
        self.last_reply = None
        self.replies = 0           # replies dispatched so far (the driver times each one)
        self.greeting_reply = None
        self.result = None
        # the reply parser: received bytes, where the first unparsed line starts, the reply
        # being assembled and its size so far
        self._buf = bytearray()
        self._pos = 0
        self._r = None
        self._size = 0
        self._q = []               # pieces to write, in order (commands, body bytes)
        self._qn = 0               # their bytes
        self._pending = []         # (command, key, transaction) awaiting a reply, in order
        self._op = None
        self._wait = None
        self._drain = False        # WRITE: everything queued goes out before the op resumes
        self._eof = False
        self._batch = None
        self._deferred_auth = None

    def _ext(self, ext, esmtp):
        # what the server offers (EHLO), and what we use of it
        self.ext = ext
        self.esmtp = esmtp
        self.pipelining = self.use_pipelining and "PIPELINING" in ext
        self.chunking = self.use_chunking and "CHUNKING" in ext
        try:
            self.max_size = int(ext.get("SIZE") or "0")
        except ValueError:
            self.max_size = 0       # a SIZE we cannot read is no limit we can honour

    # ---- driver interface -------------------------------------------------------------

    def start(self, op):
        if self._op is not None:
            raise SMTPUsageError("busy")
        if self.state == "closed":
            raise SMTPConnectError("connection closed")
        self._op = op
        self._wait = None
        self.result = None

    def data_to_send(self):
        """What to write now (bytes-like, valid until the next call). Pieces are handed over as
        they were queued (a body piece is never copied into a growing buffer); small ones go
        together, up to flush_at bytes, copied into one buffer allocated with the session (on a
        board an allocation after the TLS handshake may find no such block free)."""
        q = self._q
        if not q:
            return b""
        n = k = 0       # the leading pieces that fit together
        while k < len(q) and n + len(q[k]) <= self.flush_at:
            n += len(q[k])
            k += 1
        if k < 2:
            out = q.pop(0)      # one piece (or one larger than flush_at) goes as it is
        else:
            # (MicroPython's join takes no memoryview)
            out = memoryview(self._out)[:n]
            i = 0
            for p in q[:k]:
                out[i:i + len(p)] = p
                i += len(p)
            del q[:k]
        self._qn -= len(out)
        return out

    def receive_data(self, data):
        if not data:
            self._eof = True
            return
        b = self._buf
        b.extend(data)
        # a line that never ends must not eat the heap
        if len(b) - self._pos > MAX_LINE and b.find(b"\n", self._pos) < 0:
            raise _bad("line over %d bytes" % MAX_LINE)

    def next_reply(self):
        """The next complete Reply, or None when more bytes are needed. Every byte the server
        controls is bounded: MAX_LINE a line, MAX_LINES lines, MAX_REPLY bytes a reply."""
        buf = self._buf
        while True:
            nl = buf.find(b"\n", self._pos)
            if nl < 0:
                if self._pos:
                    self._buf = buf[self._pos:]
                    self._pos = 0
                return None
            line = bytes(buf[self._pos:nl])
            self._pos = nl + 1
            if line[-1:] == b"\r":
                line = line[:-1]
            n = len(line)
            if n > MAX_LINE:
                raise _bad("line over %d bytes" % MAX_LINE)
            self._size += n + 2
            if self._size > MAX_REPLY:
                raise _bad("over %d bytes" % MAX_REPLY)
            # " " ends a reply, "-" goes on
            if n < 3 or not line[:3].isdigit() or not 200 <= int(line[:3]) <= 599 or \
                    (n > 3 and line[3] != 32 and line[3] != 45):
                raise _bad("line malformed: %r" % _ascii(line[:40]))
            code = int(line[:3])
            text = _ascii(line[4:])
            r = self._r
            if r is None:
                enh, text = _enhanced(code, text)
                r = self._r = Reply(code, enh)
            else:
                if code != r.code:
                    raise _bad("code changed from %d to %d" % (r.code, code))
                if r.enhanced is not None:
                    enh, rest = _enhanced(code, text)
                    if enh is not None:
                        text = rest
            r.lines.append(text)
            if len(r.lines) > MAX_LINES:
                raise _bad("over %d lines" % MAX_LINES)
            if n == 3 or line[3] == 32:
                r.text = "\n".join(r.lines)
                self._r = None
                self._size = 0
                return r

    def poll(self):
        try:
            return self._poll()
        except SMTPError as e:
            self._op = None
            if self._batch is not None:
                from usmtp.batch import partial_results
                e.partial_results = partial_results(self)
            if isinstance(e, (SMTPProtocolError, SMTPConnectError)) or \
                    (getattr(e, "code", 0) == 421):
                self._go("LOST")
            raise

    def tls_established(self):
        """The driver wrapped the socket in TLS: forget what was said in plaintext (RFC 3207)."""
        if self.state != "tls":
            raise SMTPUsageError("no STARTTLS to establish")
        self.secure = True
        self._ext({}, False)
        self._go("TLS")

    def lost(self):
        """The driver lost the connection (an error, a timeout, close()): nothing more on it."""
        self._go("LOST")

    def __getattr__(self, name):
        # op_send_many(txs, on_settled=None, one_end=True): several messages, pipelined as far
        # as the server allows; per message, its refused dict or its SMTPError (batch.py).
        # partial_results(): after a batch broke off, per message its outcome or None (batch.py).
        # op_begin_data(tx), write_data(chunk), op_end_data(): MAIL, RCPT and DATA up to the
        # 354, the body queued piece by piece, its end (stream.py: the shape uMail expects).
        return lazy(self, " op_send_many:batch partial_results:batch op_begin_data:stream"
                          " write_data:stream op_end_data:stream ", name)

    def waiting_for(self):
        """The command whose reply is awaited next (the driver picks its timeout by it)."""
        return self._pending[0][0] if self._pending else None

    # ---- machinery --------------------------------------------------------------------

    def _go(self, event):
        # a transition that no reply brings: the table's success target
        self.state = row(self.state, event)[3]

    def _poll(self):
        while True:
            if self._op is None:
                return DONE
            if self._drain:
                if self._q:
                    return SEND
                self._drain = False
            w = self._wait
            if w is not None:
                while len(self._pending) > w:
                    r = self.next_reply()
                    if r is None:
                        if self._q:
                            return SEND
                        if self._eof:
                            raise SMTPConnectError("server closed the connection before "
                                                   "replying to " + self._pending[0][0])
                        return NEED_DATA
                    self._dispatch(r)
                self._wait = None
            try:
                y = self._op.send(None)
            except StopIteration as e:
                self._op = None
                self.result = e.value
                return DONE
            if y == FLUSH:
                # let small body pieces gather into one write (fewer segments and syscalls),
                # then have all of it written before the body goes on (memory O(flush_at));
                # whatever is queued is always written before we wait for a reply
                if self._qn >= self.flush_at:
                    self._drain = True
            elif y == WRITE:
                self._drain = True
            else:
                self._wait = y

    def _dispatch(self, r):
        cmd, key, ctx = self._pending.pop(0)
        self.replies += 1
        if self.trace:
            from usmtp.trace import received
            received(self.trace, r)
        self.last_reply = r
        if r.code == 421:
            # the server is closing the channel: nothing else will be answered
            self._go("LOST")
            self._pending = []
            raise errors.SMTPTransientError(421, r.text, r.enhanced, cmd)
        t = row(self.state, cmd)
        if t is None:
            raise SMTPProtocolError("reply %d to %s in state %s" % (r.code, cmd, self.state))
        if str(r.code) in t[2]:
            target = t[3]
        elif r.code >= 400:
            target = t[4]
        else:
            raise SMTPProtocolError("reply %d to %s in state %s: %s" % (r.code, cmd, self.state,
                                                                        r.text))
        if target != "-":
            self.state = target
        if cmd == "AUTH" and r.code == 235:
            self.authenticated = True
        if ctx is not None:
            ctx.on_reply(cmd, key, r)

    def _send(self, cmd, arg=None, ctx=None, key=None, redact=False, verb=None):
        line = cmd if verb is None else verb
        if arg is not None:
            arg = check_arg(arg, cmd + " argument")
            line = line + " " + arg if line else arg
        self._raw(line.encode() + b"\r\n")
        self._pending.append((cmd, key, ctx))
        if self.trace:
            from usmtp.trace import sent    # loaded only when tracing (redaction is there)
            sent(self.trace, cmd, line, arg, redact)

    def _raw(self, data):
        self._q.append(data)
        self._qn += len(data)

    def _need(self, *states):
        if self.state not in states:
            raise SMTPUsageError("not in state " + self.state + " (needs " + " or ".join(states) +
                                 ")")

    def _reply(self, cmd):
        # queue cmd; the generator that yields from this gets its reply
        self._send(cmd)
        yield 0
        return self.last_reply

    # ---- operations: the session -------------------------------------------------------

    def op_open(self):
        """Greeting, EHLO (HELO fallback), then STARTTLS as the mode asks.
        Returns "starttls" when the driver must now wrap the socket, else "ready"."""
        if self.state == "greeting":
            self._pending.append(("GREETING", None, None))
            yield 0
            r = self.greeting_reply = self.last_reply
            if r.code != 220:
                raise _refused(r, "greeting")
        res = yield from self.op_hello()
        if self.secure or self.mode == "plain":
            return res
        res = yield from self.op_starttls(self.mode == "starttls")
        return res

    def op_starttls(self, required=True):
        """STARTTLS. Returns "starttls" when the driver must now wrap the socket; "ready" when
        the server does not offer or refuses it and it is not required."""
        self._need("ready")
        if self.secure:
            raise SMTPUsageError("the connection is already encrypted")
        if "STARTTLS" not in self.ext:
            if required:
                raise errors.SMTPTLSError("server offers no STARTTLS (required)")
            return "ready"
        r = yield from self._reply("STARTTLS")
        if r.code != 220:
            if required:
                raise errors.SMTPTLSError("STARTTLS refused: %d %s" % (r.code, r.text))
            return "ready"
        if len(self._buf) > self._pos:
            # bytes sent before the handshake would be read as if they came over TLS
            self._buf = bytearray()
            self._pos = 0
            raise SMTPProtocolError("data after the STARTTLS reply (injection?)")
        return "starttls"

    def op_hello(self):
        """EHLO, or HELO when the server does not know EHLO."""
        self._need("start", "ready")
        self._send("EHLO", self.local_hostname)
        yield 0
        r = self.last_reply
        if r.code == 250:
            self._ext(parse_ehlo(r), True)
            return "ready"
        if r.code < 500:
            raise _refused(r, "EHLO")
        self._send("HELO", self.local_hostname)
        yield 0
        r = self.last_reply
        if r.code != 250:
            raise _refused(r, "HELO")
        self._ext({}, False)
        return "ready"

    def op_auth(self, user, secret, oauth=False, mechanism=None, defer=False):
        """AUTH. With defer=True and a server that pipelines, a mechanism with an initial
        response (PLAIN, XOAUTH2) is not sent now but leads the next transaction's group
        (RFC 4954 section 4): one round trip less; a refusal is then raised by that send."""
        self._need("ready")
        if not self.secure and not self.allow_plaintext_auth:
            raise SMTPUsageError("no AUTH over an unencrypted connection (allow_plaintext_auth)")
        offered = self.ext.get("AUTH")
        if offered is None:
            raise errors.SMTPAuthError(503, "AUTH not offered", None, "AUTH")
        if defer and self.pipelining and not oauth and (mechanism or "PLAIN").upper() == "PLAIN" \
                and "PLAIN" in offered.upper().split():
            # a board's login: nothing to exchange, so auth.py stays unloaded
            self._deferred_auth = "PLAIN " + plain(user, secret).decode()
            return "PLAIN"
        from usmtp.auth import exchange
        res = yield from exchange(self, offered, user, secret, oauth, mechanism, defer)
        return res

    def op_simple(self, cmd):
        """NOOP, RSET or QUIT: returns the reply."""
        if self.state == "data":
            # inside DATA the command would become message text and never be answered
            raise SMTPUsageError(cmd + " not in state data")
        r = yield from self._reply(cmd)
        if r.code != (221 if cmd == "QUIT" else 250):
            raise _refused(r, cmd)
        return r

    def _rset(self):
        yield from self._reply("RSET")

    # ---- operations: messages ------------------------------------------------------------

    def make_tx(self, sender, rcpts, source, size=None, eightbit=False):
        """Validate an envelope into a Tx (raises SMTPUsageError on bad input)."""
        return make_tx(sender, rcpts, source, size, eightbit)

    def op_send(self, tx):
        """One message. Returns the refused-recipients dict; raises when nothing was sent."""
        return send(self, tx)


# ---- one mail transaction ---------------------------------------------------------------------
# The envelope checked, MAIL, RCPT and DATA (pipelined when the server allows), the body
# dot-stuffed on its way out, and what the replies mean for the message. CHUNKING (bdat.py) and
# batches (batch.py) build on it and load only when used. It is in this module, not one of its
# own: every send needs it, and on a board each module costs heap of its own.
#
# Line ends and dot-stuffing: DataStuffer (DATA, RFC 5321 4.5.2) and CRLFNormalizer (BDAT,
# RFC 3030) turn a message given in chunks of any size into wire bytes: bare LF, bare CR and
# CRLF all become one CRLF, even when a CR ends one chunk and its LF starts the next;
# DataStuffer doubles a leading "." on every line, even when the line starts at a chunk
# boundary, so "\n.\r\n", "\r.\n" and friends can never end the DATA early (SMTP smuggling).
# State is two flags: memory is O(chunk). The work is done with C-level bytes.replace, never a
# per-byte Python loop. usmtp.stuffing has the whole-message helpers.

def envelope_addr(addr, what):
    """'Name <a@b>' or 'a@b' -> 'a@b' (the one address rule, usmtp.checks); '' stays ''."""
    from usmtp.checks import address_problem, split_mailbox
    addr = check_arg(addr, what)
    try:
        addr = split_mailbox(addr)[1]
    except ValueError as e:
        raise SMTPUsageError(what + " " + repr(addr) + " " + str(e))
    if addr:
        p = address_problem(addr)
        if p:
            raise SMTPUsageError(what + " " + repr(addr) + " " + p)
    return addr


class Tx:
    """One mail transaction: what was asked and every reply that came back for it."""

    def __init__(self, sender, rcpts, source, size=None, eightbit=False):
        self.sender = sender
        self.rcpts = rcpts
        self.source = source
        self.size = size
        self.eightbit = eightbit
        a = sender + "".join(rcpts)
        self.utf8 = len(a.encode()) != len(a)       # a non-ASCII address: SMTPUTF8
        self.mail = None
        self.rcpt = {}
        self.data = None
        self.end = None
        self.bdat_err = None
        self.error = None       # set when refused before sending (e.g. SIZE)
        self.auth = None        # reply to a deferred AUTH that led this transaction

    def on_reply(self, cmd, key, r):
        # AUTH, MAIL, DATA -> .auth, .mail, .data; EOD and BDAT-LAST -> .end; RCPT -> .rcpt
        if cmd == "RCPT":
            self.rcpt[key] = r
        elif cmd == "BDAT":
            if r.code != 250 and self.bdat_err is None:
                self.bdat_err = r
        else:
            setattr(self, "end" if cmd[0] in "EB" else cmd.lower(), r)

    def accepted(self):
        for a in self.rcpt:
            if self.rcpt[a].code in RCPT_OK:
                return True
        return False

    def outcome(self):
        """The refused-recipients dict, or raise the error that sank the message (the error
        and its classes come from usmtp.moreerrors: a message that went through loads none)."""
        m = self.mail
        a = self.auth
        d = self.data
        e = self.end
        if self.error is None and (a is None or a.code == 235) and m is not None and \
                m.code == 250 and (d is None or d.code == 354) and self.bdat_err is None and \
                e is not None and e.code == 250:
            refused = {}
            for x in self.rcpts:
                r = self.rcpt.get(x)
                if r is None:
                    break
                if r.code not in RCPT_OK:
                    refused[x] = (r.code, r.text)
            else:
                if len(refused) < len(self.rcpts):
                    return refused
        from usmtp.moreerrors import failed
        return failed(self)     # raises


def make_tx(sender, rcpts, source, size=None, eightbit=False):
    sender = envelope_addr(sender, "sender") if sender else ""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    seen = []
    for a in rcpts:
        a = envelope_addr(a, "recipient")
        if not a:
            raise SMTPUsageError("empty recipient")
        if a not in seen:
            seen.append(a)
    if not seen:
        raise SMTPUsageError("no recipients")
    return Tx(sender, seen, source, size, eightbit)


def chunks(source):
    if isinstance(source, str):
        source = source.encode()
    if isinstance(source, (bytes, bytearray, memoryview)):
        # in pieces: stuffing or queueing the whole at once would copy the message two or
        # three times over (memory O(message), not O(chunk))
        mv = memoryview(source)
        n = len(mv)
        if n <= PIECE:
            yield source
            return
        for i in range(0, n, PIECE):
            yield mv[i:i + PIECE]
        return
    if hasattr(source, "chunks"):
        source = source.chunks()
    for c in source:
        yield c


def _as_bytes(chunk):
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError("message chunk: " + type(chunk).__name__)


class CRLFNormalizer:
    # Without dot-stuffing: for BDAT, where the byte count delimits the message.
    _dots = False

    def __init__(self):
        self._bol = True        # the next output byte starts a line
        self._cr = False        # the last input byte was a CR, already written as CRLF
        self._ended = False

    def feed(self, chunk):
        if self._ended:
            raise ValueError("feed() after end()")
        data = _as_bytes(chunk)
        if not data:
            return b""
        if self._cr:
            self._cr = False
            if data[0] == 10:   # the LF of a CRLF split across chunks: already written
                data = data[1:]
                if not data:
                    return b""
        if b"\r" in data:
            self._cr = data[-1] == 13
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" in data:
            data = data.replace(b"\n", b"\r\n")
        if self._dots:
            if b"\r\n." in data:
                data = data.replace(b"\r\n.", b"\r\n..")
            if self._bol and data[0] == 46:
                data = b"." + data
        self._bol = data[-1] == 10
        return data

    def end(self):
        # close the last line; DataStuffer adds the end-of-data mark
        if self._ended:
            raise ValueError("end() called twice")
        self._ended = True
        tail = b"" if self._bol else b"\r\n"
        if self._dots:
            tail += b".\r\n"
        return tail


class DataStuffer(CRLFNormalizer):
    _dots = True


def send(core, tx):
    # core.op_send: one message; the refused-recipients dict, or raise when nothing was sent
    core._need("ready")
    precheck(core, tx)
    if tx.error is None:
        yield from transaction(core, tx)
        yield 0
    err = None
    try:
        refused = tx.outcome()
    except SMTPError as e:
        err = e
    if err is not None:
        if core.state != "closed" and tx.error is None:
            yield from core._rset()
        raise err
    return refused


def precheck(core, tx):
    limit = core.max_size
    if limit and tx.size and tx.size > limit:
        tx.error = errors.SMTPDataError(552, "size %d over the server's limit %d"
                                        % (tx.size, limit), "5.3.4", "SIZE")
    elif tx.utf8 and "SMTPUTF8" not in core.ext:
        tx.error = SMTPUsageError("non-ASCII address, no SMTPUTF8")


def transaction(core, tx, stream=True):
    pipe = core.pipelining
    auth = core._deferred_auth is not None
    if auth:
        core._send("AUTH", core._deferred_auth, tx, "auth", redact=True)
        core._deferred_auth = None
    params = ""
    ext = core.ext
    if tx.size and "SIZE" in ext:
        params += " SIZE=" + str(tx.size)
    if tx.eightbit and "8BITMIME" in ext:
        params += " BODY=8BITMIME"
    if tx.utf8:
        params += " SMTPUTF8"
    core._send("MAIL", "FROM:<" + tx.sender + ">" + params, tx)
    if not pipe:
        yield 0
        if tx.mail.code != 250:
            return
    for a in tx.rcpts:
        core._send("RCPT", "TO:<" + a + ">", tx, a)
        yield MAX_OUTSTANDING if pipe else 0
    if not pipe and not tx.accepted():
        return
    if auth:
        # AUTH may ride with MAIL and RCPT, but no message data goes out before its 235:
        # a server that takes local mail without AUTH would otherwise deliver it anyway
        yield 0
        if tx.auth is None or tx.auth.code != 235:
            return
    if stream and core.chunking:
        from usmtp.bdat import bdat
        yield from bdat(core, tx, pipe)
        return
    core._send("DATA", None, tx)
    yield 0                     # DATA ends a pipelined group (RFC 2920)
    if tx.data.code != 354 or not stream:
        return
    if tx.mail.code != 250 or not tx.accepted():
        # nothing can be delivered but the server wants data: end it at once (RFC 2920)
        core._raw(b".\r\n")
        core._pending.append(("EOD", None, tx))
        return
    st = DataStuffer()
    n = 0
    for c in chunks(tx.source):
        out = st.feed(c)
        if out:
            n += len(out)
            core._raw(out)
            yield FLUSH
    out = st.end()
    n += len(out)
    core._raw(out)
    core._pending.append(("EOD", None, tx))
    if core.trace:
        core.trace("C: <message data, %d bytes>" % n)
        core.trace("C: .")
