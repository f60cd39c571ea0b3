# An AUTH exchange for the core (core.op_auth), RFC 4954: the mechanism chosen from what the
# server offers, its initial response, and the answers to its 334 challenges (LOGIN, or PLAIN
# asked again). Loaded only for a login that is more than one deferred AUTH PLAIN (which core.py
# sends itself): XOAUTH2 (oauth.py), LOGIN, a server that does not pipeline. Payloads are never
# traced (the core redacts them).

from usmtp import errors
from usmtp.core import secret as check_secret

MAX_AUTH_CHALLENGES = 5


def b64(d):
    import binascii
    if isinstance(d, str):
        d = d.encode()
    return binascii.b2a_base64(d).strip()


def plain(user, pw):
    return b64("\x00" + check_secret("user", user) + "\x00" + check_secret("password", pw))


def printable(b):
    return "".join([chr(c) if 32 <= c < 127 else "?" for c in b])
from usmtp.errors import SMTPProtocolError, SMTPUsageError


class Mechanism:
    # PLAIN: the initial response, and the same again for a server that ignored it and asks
    # with an empty challenge; LOGIN: no initial response, then user and password in the order
    # servers ask for them ("Username:", "Password:"). Payloads are never traced.
    def __init__(self, name, user, secret):
        self.name = name
        if name == "PLAIN":
            self._init = plain(user, secret)
            self._steps = [self._init]
        else:
            self._init = None
            self._steps = [b64(check_secret("user", user)), b64(check_secret("password", secret))]

    def initial(self):
        return self._init

    def respond(self, challenge):
        if not self._steps or (self._init and challenge.strip()):
            raise errors.SMTPAuthError(535, "unexpected AUTH " + self.name + " challenge", None,
                                       "AUTH")
        return self._steps.pop(0)


def choose(offered, oauth, wanted=None):
    """Pick the mechanism name from the server's AUTH list (a string of names, None when the
    server offers no AUTH)."""
    if offered is None:
        raise errors.SMTPAuthError(503, "AUTH not offered", None, "AUTH")
    names = offered.upper().split()
    if wanted:
        wanted = wanted.upper()
        if wanted not in ("PLAIN", "LOGIN", "XOAUTH2"):
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


def exchange(core, offered, user, secret, oauth, mechanism, defer):
    from usmtp.moreerrors import detail
    name = choose(offered, oauth, mechanism)
    if name == "XOAUTH2":
        from usmtp.oauth import XOAuth2
        mech = XOAuth2(user, secret)
    else:
        mech = Mechanism(name, user, secret)
    init = mech.initial()
    arg = name + (" " + init.decode() if init else "")
    if defer and init and core.has("PIPELINING"):
        core.auth = arg         # it leads the next message's group
        return name
    core.cmd(4, arg, True)
    rounds = 0
    while True:
        yield 0
        r = core.got[-1]
        if r[0] == 235:
            return name
        code, enh, text = detail(r)
        if code != 334:
            d = getattr(mech, "error_detail", None)
            if d:
                text += " (" + printable(d) + ")"
            raise errors.SMTPAuthError(code, text, enh, "AUTH " + name)
        rounds += 1
        err = None
        resp = b"*"         # cancels the exchange (RFC 4954)
        if rounds > MAX_AUTH_CHALLENGES:
            err = SMTPProtocolError("more than %d AUTH challenges" % MAX_AUTH_CHALLENGES)
        else:
            try:
                resp = mech.respond(r[1].encode())
            except errors.SMTPAuthError as e:
                err = e
        core.q.append(resp + b"\r\n")    # an answer: no verb, never traced
        core.pend.append(4)
        if core.trace:
            core.trace("C: <redacted>")
        if err is not None:
            yield 0
            raise err
