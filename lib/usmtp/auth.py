# SASL mechanisms for SMTP AUTH (RFC 4954): PLAIN and LOGIN here, XOAUTH2 in oauth.py (loaded
# only for a token). A mechanism is one small object: initial() gives the initial response (or
# None) and respond(challenge) answers a 334 challenge. Payloads are never traced (the core
# redacts them).

from usmtp import errors
from usmtp.errors import SMTPUsageError

NAMES = ("PLAIN", "LOGIN", "XOAUTH2")


def b64(data):
    import binascii
    if isinstance(data, str):
        data = data.encode()
    return binascii.b2a_base64(data).strip()


def check(name, value):
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeError:
            raise SMTPUsageError(name + " is not UTF-8")   # the value itself is never shown
    if not isinstance(value, str):
        raise SMTPUsageError(name + " must be a string")
    if "\x00" in value:
        raise SMTPUsageError(name + " contains a NUL character")
    return value


def printable(b):
    out = ""
    for c in b:
        out += chr(c) if 32 <= c < 127 else "?"
    return out


class Mechanism:
    # PLAIN: the initial response, and the same again for a server that ignored it and asks
    # with an empty challenge; LOGIN: no initial response, then user and password in the order
    # servers ask for them ("Username:", "Password:")
    def __init__(self, name, init, steps):
        self.name = name
        self._init = init
        self._steps = steps

    def initial(self):
        return self._init

    def respond(self, challenge):
        if not self._steps or (self._init and challenge.strip()):
            raise errors.SMTPAuthError(535, "unexpected AUTH " + self.name + " challenge", None,
                                       "AUTH")
        return self._steps.pop(0)


def Plain(user, secret):
    p = b64("\x00" + check("user", user) + "\x00" + check("password", secret))
    return Mechanism("PLAIN", p, [p])


def Login(user, secret):
    return Mechanism("LOGIN", None, [b64(check("user", user)), b64(check("password", secret))])


def mechanism(name, user, secret):
    if name == "XOAUTH2":
        from usmtp.oauth import XOAuth2
        return XOAuth2(user, secret)
    return Plain(user, secret) if name == "PLAIN" else Login(user, secret)


def choose(offered, oauth, wanted=None):
    """Pick the mechanism name from the server's AUTH list (a string of names)."""
    names = offered.upper().split()
    if wanted:
        wanted = wanted.upper()
        if wanted not in NAMES:
            raise SMTPUsageError("unsupported AUTH mechanism " + wanted)
        if wanted not in names:
            raise errors.SMTPAuthError(504, "server does not offer AUTH " + wanted, None, "AUTH")
        return wanted
    if oauth:
        wanted = "XOAUTH2"
    for m in (wanted,) if wanted else ("PLAIN", "LOGIN"):
        if m in names:
            return m
    raise errors.SMTPAuthError(504, "server offers no AUTH " + (wanted or "PLAIN or LOGIN") +
                               " (offers: " + offered + ")", None, "AUTH")
