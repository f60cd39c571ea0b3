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
#
# A send that succeeds raises none of them, so only the base and the classes a driver catches
# are defined here; the rest (TLS, reply and refusal errors, reply_error) live in
# usmtp/moreerrors.py, which loads the first time one is named (module __getattr__: on the
# VM each class costs ~190 B of heap). usmtp.errors.X is moreerrors.X, so isinstance and except
# work as before; is_transient and outcome never load it (they read the error's attributes).
# err(Class, n, ...) makes an error whose text is phrase n of usmtp/phrases.py, loaded only
# then: the texts of failures are not in the heap of a send that succeeds.


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


def err(k, n, *a):
    # the error k saying phrase n of usmtp.phrases with a: the texts load only when one is raised
    from usmtp.phrases import PHRASES
    return k(PHRASES[n] % a)


def is_transient(exc):
    # the retry policy in one place: True means "try again later", False "give up (dead-letter)".
    # 4xx replies, timeouts, lost connections and a misbehaving server are transient;
    # 5xx replies and local misuse are not.
    t = getattr(exc, "transient", None) if isinstance(exc, SMTPError) else None
    if t is None:       # (a reply error, or every recipient refused, says it)
        t = isinstance(exc, OSError) and not isinstance(exc, SMTPUsageError)
    return t


def outcome(exc):
    # what a failed send means, for board and gateway alike; each decides what its answer does:
    #   "retry"        an outage or a 4xx: the same message may go through later (or elsewhere)
    #   "refused"      this message will never be taken (5xx, or an unusable message): stop
    #   "reconfigure"  our setup is wrong (AUTH refused, TLS or certificate failure): no message
    #                  is at fault, and none goes through until the configuration changes
    if isinstance(exc, SMTPError) and getattr(exc, "_reconfigure", False):
        return "reconfigure"    # SMTPAuthError, SMTPTLSError (moreerrors.py)
    # a MemoryError: a board short of heap for TLS, an outage, not a refusal
    return "retry" if isinstance(exc, MemoryError) or is_transient(exc) else "refused"


def __getattr__(name):
    # the classes a successful send never raises, and reply_error: loaded when first named
    # (any other name is an AttributeError from there)
    return getattr(__import__("usmtp.moreerrors", None, None, ["_"]), name)
