# The usmtp error classes a successful send never raises, with reply_error: loaded by
# usmtp.errors the first time one is named there (the taxonomy is described in errors.py).
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


def failed(tx):
    # core.Tx.outcome when its message did not plainly go through: raise what sank it (the
    # refused-recipients dict when nothing did)
    from usmtp.core import RCPT_OK
    if tx.error is not None:
        raise tx.error
    a = tx.auth
    if a is not None and a.code != 235:
        raise SMTPAuthError(a.code, a.text, a.enhanced, "AUTH")
    m = tx.mail
    if m is None:
        raise SMTPConnectError("no reply to MAIL FROM")
    if m.code == 530:
        # "authentication required" (or "STARTTLS first"): our setup, not this message,
        # so it is an AUTH error that pauses a relay instead of dead-lettering the mail
        raise SMTPAuthError(530, m.text, m.enhanced, "MAIL")
    if m.code != 250:
        raise SMTPSenderRefused(m.code, m.text, m.enhanced, tx.sender)
    refused = {}
    for a in tx.rcpts:
        r = tx.rcpt.get(a)
        if r is None:
            raise SMTPConnectError("no reply to RCPT TO:<" + a + ">")
        if r.code not in RCPT_OK:
            refused[a] = (r.code, r.text)
    if len(refused) == len(tx.rcpts):
        raise SMTPRecipientsRefused(refused)
    d = tx.data
    if d is not None and d.code != 354:
        raise SMTPDataError(d.code, d.text, d.enhanced, "DATA")
    d = tx.bdat_err
    if d is not None:
        raise SMTPDataError(d.code, d.text, d.enhanced, "BDAT")
    e = tx.end
    if e is None:
        raise SMTPConnectError("no reply to the end of the message")
    if e.code != 250:
        raise SMTPDataError(e.code, e.text, e.enhanced, "end of data")
    return refused
