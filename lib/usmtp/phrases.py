# What usmtp/checks.py says when an input fails one of its checks, by number; loaded only then
# (a send with good input never reads a phrase).
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
)
