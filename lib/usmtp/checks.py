# The rules usmtp holds its input to, defined here once: what a mail address is, what a display
# name may hold, the connection modes. The writer (headers) and the core (envelope) call them,
# and so does anything else that takes an address (outpost_contract.rules re-exports them), so
# an address one side accepts is never refused by the other.
#
# An address is an addr-spec as a board or a mail provider writes it: dot-atom local part (UTF-8
# allowed, for SMTPUTF8), "@", a domain of dot-separated labels (IDN in UTF-8 allowed; a name
# without a dot such as "localhost" is fine on a LAN). Not supported, refused by name: quoted
# local parts, comments "(...)", address literals "[1.2.3.4]", a trailing dot. Nothing here
# allocates at import time. What a failed check says is in usmtp/phrases.py, loaded only then
# (each check here returns None or the number of its phrase).

MODES = ("tls", "starttls", "opportunistic", "plain")
# alert ids and device names: what may go into a Message-ID, a topic or a file name
TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-"
MAX_ADDRESS = 254       # bytes, RFC 5321 4.5.3.1.3 (a path of 256 with its angle brackets)
MAX_LOCAL = 64
MAX_LABEL = 63
MAX_NAME = 256          # display name, characters


def _say(n, *args):
    # the phrase for problem n (usmtp/phrases.py), None for none
    if n is None:
        return None
    from usmtp.phrases import PHRASES
    return PHRASES[n] % args


def _utf8_len(s):
    try:
        return len(s.encode())
    except UnicodeError:        # a lone surrogate
        return -1


def _crlf(s):
    return "\r" in s or "\n" in s or "\0" in s


def _address(addr):
    if not addr:
        return 1
    if _crlf(addr):
        return 2
    for c in addr:
        o = ord(c)
        if o < 32 or 127 <= o < 160 or o == 0x2028 or o == 0x2029:
            return 3
    n = _utf8_len(addr)
    if n < 0:
        return 4
    if n > MAX_ADDRESS:
        return 5, MAX_ADDRESS
    local, at, domain = addr.rpartition("@")
    if not at:
        return 6
    if not local:
        return 7
    if not domain:
        return 8
    if local[0] == '"':
        return 9
    if "@" in local:
        return 10
    if _utf8_len(local) > MAX_LOCAL:
        return 11, MAX_LOCAL
    for c in local:
        if not (c in TOKEN_CHARS or c in "!#$%&'*+/=?^`{|}~" or ord(c) > 127):
            if c == "(" or c == ")":
                return 12
            return 13, c
    if local[0] == "." or local[-1] == "." or ".." in local:
        return 14
    if domain[0] == "[":
        return 15
    if domain[-1] == ".":
        return 16
    for label in domain.split("."):
        if not label:
            return 17
        if _utf8_len(label) > MAX_LABEL:
            return 18, MAX_LABEL
        if label[0] == "-" or label[-1] == "-":
            return 19
        for c in label:
            if not (c in TOKEN_CHARS and c != "_" or ord(c) > 127):    # no "." in a label
                return 20, c
    return None


def address_problem(addr):
    """None when addr is a usable mail address, else why not (a short phrase)."""
    if not isinstance(addr, str):
        return _say(0, type(addr).__name__)
    p = _address(addr)
    if isinstance(p, tuple):    # the problem and its detail: a character (shown) or a limit
        return _say(p[0], repr(p[1]) if isinstance(p[1], str) else p[1])
    return _say(p)


def display_name_problem(name):
    """None when name may be a display name ("Freezer shed" in "Freezer shed <a@b>")."""
    if not isinstance(name, str):
        return _say(0, type(name).__name__)
    if len(name) > MAX_NAME:
        return _say(21, MAX_NAME)
    return _say(2 if _crlf(name) else None)


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
        raise ValueError(_say(22))
    return "", s


def mailbox_problem(s):
    """None when s is 'address' or 'Name <address>' with both parts usable."""
    if not isinstance(s, str):
        return _say(0, type(s).__name__)
    if _crlf(s):
        return _say(2)
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
        return _say(0, type(v).__name__)
    if not 0 < len(v) <= limit:
        return _say(23, limit)
    for c in v:
        if c not in TOKEN_CHARS:
            return _say(24, repr(c))
    return None


def mode_problem(mode):
    """None when mode is one of the connection modes."""
    if mode in MODES:
        return None
    return _say(25, ", ".join(MODES), repr(mode))
