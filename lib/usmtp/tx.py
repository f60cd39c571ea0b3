# One mail transaction for the core (core.py): the envelope checked, MAIL, RCPT and DATA
# (pipelined when the server allows), the body dot-stuffed on its way out, and what the replies
# mean for the message. Loaded on the first send; CHUNKING (bdat.py) and batches (batch.py)
# build on it and load only when used.
#
# Line ends and dot-stuffing are here too (every send needs them): DataStuffer (DATA, RFC 5321
# 4.5.2) and CRLFNormalizer (BDAT, RFC 3030) turn a message given in chunks of any size into
# wire bytes: bare LF, bare CR and CRLF all become one CRLF, even when a CR ends one chunk and
# its LF starts the next; DataStuffer doubles a leading "." on every line, even when the line
# starts at a chunk boundary, so "\n.\r\n", "\r.\n" and friends can never end the DATA early
# (SMTP smuggling). State is two flags: memory is O(chunk). The work is done with C-level
# bytes.replace, never a per-byte Python loop. usmtp.stuffing has the whole-message helpers.

from usmtp.core import FLUSH, MAX_OUTSTANDING, PIECE, RCPT_OK, check_arg
from usmtp import errors    # refusal classes load only when a reply refuses (errors.py)
from usmtp.errors import SMTPConnectError, SMTPError, SMTPUsageError


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
            raise SMTPUsageError(what + " is not a valid address: " + repr(addr) + " (" + p + ")")
    return addr


def is_ascii(s):
    return len(s.encode()) == len(s)


class Tx:
    """One mail transaction: what was asked and every reply that came back for it."""

    def __init__(self, sender, rcpts, source, size=None, eightbit=False):
        self.sender = sender
        self.rcpts = rcpts
        self.source = source
        self.size = size
        self.eightbit = eightbit
        self.mail = None
        self.rcpt = {}
        self.data = None
        self.end = None
        self.bdat_err = None
        self.error = None       # set when refused before sending (e.g. SIZE)
        self.auth = None        # reply to a deferred AUTH that led this transaction

    def on_reply(self, cmd, key, r):
        if cmd == "AUTH":
            self.auth = r
        elif cmd == "MAIL":
            self.mail = r
        elif cmd == "RCPT":
            self.rcpt[key] = r
        elif cmd == "DATA":
            self.data = r
        elif cmd == "EOD" or cmd == "BDAT-LAST":
            self.end = r
        elif cmd == "BDAT" and r.code != 250 and self.bdat_err is None:
            self.bdat_err = r

    def accepted(self):
        for a in self.rcpt:
            if self.rcpt[a].code in RCPT_OK:
                return True
        return False

    def outcome(self):
        """The refused-recipients dict, or raise the error that sank the message."""
        if self.error is not None:
            raise self.error
        a = self.auth
        if a is not None and a.code != 235:
            raise errors.SMTPAuthError(a.code, a.text, a.enhanced, "AUTH")
        m = self.mail
        if m is None:
            raise SMTPConnectError("no reply to MAIL FROM")
        if m.code == 530:
            # "authentication required" (or "STARTTLS first"): our setup, not this message,
            # so it is an AUTH error that pauses a relay instead of dead-lettering the mail
            raise errors.SMTPAuthError(530, m.text, m.enhanced, "MAIL")
        if m.code != 250:
            raise errors.SMTPSenderRefused(m.code, m.text, m.enhanced, self.sender)
        refused = {}
        for a in self.rcpts:
            r = self.rcpt.get(a)
            if r is None:
                raise SMTPConnectError("no reply to RCPT TO:<" + a + ">")
            if r.code not in RCPT_OK:
                refused[a] = (r.code, r.text)
        if len(refused) == len(self.rcpts):
            raise errors.SMTPRecipientsRefused(refused)
        d = self.data
        if d is not None and d.code != 354:
            raise errors.SMTPDataError(d.code, d.text, d.enhanced, "DATA")
        d = self.bdat_err
        if d is not None:
            raise errors.SMTPDataError(d.code, d.text, d.enhanced, "BDAT")
        e = self.end
        if e is None:
            raise SMTPConnectError("no reply to the end of the message")
        if e.code != 250:
            raise errors.SMTPDataError(e.code, e.text, e.enhanced, "end of data")
        return refused


def make_tx(sender, rcpts, source, size=None, eightbit=False):
    sender = envelope_addr(sender, "sender") if sender else ""
    if isinstance(rcpts, str):
        rcpts = [rcpts]
    seen = []
    for a in rcpts:
        a = envelope_addr(a, "recipient")
        if not a:
            raise SMTPUsageError("empty recipient address")
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
    raise TypeError("message chunk must be bytes, bytearray, memoryview or str, not " +
                    type(chunk).__name__)


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
        tx.error = errors.SMTPDataError(552, "message size %d exceeds the server's limit of %d"
                                        % (tx.size, limit), "5.3.4", "SIZE")
        return
    if not is_ascii(tx.sender + "".join(tx.rcpts)) and "SMTPUTF8" not in core.ext:
        tx.error = SMTPUsageError("non-ASCII address but the server does not offer SMTPUTF8")


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
    if not is_ascii(tx.sender + "".join(tx.rcpts)):
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
