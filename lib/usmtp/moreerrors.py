# The usmtp error classes a successful send never raises, with reply_error and the texts of the
# errors the modules of a send raise (TEXTS, read by errors.errtext(key, *args)): loaded by
# usmtp.errors the first time one is named there (the taxonomy is described in errors.py).
from usmtp.errors import SMTPError, SMTPProtocolError


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


# key -> text (% args), for errors.errtext(): what failed, and what to do about it
TEXTS = {
    "crlf": "%s contains a CR, LF or NUL character: %s",
    "busy": "an operation is already running",
    "closed": "connection is closed",
    "notls": "tls_established() without an accepted STARTTLS",
    "eof": "server closed the connection while we waited for the reply to %s (state %s)",
    "badstate": "reply %d to %s arrived in state %s, where %s is not valid",
    "badcode": "unexpected reply %d to %s in state %s: %s",
    "state": "not possible in state %s (needs %s)",
    "tls2": "the connection is already encrypted",
    "nostarttls": "server does not offer STARTTLS and mode='starttls' requires it "
                  "(refusing to continue without TLS)",
    "starttls": "server refused STARTTLS: %d %s",
    "inject": "server sent data after its STARTTLS reply, before the TLS handshake "
              "(possible command injection)",
    "plainauth": "refusing to send credentials over an unencrypted connection (use TLS "
                 "or STARTTLS, or set allow_plaintext_auth=True)",
    "noauth": "server does not offer AUTH",
    "challenges": "more than %d AUTH challenges",
    "indata": "%s is not possible in state data (end the message first)",
    "ctimeout": "timed out connecting to %s:%d",
    "connect": "cannot connect to %s:%d: %s",
    "nossl": "this build has no ssl or tls module: TLS is impossible here "
             "(mode='plain' only on a network you trust)",
    "cadata": "cadata is required on MicroPython: there is no system CA store (or "
              "pass insecure_skip_verify=True, not recommended)",
    "clock": "the clock is not set, so the server's certificate cannot be checked: "
             "set the time (ntptime.settime()) before connecting",
    "htimeout": "timed out in the TLS handshake with %s",
    "handshake": "TLS handshake with %s failed: %s",
    "wtimeout": "timed out sending to the server",
    "wlost": "connection lost while sending: %s",
    "rtimeout": "timed out waiting for the server's reply",
    "rlost": "connection lost while reading: %s",
    "connected": "already connected",
    "timeout": "timed out waiting for the reply to %s (%s s)",
    "lost": "the connection was lost (%s); connect again",
    "noconn": "not connected (call connect() first, or give SMTP a host)",
    "addr": "%s is not a valid address: %s (%s)",
    "nomail": "no reply to MAIL FROM",
    "norcpt": "no reply to RCPT TO:<%s>",
    "noend": "no reply to the end of the message",
    "emptyrcpt": "empty recipient address",
    "size": "message size %d exceeds the server's limit of %d",
    "utf8": "non-ASCII address but the server does not offer SMTPUTF8",
    "longline": "reply line longer than %d bytes",
    "longreply": "reply longer than %d bytes",
    "codechange": "reply code changed from %d to %d inside one reply",
    "lines": "reply has more than %d lines",
    "malformed": "malformed reply line %r",
    "notreply": "reply code %d is not an SMTP reply",
    "challenge": "unexpected AUTH %s challenge",
    "mech": "unsupported AUTH mechanism %s",
    "nomech": "server does not offer AUTH %s",
    "nomechs": "server offers no AUTH %s (offers: %s)",
    "chunk": "message chunk must be bytes, bytearray, memoryview or str, not %s",
    # the writer (a message's headers and body)
    "hcrlf": "header %s: CR, LF or NUL not allowed in %s",
    "haddr": "header %s: invalid address %s: %s",
    "hpair": "header %s: a mailbox tuple is (name, address)",
    "htype": "header %s: address must be a string or a (name, address) tuple, not %s",
    "hname": "header %s: display name %s",
    "htuple": "header %s: a tuple is one (name, address) mailbox; pass "
              "several addresses as a list",
    "alertid": "message id: alert id %s %s",
    "midtype": "header Message-ID: must be a string",
    "midform": "header Message-ID: expected <left@right>, got %s",
    "midchar": "header Message-ID: %s not allowed in %s",
    "noto": "message has no recipient (to, cc and bcc are all empty)",
    "subject": "header Subject: must be a string",
    "bodyutf8": "message body: bytes must be UTF-8 text",
    "bodytype": "message body must be str, not %s",
    "date": "header Date: date must be UTC Unix seconds (int >= 0)",
    "encoding": "body_encoding must be 'quoted-printable' or 'base64', not %s",
    "xtype": "extra header %s: name and value must be strings",
    "xname": "extra header %s: name may only hold printable ASCII without ':'",
    "xreserved": "extra header %s: set by the writer, pass it as an argument instead",
    "bufsize": "bufsize must be an int >= 78",
}
