# usmtp client core: the whole SMTP client protocol with no I/O (no socket, no ssl, no clock).
#
# This file owns every state transition. TABLE below says, for the session state the server is
# in and the command a reply answers, which codes mean success and where success and failure
# lead. A reply the table does not expect raises SMTPProtocolError naming the state.
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
# until at most N replies are outstanding (0: all answered), or FLUSH to have the driver write
# what is queued before they go on (so a message body streams in O(chunk) memory).
# Replies are matched to commands in order, which is what makes PIPELINING (RFC 2920) safe.

from usmtp.errors import (SMTPAuthError, SMTPConnectError, SMTPDataError, SMTPError,
                          SMTPProtocolError, SMTPRecipientsRefused, SMTPSenderRefused,
                          SMTPTLSError, SMTPTransientError, SMTPUsageError, reply_error)
from usmtp.checks import address_problem, mode_problem, split_mailbox
from usmtp.reply import ReplyParser, parse_ehlo

SEND = "send"
NEED_DATA = "need-data"
DONE = "done"
FLUSH = -1

MAX_OUTSTANDING = 100      # pipelined commands in flight before we stop and read replies
MAX_AUTH_CHALLENGES = 5
BDAT_SIZE = 4096           # body bytes per BDAT chunk when the size is not known up front
FLUSH_AT = 2048            # queued bytes that make a body write worth doing

# (state, command) -> (success codes, state after success, state after a 4xx/5xx)
# None as a target state means "unchanged".
TABLE = {
    ("greeting", "GREETING"): ((220,), "start", "closed"),
    ("start", "EHLO"): ((250,), "ready", "start"),
    ("start", "HELO"): ((250,), "ready", "start"),
    ("ready", "HELO"): ((250,), "ready", "ready"),     # ehlo() again on a HELO-only server
    ("ready", "EHLO"): ((250,), "ready", "ready"),
    ("ready", "STARTTLS"): ((220,), "tls", "ready"),
    ("ready", "AUTH"): ((235, 334), "ready", "ready"),
    ("ready", "AUTH-RESP"): ((235, 334), "ready", "ready"),
    ("ready", "MAIL"): ((250,), "mail", "ready"),
    ("mail", "RCPT"): ((250, 251, 252), "mail", "mail"),
    ("mail", "DATA"): ((354,), "data", "mail"),
    ("data", "EOD"): ((250,), "ready", "ready"),
    ("mail", "BDAT"): ((250,), "mail", "mail"),
    ("mail", "BDAT-LAST"): ((250,), "ready", "mail"),
    # after a refused MAIL, pipelined RCPT/DATA/BDAT can only fail
    ("ready", "RCPT"): ((), "ready", "ready"),
    ("ready", "DATA"): ((), "ready", "ready"),
    ("ready", "BDAT"): ((), "ready", "ready"),
    ("ready", "BDAT-LAST"): ((), "ready", "ready"),
}
# commands valid in every state
ANY_STATE = {"RSET": ((250,), "ready", None), "NOOP": ((250,), None, None),
             "QUIT": ((221,), "closed", "closed")}

RCPT_OK = (250, 251, 252)


def check_arg(value, what):
    """Refuse CR, LF and NUL in anything that goes on a command line (no command injection)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    for bad in ("\r", "\n", "\x00"):
        if bad in value:
            raise SMTPUsageError(what + " contains a CR, LF or NUL character: " + repr(value))
    return value


def envelope_addr(addr, what):
    """'Name <a@b>' or 'a@b' -> 'a@b' (the one address rule, usmtp.checks); '' stays ''."""
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


def _is_ascii(s):
    for c in s:
        if ord(c) > 127:
            return False
    return True


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
        self.n = 0              # its place in a batch
        self.told = None        # False while a batch's on_settled waits for it, then True

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

    def complete(self):
        return self.end is not None or self.error is not None

    def settled(self):
        """The server's replies so far decide this message: it was answered at the end of
        its data, or refused at some step (AUTH, MAIL, every RCPT, DATA, a BDAT chunk). A
        message not settled when a batch breaks off is the only kind worth sending again."""
        if self.complete() or self.bdat_err is not None:
            return True
        if self.auth is not None and self.auth.code != 235:
            return True
        if self.mail is not None and self.mail.code != 250:
            return True
        if self.rcpts and len(self.rcpt) == len(self.rcpts) and not self.accepted():
            return True
        return self.data is not None and self.data.code != 354

    def outcome(self):
        """The refused-recipients dict, or raise the error that sank the message."""
        if self.error is not None:
            raise self.error
        a = self.auth
        if a is not None and a.code != 235:
            raise SMTPAuthError(a.code, a.text, a.enhanced, "AUTH")
        m = self.mail
        if m is None:
            raise SMTPConnectError("no reply to MAIL FROM")
        if m.code == 530:
            # "authentication required" (or "STARTTLS first"): our setup, not this message,
            # so it is an AUTH error that pauses a relay instead of dead-lettering the mail
            raise SMTPAuthError(530, m.text, m.enhanced, "MAIL")
        if m.code != 250:
            raise SMTPSenderRefused(m.code, m.text, m.enhanced, self.sender)
        refused = {}
        for a in self.rcpts:
            r = self.rcpt.get(a)
            if r is None:
                raise SMTPConnectError("no reply to RCPT TO:<" + a + ">")
            if r.code not in RCPT_OK:
                refused[a] = (r.code, r.text)
        if len(refused) == len(self.rcpts):
            raise SMTPRecipientsRefused(refused)
        if self.data is not None and self.data.code != 354:
            d = self.data
            raise SMTPDataError(d.code, d.text, d.enhanced, "DATA")
        if self.bdat_err is not None:
            d = self.bdat_err
            raise SMTPDataError(d.code, d.text, d.enhanced, "BDAT")
        e = self.end
        if e is None:
            raise SMTPConnectError("no reply to the end of the message")
        if e.code != 250:
            raise SMTPDataError(e.code, e.text, e.enhanced, "end of data")
        return refused


PIECE = 4096               # a message given whole is stuffed and queued this much at a time


def _failed(tx):
    # what the replies read so far say: this transaction can no longer deliver anything
    if tx.bdat_err is not None or (tx.mail is not None and tx.mail.code != 250):
        return True
    return len(tx.rcpt) == len(tx.rcpts) and not tx.accepted()


def _chunks(source):
    if isinstance(source, str):
        source = source.encode("utf-8")
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


class ClientCore:
    def __init__(self, mode="plain", local_hostname="[127.0.0.1]", allow_plaintext_auth=False,
                 trace=None, secure=False, pipelining=True, chunking=True,
                 bdat_size=BDAT_SIZE, flush_at=FLUSH_AT):
        if mode_problem(mode):
            raise SMTPUsageError("mode " + mode_problem(mode))
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
        self.ext = {}              # EHLO keywords -> params; emptied after STARTTLS
        self.esmtp = False
        self.authenticated = False
        self.last_reply = None
        self.replies = 0           # replies dispatched so far (the driver times each one)
        self.greeting_reply = None
        self.result = None
        self._parser = ReplyParser()
        self._out = bytearray()
        self._pending = []         # (command, key, transaction) awaiting a reply, in order
        self._op = None
        self._wait = None
        self._eof = False
        self._batch = None
        self._open_tx = None
        self._stuffer = None
        self._deferred_auth = None
        self._on_settled = None

    # ---- driver interface -------------------------------------------------------------

    def start(self, op):
        if self._op is not None:
            raise SMTPUsageError("an operation is already running")
        if self.state == "closed":
            raise SMTPConnectError("connection is closed")
        self._op = op
        self._wait = None
        self.result = None

    def data_to_send(self):
        out = self._out
        if not out:
            return b""
        self._out = bytearray()
        return out

    def receive_data(self, data):
        if not data:
            self._eof = True
            return
        self._parser.feed(data)

    def poll(self):
        try:
            return self._poll()
        except SMTPError as e:
            self._op = None
            if self._batch is not None:
                e.partial_results = self.partial_results()
            if isinstance(e, (SMTPProtocolError, SMTPConnectError)) or \
                    (getattr(e, "code", 0) == 421):
                self.state = "closed"
            raise

    def tls_established(self):
        """The driver wrapped the socket in TLS: forget what was said in plaintext (RFC 3207)."""
        if self.state != "tls":
            raise SMTPUsageError("tls_established() without an accepted STARTTLS")
        self.secure = True
        self.ext = {}
        self.esmtp = False
        self.state = "start"

    def waiting_for(self):
        """The command whose reply is awaited next (the driver picks its timeout by it)."""
        return self._pending[0][0] if self._pending else None

    @property
    def pipelining(self):
        return self.use_pipelining and "PIPELINING" in self.ext

    @property
    def chunking(self):
        return self.use_chunking and "CHUNKING" in self.ext

    @property
    def max_size(self):
        try:
            return int(self.ext.get("SIZE", "0") or "0")
        except ValueError:
            return 0        # a SIZE we cannot read is no limit we can honour

    # ---- machinery --------------------------------------------------------------------

    def _poll(self):
        while True:
            if self._op is None:
                return DONE
            w = self._wait
            if w is not None:
                while len(self._pending) > w:
                    r = self._parser.next_reply()
                    if r is None:
                        if self._out:
                            return SEND
                        if self._eof:
                            cmd = self._pending[0][0]
                            raise SMTPConnectError("server closed the connection while we waited "
                                                   "for the reply to " + cmd + " (state " +
                                                   self.state + ")")
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
                # let small body pieces gather into one write (fewer segments and syscalls);
                # whatever is queued is always written before we wait for a reply
                if len(self._out) >= self.flush_at:
                    return SEND
            else:
                self._wait = y

    def _dispatch(self, r):
        cmd, key, ctx = self._pending.pop(0)
        self.replies += 1
        if self.trace:
            for i in range(len(r.lines)):
                last = i == len(r.lines) - 1
                self.trace("S: " + str(r.code) + (" " if last else "-") +
                           ((r.enhanced + " ") if (r.enhanced and i == 0) else "") + r.lines[i])
        self.last_reply = r
        if r.code == 421:
            # the server is closing the channel: nothing else will be answered
            self.state = "closed"
            self._pending = []
            raise SMTPTransientError(421, r.text, r.enhanced, cmd)
        row = ANY_STATE.get(cmd) or TABLE.get((self.state, cmd))
        if row is None:
            raise SMTPProtocolError("reply %d to %s arrived in state %s, where %s is not valid"
                                    % (r.code, cmd, self.state, cmd))
        ok, s_ok, s_fail = row
        if r.code in ok:
            if s_ok is not None:
                self.state = s_ok
        elif r.code >= 400:
            if s_fail is not None:
                self.state = s_fail
        else:
            raise SMTPProtocolError("unexpected reply %d to %s in state %s: %s"
                                    % (r.code, cmd, self.state, r.text))
        if cmd == "AUTH" and r.code == 235:
            self.authenticated = True
        if ctx is not None:
            ctx.on_reply(cmd, key, r)
            if self._on_settled is not None and ctx.told is False and ctx.settled():
                # the caller records this message now, not when the batch ends: a crash
                # then sends again at most the message whose reply was still on its way
                ctx.told = True
                try:
                    res = ctx.outcome()
                except SMTPError as e:
                    res = e
                self._on_settled(ctx.n, res, r)

    def _send(self, cmd, arg=None, ctx=None, key=None, redact=False, verb=None):
        line = verb if verb is not None else cmd
        if arg is not None:
            arg = check_arg(arg, cmd + " argument")
            line = line + " " + arg if line else arg
        self._out.extend(line.encode("utf-8"))
        self._out.extend(b"\r\n")
        self._pending.append((cmd, key, ctx))
        if self.trace:
            if redact:
                shown = (verb or cmd) + (" <redacted>" if verb is None else "")
                if cmd == "AUTH":
                    shown = line.partition(" ")[0] + " " + arg.partition(" ")[0] + \
                        (" <redacted>" if " " in arg else "")
                elif cmd == "AUTH-RESP":
                    shown = "<redacted>"
                self.trace("C: " + shown)
            else:
                self.trace("C: " + line)

    def _raw(self, data):
        self._out.extend(data)

    def _need(self, *states):
        if self.state not in states:
            raise SMTPUsageError("not possible in state " + self.state + " (needs " +
                                 " or ".join(states) + ")")

    def _partial(self):
        # per message of a broken batch: its outcome when the server's replies settled it,
        # None when it is still unanswered (only those may be sent again)
        out = []
        for tx in self._batch:
            try:
                out.append(tx.outcome() if tx.settled() else None)
            except SMTPError as e:
                out.append(e)
        return out

    def partial_results(self):
        """After a batch broke off (a timeout, a lost connection): the outcome of every message
        the server had answered, None for the rest; None when no batch was running."""
        if self._batch is None:
            return None
        out = self._partial()
        self._batch = None
        return out

    def drain(self):
        """The connection failed: dispatch the complete replies that did arrive before that,
        so what the server said about a message still counts."""
        try:
            while self._pending:
                r = self._parser.next_reply()
                if r is None:
                    return
                self._dispatch(r)
        except SMTPError:
            pass

    # ---- operations -------------------------------------------------------------------

    def op_open(self):
        """Greeting, EHLO (HELO fallback), then STARTTLS as the mode asks.
        Returns "starttls" when the driver must now wrap the socket, else "ready"."""
        if self.state == "greeting":
            self._pending.append(("GREETING", None, None))
            yield 0
            r = self.last_reply
            self.greeting_reply = r
            if r.code != 220:
                raise reply_error(r.code, r.text, r.enhanced, "greeting")
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
                raise SMTPTLSError("server does not offer STARTTLS and mode='starttls' requires "
                                   "it (refusing to continue without TLS)")
            return "ready"
        self._send("STARTTLS")
        yield 0
        r = self.last_reply
        if r.code != 220:
            if required:
                raise SMTPTLSError("server refused STARTTLS: %d %s" % (r.code, r.text))
            return "ready"
        if self._parser.pending():
            # bytes sent before the handshake would be read as if they came over TLS
            self._parser.take_rest()
            raise SMTPProtocolError("server sent data after its STARTTLS reply, before the TLS "
                                    "handshake (possible command injection)")
        return "starttls"

    def op_hello(self):
        """EHLO, or HELO when the server does not know EHLO."""
        self._need("start", "ready")
        self._send("EHLO", self.local_hostname)
        yield 0
        r = self.last_reply
        if r.code == 250:
            self.ext = parse_ehlo(r)
            self.esmtp = True
            return "ready"
        if r.code < 500:
            raise reply_error(r.code, r.text, r.enhanced, "EHLO")
        self._send("HELO", self.local_hostname)
        yield 0
        r = self.last_reply
        if r.code != 250:
            raise reply_error(r.code, r.text, r.enhanced, "HELO")
        self.ext = {}
        self.esmtp = False
        return "ready"

    def op_auth(self, user, secret, oauth=False, mechanism=None, defer=False):
        """AUTH. With defer=True and a server that pipelines, a mechanism with an initial
        response (PLAIN, XOAUTH2) is not sent now but leads the next transaction's group
        (RFC 4954 section 4): one round trip less; a refusal is then raised by that send."""
        self._need("ready")
        if not self.secure and not self.allow_plaintext_auth:
            raise SMTPUsageError("refusing to send credentials over an unencrypted connection "
                                 "(use TLS or STARTTLS, or set allow_plaintext_auth=True)")
        offered = self.ext.get("AUTH")
        if offered is None:
            raise SMTPAuthError(503, "server does not offer AUTH", None, "AUTH")
        from usmtp import auth as _auth    # the mechanisms load only when logging in
        name = _auth.choose(offered, oauth, mechanism)
        mech = _auth.MECHANISMS[name](user, secret)
        init = mech.initial()
        if defer and init and self.pipelining:
            self._deferred_auth = name + " " + init.decode()
            return name
        self._send("AUTH", name + (" " + init.decode() if init else ""), redact=True)
        rounds = 0
        while True:
            yield 0
            r = self.last_reply
            if r.code == 235:
                self.authenticated = True
                return name
            if r.code != 334:
                detail = getattr(mech, "error_detail", None)
                text = r.text
                if detail:
                    text = text + " (" + _safe(detail) + ")"
                raise SMTPAuthError(r.code, text, r.enhanced, "AUTH " + name)
            rounds += 1
            err = None
            if rounds > MAX_AUTH_CHALLENGES:
                err = SMTPProtocolError("more than %d AUTH challenges" % MAX_AUTH_CHALLENGES)
                resp = b"*"
            else:
                try:
                    resp = mech.respond(r.text.encode())
                except SMTPAuthError as e:
                    err = e
                    resp = b"*"       # cancel the exchange (RFC 4954)
            self._send("AUTH-RESP", resp.decode(), redact=True, verb="")
            if err is not None:
                yield 0
                raise err

    def op_simple(self, cmd):
        """NOOP, RSET or QUIT: returns the reply."""
        if self.state == "data":
            # inside DATA the command would become message text and never be answered
            raise SMTPUsageError(cmd + " is not possible in state data (end the message first)")
        self._send(cmd)
        yield 0
        r = self.last_reply
        if r.code != ANY_STATE[cmd][0][0]:
            raise reply_error(r.code, r.text, r.enhanced, cmd)
        return r

    def make_tx(self, sender, rcpts, source, size=None, eightbit=False):
        """Validate an envelope into a Tx (raises SMTPUsageError on bad input)."""
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

    def op_send(self, tx):
        """One message. Returns the refused-recipients dict; raises when nothing was sent."""
        self._need("ready")
        self._precheck(tx)
        if tx.error is None:
            yield from self._transaction(tx)
            yield 0
        err = None
        try:
            refused = tx.outcome()
        except SMTPError as e:
            err = e
        if err is not None:
            if self.state != "closed" and tx.error is None:
                yield from self._rset()
            raise err
        return refused

    def op_send_many(self, txs, on_settled=None):
        """Several messages, pipelined as far as the server allows.
        Returns a list with, per message, its refused dict or its SMTPError.
        on_settled(i, result, reply): called as soon as the server's replies settle message i
        (its refused dict or its SMTPError, and the Reply that settled it), before the next
        message's end of data goes out."""
        self._need("ready")
        self._batch = txs
        self._on_settled = on_settled
        for i in range(len(txs)):
            txs[i].n = i
            txs[i].told = False if on_settled is not None else None
        try:
            return (yield from self._send_many(txs))
        finally:
            self._on_settled = None

    def _send_many(self, txs):
        first = True
        for tx in txs:
            self._precheck(tx)
            if tx.error is not None:
                continue
            if self.pipelining:
                if not first:
                    # the previous transaction may have failed half-open; RSET costs no round trip
                    self._send("RSET")
                yield from self._transaction(tx)
                if tx.auth is not None and tx.auth.code != 235:
                    # a refused AUTH: no message of the batch goes out unauthenticated
                    for t in txs:
                        if t is not tx and t.mail is None and t.error is None:
                            t.error = SMTPAuthError(tx.auth.code, tx.auth.text,
                                                    tx.auth.enhanced, "AUTH")
                    break
            else:
                yield from self._transaction(tx)
                yield 0
                if not self._ok(tx):
                    yield from self._rset()
            first = False
        yield 0
        results = []
        last_failed = False
        bad_auth = None
        for tx in txs:
            if tx.auth is not None and tx.auth.code != 235:
                bad_auth = tx.auth
            try:
                results.append(tx.outcome())
                last_failed = False
            except SMTPError as e:
                if bad_auth is not None and tx.auth is None and tx.mail is not None and \
                        tx.mail.code != 250:
                    # a deferred AUTH rode with an earlier message: its refusal sank this MAIL
                    e = SMTPAuthError(bad_auth.code, bad_auth.text, bad_auth.enhanced, "AUTH")
                results.append(e)
                last_failed = tx.error is None
        self._batch = None
        # a failed message may have left the server inside a transaction even when a later
        # message of the batch was refused before sending (last_failed is then False)
        if self.state != "closed" and (self.state != "ready" or
                                       (last_failed and self.pipelining)):
            yield from self._rset()
        return results

    # ---- transaction pieces -----------------------------------------------------------

    def _ok(self, tx):
        try:
            tx.outcome()
            return True
        except SMTPError:
            return False

    def _rset(self):
        self._send("RSET")
        yield 0

    def _precheck(self, tx):
        limit = self.max_size
        if limit and tx.size and tx.size > limit:
            tx.error = SMTPDataError(552, "message size %d exceeds the server's limit of %d"
                                     % (tx.size, limit), "5.3.4", "SIZE")
            return
        if not _is_ascii(tx.sender + "".join(tx.rcpts)) and "SMTPUTF8" not in self.ext:
            tx.error = SMTPUsageError("non-ASCII address but the server does not offer SMTPUTF8")

    def op_begin_data(self, tx):
        """MAIL, RCPT and DATA, stopping at the 354: the caller then streams the body with
        write_data() and finishes with op_end_data(). (The shape uMail scripts expect.)"""
        self._need("ready")
        self._precheck(tx)
        if tx.error is None:
            yield from self._transaction(tx, False)
            yield 0
        if tx.data is not None and tx.data.code == 354 and tx.accepted():
            refused = {}
            for a in tx.rcpts:
                if tx.rcpt[a].code not in RCPT_OK:
                    refused[a] = (tx.rcpt[a].code, tx.rcpt[a].text)
            from usmtp.stuffing import DataStuffer
            self._open_tx = tx
            self._stuffer = DataStuffer()
            return refused
        err = None
        try:
            tx.outcome()
            err = SMTPDataError(0, "the server did not accept DATA", None, "DATA")
        except SMTPError as e:
            err = e
        if tx.data is not None and tx.data.code == 354:
            self._raw(b".\r\n")
            self._pending.append(("EOD", None, tx))
            yield 0
        if self.state != "closed" and tx.error is None:
            yield from self._rset()
        raise err

    def write_data(self, chunk):
        """Queue body bytes (dot-stuffed, CRLF-normalised) inside an op_begin_data transaction."""
        if self.state != "data" or self._open_tx is None:
            raise SMTPUsageError("write_data() outside a DATA transaction")
        out = self._stuffer.feed(chunk)
        if out:
            self._raw(out)

    def op_end_data(self):
        if self.state != "data" or self._open_tx is None:
            raise SMTPUsageError("end of data outside a DATA transaction")
        tx = self._open_tx
        self._open_tx = None
        self._raw(self._stuffer.end())
        self._stuffer = None
        self._pending.append(("EOD", None, tx))
        if self.trace:
            self.trace("C: .")
        yield 0
        return tx.outcome()

    def _transaction(self, tx, stream=True):
        pipe = self.pipelining
        auth = self._deferred_auth is not None
        if auth:
            self._send("AUTH", self._deferred_auth, tx, "auth", redact=True)
            self._deferred_auth = None
        params = ""
        if tx.size and "SIZE" in self.ext:
            params += " SIZE=" + str(tx.size)
        if tx.eightbit and "8BITMIME" in self.ext:
            params += " BODY=8BITMIME"
        if not _is_ascii(tx.sender + "".join(tx.rcpts)):
            params += " SMTPUTF8"
        self._send("MAIL", "FROM:<" + tx.sender + ">" + params, tx)
        if not pipe:
            yield 0
            if tx.mail.code != 250:
                return
        for a in tx.rcpts:
            self._send("RCPT", "TO:<" + a + ">", tx, a)
            yield 0 if not pipe else MAX_OUTSTANDING
        if not pipe and not tx.accepted():
            return
        if auth:
            # AUTH may ride with MAIL and RCPT, but no message data goes out before its 235:
            # a server that takes local mail without AUTH would otherwise deliver it anyway
            yield 0
            if tx.auth is None or tx.auth.code != 235:
                return
        if self.chunking and stream:
            yield from self._bdat(tx, pipe)
            return
        self._send("DATA", None, tx)
        yield 0                     # DATA ends a pipelined group (RFC 2920)
        if tx.data.code != 354 or not stream:
            return
        if tx.mail.code != 250 or not tx.accepted():
            # nothing can be delivered but the server wants data: end it at once (RFC 2920)
            self._raw(b".\r\n")
            self._pending.append(("EOD", None, tx))
            return
        from usmtp.stuffing import DataStuffer
        st = DataStuffer()
        n = 0
        for c in _chunks(tx.source):
            out = st.feed(c)
            if out:
                n += len(out)
                self._raw(out)
                yield FLUSH
        out = st.end()
        n += len(out)
        self._raw(out)
        self._pending.append(("EOD", None, tx))
        if self.trace:
            self.trace("C: <message data, %d bytes>" % n)
            self.trace("C: .")

    def _bdat(self, tx, pipe):
        from usmtp.stuffing import CRLFNormalizer
        norm = CRLFNormalizer()
        buf = bytearray()
        total = 0
        for c in _chunks(tx.source):
            out = norm.feed(c)
            if not out:
                continue
            buf.extend(out)
            while len(buf) >= self.bdat_size:
                piece = buf[:self.bdat_size]
                buf = buf[self.bdat_size:]
                total += len(piece)
                self._bdat_chunk(tx, piece, False)
                yield FLUSH
                if not pipe:
                    yield 0
                    if tx.bdat_err is not None:
                        return
                else:
                    yield MAX_OUTSTANDING
                    if _failed(tx):
                        return      # RFC 3030: no further BDAT once the transaction failed
        buf.extend(norm.end())
        total += len(buf)
        if pipe and self._on_settled is not None and self._end_pending():
            # a caller that settles each message on its reply gets one message's end in flight
            # at a time, as with DATA: the previous one is answered (and settled) before this
            # one can be accepted
            yield 0
        self._bdat_chunk(tx, buf, True)
        if self.trace:
            self.trace("C: <message data, %d bytes in BDAT>" % total)

    def _end_pending(self):
        for p in self._pending:
            if p[0] == "BDAT-LAST" or p[0] == "EOD":
                return True
        return False

    def _bdat_chunk(self, tx, data, last):
        head = "BDAT " + str(len(data)) + (" LAST" if last else "")
        self._out.extend(head.encode())
        self._out.extend(b"\r\n")
        self._out.extend(data)
        self._pending.append(("BDAT-LAST" if last else "BDAT", None, tx))
        if self.trace:
            self.trace("C: " + head)


def _safe(b):
    out = []
    for c in b:
        out.append(chr(c) if 32 <= c < 127 else "?")
    return "".join(out)
