# What usmtp says when something fails, by number; loaded only then (a send with good input
# that succeeds never reads a phrase). 0-25: usmtp/checks.py's input checks; from 26: the
# errors that core.py and client.py raise (usmtp.errors.err); 40-46: the core's states by
# number, shown where a phrase has {} (usmtp.moreerrors.amiss).
PHRASES = (
    "must be a string, not %s",                                             # 0
    "is empty",
    "contains CR, LF or NUL",
    "contains a control character",
    "is not valid Unicode text",
    "is over %d bytes",                                                    # 5
    "has no @",
    "has nothing before the @",
    "has nothing after the @",
    "has a quoted local part (not supported)",
    "has more than one @",                                                  # 10
    "has a local part over %d bytes",
    "contains a comment (...) (not supported)",
    "contains %s before the @",
    "has a dot at the start or end of the local part, or two in a row",
    "has an address literal [...] as domain (not supported)",              # 15
    "has a domain ending in a dot",
    "has an empty label in the domain",
    "has a domain label over %d bytes",
    "has a domain label starting or ending with '-'",
    "contains %s in the domain",                                            # 20
    "is over %d characters",
    "has '<' or '>' out of place (write Name <address>)",
    "must be 1 to %d characters",
    "may only hold A-Z a-z 0-9 . _ - (found %s)",
    "must be one of %s, not %s",                                            # 25
    # core.py
    "%s: CR, LF or NUL in %r",
    "%s must be UTF-8 text without NUL",
    "reply over %d bytes a line, %d lines or %d bytes",
    "reply line malformed: %r",
    "server closed the connection before replying to %s",                  # 30
    "connection closed",
    "no STARTTLS to establish",
    "%s in state {}",
    "reply %d to %s in state {}: %s",
    "data after the STARTTLS reply (injection?)",                           # 35
    "no AUTH over an unencrypted connection (allow_plaintext_auth)",
    "non-ASCII address, no SMTPUTF8",
    "message chunk: %s",
    "%snot in state {}",
    "closed",                                                               # 40: states
    "greeting",
    "start",
    "ready",
    "tls",
    "mail",                                                                 # 45
    "data",
    # client.py
    "timed out %s",
    "connection lost %s: %s",
    "timed out in TLS with %s",
    "TLS with %s failed: %s",                                               # 50
    "timed out connecting to %s:%d",
    "cannot connect to %s:%d: %s",
    "already connected",
    "no reply to %s in %s s",
    "the connection was lost (%s)",                                         # 55
    "not connected",
    "busy",
    "no recipients",
)
