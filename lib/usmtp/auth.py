# SASL mechanisms for SMTP AUTH (RFC 4954): PLAIN, LOGIN and XOAUTH2.
# Each mechanism is a small object: initial() gives the initial response (or None) and
# respond(challenge) answers a 334 challenge. Payloads are never traced (the core redacts them).

import binascii

from usmtp.errors import SMTPAuthError, SMTPUsageError


def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return binascii.b2a_base64(data).strip()


def unb64(data):
    try:
        return binascii.a2b_base64(data)
    except Exception:
        return b""


def _check(name, value):
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeError:
            raise SMTPUsageError(name + " is not UTF-8")   # the value itself is never shown
    if not isinstance(value, str):
        raise SMTPUsageError(name + " must be a string")
    if "\x00" in value:
        raise SMTPUsageError(name + " contains a NUL character")
    return value


class Plain:
    name = "PLAIN"

    def __init__(self, user, secret):
        self._payload = b64("\x00" + _check("user", user) + "\x00" + _check("password", secret))

    def initial(self):
        return self._payload

    def respond(self, challenge):
        # a server that ignored the initial response and asks with an empty challenge
        if challenge.strip() == b"":
            p = self._payload
            self._payload = None
            if p is not None:
                return p
        raise SMTPAuthError(535, "unexpected AUTH PLAIN challenge", None, "AUTH")


class Login:
    name = "LOGIN"

    def __init__(self, user, secret):
        self._steps = [b64(_check("user", user)), b64(_check("password", secret))]

    def initial(self):
        return None

    def respond(self, challenge):
        # servers send "Username:" then "Password:" (base64); answer in that order
        if not self._steps:
            raise SMTPAuthError(535, "too many AUTH LOGIN challenges", None, "AUTH")
        return self._steps.pop(0)


class XOAuth2:
    name = "XOAUTH2"

    def __init__(self, user, token):
        self._payload = b64("user=" + _check("user", user) + "\x01auth=Bearer " +
                            _check("token", token) + "\x01\x01")
        self._failed = False

    def initial(self):
        return self._payload

    def respond(self, challenge):
        # on failure the server sends a base64 JSON error as a 334 challenge and expects an
        # empty line, after which it replies 5xx; keep the JSON for the error message
        if self._failed:
            raise SMTPAuthError(535, "unexpected XOAUTH2 challenge", None, "AUTH")
        self._failed = True
        self.error_detail = unb64(challenge)
        return b""


MECHANISMS = {"PLAIN": Plain, "LOGIN": Login, "XOAUTH2": XOAuth2}
# preference when a password is given: PLAIN needs one round trip, LOGIN two
PASSWORD_ORDER = ("PLAIN", "LOGIN")


def choose(offered, oauth, wanted=None):
    """Pick the mechanism name from the server's AUTH list (a string of names)."""
    names = offered.upper().split()
    if wanted:
        wanted = wanted.upper()
        if wanted not in MECHANISMS:
            raise SMTPUsageError("unsupported AUTH mechanism " + wanted)
        if wanted not in names:
            raise SMTPAuthError(504, "server does not offer AUTH " + wanted, None, "AUTH")
        return wanted
    if oauth:
        if "XOAUTH2" in names:
            return "XOAUTH2"
        raise SMTPAuthError(504, "server does not offer AUTH XOAUTH2 (offers: " + offered + ")",
                            None, "AUTH")
    for m in PASSWORD_ORDER:
        if m in names:
            return m
    raise SMTPAuthError(504, "no supported AUTH mechanism (server offers: " + offered + ")",
                        None, "AUTH")
