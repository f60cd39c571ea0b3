# usmtp: one small SMTP client for MicroPython and CPython.
# The protocol lives in core.py (no I/O: the state table, the reply parser, the session, a
# deferred AUTH PLAIN, one message over DATA with its line ends and dot-stuffing) with the
# rarer jobs in files of their own: auth.py (LOGIN, challenges), bdat.py (CHUNKING), batch.py (send_many), stream.py (data_begin/write/end),
# oauth.py (XOAUTH2). client.py drives it over a socket (and TLS); writer.py writes a plain-text
# message, mime.py what goes beyond it (attachments, HTML, non-ASCII headers). Each part loads on first use (README.md,
# "What loads when"), so a board pays for what a send uses. Nothing loads with the package
# itself: SMTP, Message, make_message_id, the error classes, outcome and is_transient load
# their module when first named here, and a board that needs only usmtp.clock or usmtp.checks
# (the clock and address rules) does not pay for the rest. Importing touches no socket.

__version__ = "0.1.0"


def __getattr__(name):
    # SMTP, Message, make_message_id, the errors (every SMTP* name, outcome, is_transient) from
    # their module; any other public name is a submodule ("from usmtp import client"):
    # MicroPython asks this function before it looks for the file, so import it here
    if name[:1] == "_":
        raise AttributeError(name)
    mod = "client" if name == "SMTP" else "writer" if name in ("Message", "make_message_id") \
        else "errors" if name[:4] == "SMTP" or name in ("outcome", "is_transient") else None
    if mod:
        return getattr(__import__("usmtp." + mod, None, None, ["_"]), name)
    try:
        return __import__("usmtp." + name, None, None, ["_"])
    except ImportError:
        raise AttributeError(name)
