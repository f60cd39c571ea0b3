# usmtp: one small SMTP client for MicroPython and CPython.
# The protocol lives in core.py (no I/O); client.py drives it over a socket; writer.py writes
# messages. Importing the package touches no socket, so the core runs where there is none.

__version__ = "0.1.0"

from usmtp.errors import (SMTPError, SMTPUsageError, SMTPProtocolError, SMTPConnectError,
                          SMTPTimeout, SMTPTLSError, SMTPReplyError, SMTPTransientError,
                          SMTPPermanentError, SMTPSenderRefused, SMTPAuthError, SMTPDataError,
                          SMTPRecipientsRefused, is_transient, outcome)


def __getattr__(name):
    # the client and the writer load on first use: a board composing a message does not hold
    # the client, and one sending prepared bytes does not hold the writer
    if name == "SMTP":
        from usmtp.client import SMTP
        return SMTP
    if name == "Message":
        from usmtp.writer import Message
        return Message
    if name == "make_message_id":
        from usmtp.writer import make_message_id
        return make_message_id
    if name in _SUBMODULES:
        # MicroPython's `from usmtp import netio` asks this function first: import it
        import sys
        __import__("usmtp." + name)
        return sys.modules["usmtp." + name]
    raise AttributeError(name)


_SUBMODULES = ("auth", "client", "core", "errors", "mimeenc", "netio", "reply", "stuffing",
               "writer")
