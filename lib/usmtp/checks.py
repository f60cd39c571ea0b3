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
# Limits, written where they are checked (a name would stay interned on a board): an address
# is at most 254 bytes (RFC 5321 4.5.3.1.3: a path of 256 with its angle brackets), its local
# part 64, a domain label 63; a display name at most 256 characters.


def _say(n, *args):
    # the phrase for problem n (usmtp/phrases.py), None for none; problem 0 (not a str) is
    # given the value and names its type
    if n is not None:
        from usmtp.phrases import PHRASES
        return PHRASES[n] % (args if n else type(args[0]).__name__)


def _crlf(s):
    return "\r" in s or "\n" in s or "\0" in s


def _address(addr):
    # the number of addr's first problem (a phrase), with its detail in a tuple; None for none
    if not addr:
        return 1
    if _crlf(addr):
        return 2
    for c in addr:
        o = ord(c)
        if o < 32 or 127 <= o < 160 or o == 0x2028 or o == 0x2029:
            return 3
    try:
        n = len(addr.encode())      # (its parts below are valid text when it is)
    except ValueError:          # a lone surrogate (CPython's UnicodeEncodeError)
        return 4
    if n > 254:
        return 5, 254
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
    if len(local.encode()) > 64:
        return 11, 64
    for c in local:
        if not (c in TOKEN_CHARS or c in "!#$%&'*+/=?^`{|}~" or ord(c) > 127):
            return 12 if c in "()" else (13, repr(c))
    if ".." in "." + local + ".":       # a dot first, last, or twice in a row
        return 14
    if domain[0] == "[":
        return 15
    if domain[-1] == ".":
        return 16
    for label in domain.split("."):
        if not label:
            return 17
        if len(label.encode()) > 63:
            return 18, 63
        if "-" in label[0] + label[-1]:
            return 19
        for c in label:
            if not (c in TOKEN_CHARS and c != "_" or ord(c) > 127):    # no "." in a label
                return 20, repr(c)


def address_problem(addr):
    """None when addr is a usable mail address, else why not (a short phrase)."""
    if not isinstance(addr, str):
        return _say(0, addr)
    p = _address(addr)
    return _say(*p) if isinstance(p, tuple) else _say(p)


def display_name_problem(name):
    """None when name may be a display name ("Freezer shed" in "Freezer shed <a@b>")."""
    if not isinstance(name, str):
        return _say(0, name)
    if len(name) > 256:
        return _say(21, 256)
    return _say(2 if _crlf(name) else None)


def split_mailbox(s):
    """'a@b', '<a@b>', 'Name <a@b>' or '"Name, Jr." <a@b>' -> (name, addr), neither checked
    yet; raises ValueError for '<' without a closing '>' at the end."""
    name, lt, addr = s.strip().rpartition("<")
    if lt and addr[-1:] == ">":
        name = name.strip()
        if len(name) > 1 and name[0] == name[-1] == '"':
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return name, addr[:-1].strip()
    if lt or ">" in addr:
        raise ValueError(_say(22))
    return "", addr


def mailbox_problem(s):
    """None when s is 'address' or 'Name <address>' with both parts usable."""
    if not isinstance(s, str):
        return _say(0, s)
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
        return _say(0, v)
    if not 0 < len(v) <= limit:
        return _say(23, limit)
    v = v.strip(TOKEN_CHARS)        # what is left starts with the first other character
    if v:
        return _say(24, repr(v[0]))


def mode_problem(mode):
    """None when mode is one of the connection modes."""
    if mode not in MODES:
        return _say(25, ", ".join(MODES), repr(mode))
