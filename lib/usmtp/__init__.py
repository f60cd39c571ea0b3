# usmtp: one small SMTP client for MicroPython and CPython.
# The protocol lives in core.py (no I/O); client.py drives it over a socket; writer.py writes
# messages. Importing the package touches no socket, so the core runs where there is none.

__version__ = "0.1.0"

from usmtp.errors import (SMTPError, SMTPUsageError, SMTPProtocolError, SMTPConnectError,
                          SMTPTimeout, SMTPTLSError, SMTPReplyError, SMTPTransientError,
                          SMTPPermanentError, SMTPSenderRefused, SMTPAuthError, SMTPDataError,
                          SMTPRecipientsRefused, is_transient, outcome)
from usmtp.client import SMTP


def __getattr__(name):
    # the writer loads on first use, so a board that only sends prepared bytes never pays for it
    if name == "Message":
        from usmtp.writer import Message
        return Message
    if name == "make_message_id":
        from usmtp.writer import make_message_id
        return make_message_id
    raise AttributeError(name)
