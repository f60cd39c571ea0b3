# usmtp: one small SMTP client for MicroPython and CPython.
# The protocol lives in core.py (no I/O); client.py drives it over a socket; writer.py writes
# messages. Importing the package touches no socket, so the core runs where there is none.
# Nothing loads with the package itself: SMTP (the client, its core and driver), the error
# classes, the writer and every submodule load on first use, so a board that needs only
# usmtp.clock or usmtp.checks (the clock and address rules) does not pay for the rest.

__version__ = "0.1.0"

# names kept as text, not as a dict and a tuple: on a board each is a heap object
_ERRORS = (" SMTPError SMTPUsageError SMTPProtocolError SMTPConnectError SMTPTimeout SMTPTLSError"
           " SMTPReplyError SMTPTransientError SMTPPermanentError SMTPSenderRefused SMTPAuthError"
           " SMTPDataError SMTPRecipientsRefused is_transient outcome ")


def __getattr__(name):
    mod = None
    if name == "SMTP":
        mod = "usmtp.client"
    elif name == "Message" or name == "make_message_id":
        mod = "usmtp.writer"
    elif " " + name + " " in _ERRORS:
        mod = "usmtp.errors"
    if mod is not None:
        return getattr(__import__(mod, None, None, [name]), name)
    if name[:1] == "_":
        raise AttributeError(name)
    # a submodule ("from usmtp import netio"): MicroPython asks this function before it
    # looks for the file, so import it here
    try:
        return __import__("usmtp." + name, None, None, ["_"])
    except ImportError:
        raise AttributeError(name)
