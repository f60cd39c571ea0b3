# The rules usmtp holds its input to, defined here once: what a mail address is, what a display
# name may hold, the connection modes. The writer (headers) and the core (envelope) call them,
# and so does anything else that takes an address (outpost_contract.rules re-exports them), so
# an address one side accepts is never refused by the other.
#
# An address is an addr-spec as a board or a mail provider writes it: dot-atom local part (UTF-8
# allowed, for SMTPUTF8), "@", a domain of dot-separated labels (IDN in UTF-8 allowed; a name
# without a dot such as "localhost" is fine on a LAN). Not supported, refused by name: quoted
# local parts, comments "(...)", address literals "[1.2.3.4]", a trailing dot. Nothing here
# allocates at import time.

MODES = ("tls", "starttls", "opportunistic", "plain")
# alert ids and device names: what may go into a Message-ID, a topic or a file name
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
MAX_ADDRESS = 254       # bytes, RFC 5321 4.5.3.1.3 (a path of 256 with its angle brackets)
MAX_LOCAL = 64
MAX_LABEL = 63
MAX_NAME = 256          # display name, characters
_LOCAL_PUNCT = "!#$%&'*+-/=?^_`{|}~."


def _plain(c):
    return "a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9"


def _control(c):
    o = ord(c)
    return o < 32 or 127 <= o < 160 or o == 0x2028 or o == 0x2029


def _utf8_len(s):
    try:
        return len(s.encode())
    except UnicodeError:        # a lone surrogate
        return -1


def address_problem(addr):
    """None when addr is a usable mail address, else why not (a short phrase)."""
    if not isinstance(addr, str):
        return "must be a string, not " + type(addr).__name__
    if not addr:
        return "is empty"
    for c in addr:
        if c == "\r" or c == "\n" or c == "\0":
            return "contains CR, LF or NUL"
        if _control(c):
            return "contains a control character"
    n = _utf8_len(addr)
    if n < 0:
        return "is not valid Unicode text"
    if n > MAX_ADDRESS:
        return "is over " + str(MAX_ADDRESS) + " bytes"
    local, at, domain = addr.rpartition("@")
    if not at:
        return "has no @"
    if not local:
        return "has nothing before the @"
    if not domain:
        return "has nothing after the @"
    if local[0] == '"':
        return "has a quoted local part (not supported)"
    if "@" in local:
        return "has more than one @"
    if _utf8_len(local) > MAX_LOCAL:
        return "has a local part over " + str(MAX_LOCAL) + " bytes"
    for c in local:
        if not (_plain(c) or c in _LOCAL_PUNCT or ord(c) > 127):
            if c == "(" or c == ")":
                return "contains a comment (...) (not supported)"
            return "contains " + repr(c) + " before the @"
    if local[0] == "." or local[-1] == "." or ".." in local:
        return "has a dot at the start or end of the local part, or two in a row"
    if domain[0] == "[":
        return "has an address literal [...] as domain (not supported)"
    if domain[-1] == ".":
        return "has a domain ending in a dot"
    for label in domain.split("."):
        if not label:
            return "has an empty label in the domain"
        if _utf8_len(label) > MAX_LABEL:
            return "has a domain label over " + str(MAX_LABEL) + " bytes"
        if label[0] == "-" or label[-1] == "-":
            return "has a domain label starting or ending with '-'"
        for c in label:
            if not (_plain(c) or c == "-" or ord(c) > 127):
                return "contains " + repr(c) + " in the domain"
    return None


def display_name_problem(name):
    """None when name may be a display name ("Freezer shed" in "Freezer shed <a@b>")."""
    if not isinstance(name, str):
        return "must be a string, not " + type(name).__name__
    if len(name) > MAX_NAME:
        return "is over " + str(MAX_NAME) + " characters"
    for c in name:
        if c == "\r" or c == "\n" or c == "\0":
            return "contains CR, LF or NUL"
    return None


def split_mailbox(s):
    """'a@b', '<a@b>', 'Name <a@b>' or '"Name, Jr." <a@b>' -> (name, addr), neither checked
    yet; raises ValueError for '<' without a closing '>' at the end."""
    s = s.strip()
    if s.endswith(">") and "<" in s:
        lt = s.rfind("<")
        name = s[:lt].strip()
        addr = s[lt + 1:-1].strip()
        if len(name) >= 2 and name[0] == '"' and name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return name, addr
    if "<" in s or ">" in s:
        raise ValueError("has '<' or '>' out of place (write Name <address>)")
    return "", s


def mailbox_problem(s):
    """None when s is 'address' or 'Name <address>' with both parts usable."""
    if not isinstance(s, str):
        return "must be a string, not " + type(s).__name__
    for c in s:
        if c == "\r" or c == "\n" or c == "\0":
            return "contains CR, LF or NUL"
    try:
        name, addr = split_mailbox(s)
    except ValueError as e:
        return str(e)
    p = display_name_problem(name)
    if p:
        return "display name " + p
    return address_problem(addr)


def token_problem(v, limit=64):
    """None when v is 1..limit of A-Z a-z 0-9 . _ - (device names, alert ids)."""
    if not isinstance(v, str):
        return "must be a string"
    if not 0 < len(v) <= limit:
        return "must be 1 to " + str(limit) + " characters"
    for c in v:
        if c not in TOKEN_CHARS:
            return "may only hold A-Z a-z 0-9 . _ - (found " + repr(c) + ")"
    return None


def mode_problem(mode):
    """None when mode is one of the connection modes."""
    if mode in MODES:
        return None
    return "must be one of " + ", ".join(MODES) + ", not " + repr(mode)
