# usmtp errors: one base class (an OSError, like smtplib's), split by whose fault it is.
#
#   SMTPError(OSError)
#     SMTPUsageError          local misuse: bad argument, CR/LF in a command, wrong state
#     SMTPProtocolError       the server broke the protocol: malformed, over-long or endless reply
#     SMTPConnectError        could not reach the server, or it closed the connection
#     SMTPTimeout             a phase (connect, command, end of data) ran out of time
#     SMTPTLSError            TLS failed: handshake, certificate, or STARTTLS missing/refused
#     SMTPRecipientsRefused   every recipient refused; .recipients = {addr: (code, text)};
#                             .transient when any refusal was temporary (4xx, or 552 to RCPT)
#     SMTPReplyError          the server answered with an error code (.code, .text, .enhanced)
#       SMTPTransientError    4xx: try again later
#       SMTPPermanentError    5xx: do not retry
#       SMTPSenderRefused     MAIL FROM refused (.sender); .transient tells 4xx from 5xx
#       SMTPAuthError         AUTH refused or no usable mechanism
#       SMTPDataError         the message itself refused (DATA/BDAT/end of data)
#
# outcome(exc) sorts any failure into "retry", "refused" or "reconfigure" (see there).


class SMTPError(OSError):
    pass


class SMTPUsageError(SMTPError):
    pass


class SMTPProtocolError(SMTPError):
    pass


class SMTPConnectError(SMTPError):
    pass


class SMTPTimeout(SMTPError):
    pass


class SMTPTLSError(SMTPError):
    pass


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
    pass


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


def is_transient(exc):
    # the retry policy in one place: True means "try again later", False "give up (dead-letter)".
    # 4xx replies, timeouts, lost connections and a misbehaving server are transient;
    # 5xx replies and local misuse are not.
    if isinstance(exc, (SMTPReplyError, SMTPRecipientsRefused)):
        return exc.transient
    if isinstance(exc, SMTPUsageError):
        return False
    return isinstance(exc, OSError)


RETRY = "retry"
REFUSED = "refused"
RECONFIGURE = "reconfigure"


def outcome(exc):
    # what a failed send means, for board and gateway alike; each decides what its answer does:
    #   "retry"        an outage or a 4xx: the same message may go through later (or elsewhere)
    #   "refused"      this message will never be taken (5xx, or an unusable message): stop
    #   "reconfigure"  our setup is wrong (AUTH refused, TLS or certificate failure): no message
    #                  is at fault, and none goes through until the configuration changes
    if isinstance(exc, (SMTPAuthError, SMTPTLSError)):
        return RECONFIGURE
    if isinstance(exc, MemoryError):
        return RETRY        # a board short of heap for TLS: an outage, not a refusal
    return RETRY if is_transient(exc) else REFUSED
