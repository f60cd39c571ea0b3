# The usmtp error classes a successful send never raises, with reply_error and amiss (an
# error that names the core's state): loaded by usmtp.errors the first time one is named there
# (the taxonomy is described in errors.py), or by the core for a failure.
from usmtp.errors import SMTPConnectError, SMTPError, SMTPProtocolError


class SMTPTLSError(SMTPError):
    _reconfigure = True     # outcome(): our setup is wrong, not the message


class SMTPReplyError(SMTPError):
    def __init__(self, code, text="", enhanced=None, command=None):
        super().__init__(code, text)
        self.code = code
        self.text = text
        self.enhanced = enhanced
        self.command = command
        self.transient = 400 <= code < 500

    def __str__(self):
        s = str(self.code)
        if self.enhanced:
            s += " " + self.enhanced
        if self.text:
            s += " " + self.text
        if self.command:
            s += " (after " + self.command + ")"
        return s


class SMTPTransientError(SMTPReplyError):
    pass


class SMTPPermanentError(SMTPReplyError):
    pass


class SMTPSenderRefused(SMTPReplyError):
    def __init__(self, code, text="", enhanced=None, sender=None):
        super().__init__(code, text, enhanced, "MAIL")
        self.sender = sender


class SMTPAuthError(SMTPReplyError):
    _reconfigure = True


class SMTPDataError(SMTPReplyError):
    pass


class SMTPRecipientsRefused(SMTPError):
    def __init__(self, recipients):
        super().__init__("every recipient refused")
        self.recipients = recipients
        # any temporary refusal means a retry can still reach someone; RFC 5321 4.5.3.1.10:
        # a 552 to RCPT ("too many recipients") SHOULD be treated as temporary
        t = False
        for v in recipients.values():
            if 400 <= v[0] < 500 or v[0] == 552:
                t = True
        self.transient = t

    def __str__(self):
        parts = []
        for a in self.recipients:
            c = self.recipients[a]
            parts.append(a + ": " + str(c[0]) + " " + c[1])
        return "every recipient refused: " + "; ".join(parts)


def reply_error(code, text, enhanced=None, command=None):
    # the generic error for an unexpected reply code, split by class
    if 400 <= code < 500:
        return SMTPTransientError(code, text, enhanced, command)
    if code >= 500:
        return SMTPPermanentError(code, text, enhanced, command)
    return SMTPProtocolError("unexpected reply " + str(code) + " " + text +
                             (" to " + command if command else ""))


def amiss(k, n, s, *a):
    # usmtp.errors.err() for a phrase that names the core's state s where it has {}
    from usmtp.phrases import PHRASES
    return k(PHRASES[n].format(PHRASES[40 + s]) % a)


def too_big(size, lim):
    # core.envelope: a message over the server's SIZE limit, refused before it is sent
    return SMTPDataError(552, "size %d over the server's limit %d" % (size, lim), "5.3.4", "SIZE")


def refusal(r, what):
    # the error for reply r (code, text) refusing `what`, with its enhanced status
    code, enh, text = detail(r)
    return reply_error(code, text, enh, what)


def detail(r):
    # a reply (code, text) -> (code, enhanced status or None, text without it), the enhanced
    # code taken off each line when its class matches the reply's (RFC 3463)
    code = r[0]
    enh = None
    lines = []
    for ln in r[1].split("\n"):
        head, _, rest = ln.partition(" ")
        p = head.split(".")
        if len(p) == 3 and p[0] == str(code // 100) and \
                all([x and len(x) <= 3 and x.isdigit() for x in p]):
            if enh is None:
                enh = head
            ln = rest
        lines.append(ln)
    return code, enh, "\n".join(lines)


def failed(sender, to, au, g, bdat=False, ok=False):
    # core.verdict when its message did not plainly go through: the error that sank it, or
    # with ok (it went through) the refused-recipients dict.
    # g: the replies in order: [AUTH] MAIL RCPT... [DATA, end of data | BDAT...]
    g = [detail(r) for r in g]
    if au:
        a = g.pop(0)
        if a[0] != 235:
            return SMTPAuthError(a[0], a[2], a[1], "AUTH")
    if not g:
        return SMTPConnectError("no reply to MAIL FROM")
    m = g.pop(0)
    if m[0] == 530:
        # "authentication required" (or "STARTTLS first"): our setup, not this message, so
        # an AUTH error that pauses a relay instead of dead-lettering the mail
        return SMTPAuthError(530, m[2], m[1], "MAIL")
    if m[0] != 250:
        return SMTPSenderRefused(m[0], m[2], m[1], sender)
    refused = {}
    for a in to:
        if not g:
            return SMTPConnectError("no reply to RCPT TO:<" + a + ">")
        r = g.pop(0)
        if r[0] // 10 != 25:
            refused[a] = (r[0], r[2])
    if ok:
        return refused
    if len(refused) == len(to):
        return SMTPRecipientsRefused(refused)
    if bdat:
        # bdat: where the reply to BDAT LAST is (-1: the chunks stopped before it)
        for k in range(len(g)):
            d = g[k]
            if d[0] != 250:
                return SMTPDataError(d[0], d[2], d[1], "end of data" if bdat > 0 and
                                     k == len(g) - 1 else "BDAT")
        return SMTPConnectError("no reply to the end of the message")
    if not g:
        return SMTPConnectError("no reply to DATA")
    d = g.pop(0)
    if d[0] != 354:
        return SMTPDataError(d[0], d[2], d[1], "DATA")
    if not g:
        return SMTPConnectError("no reply to the end of the message")
    e = g[0]
    return SMTPDataError(e[0], e[2], e[1], "end of data")
