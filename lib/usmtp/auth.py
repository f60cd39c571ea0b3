# An AUTH exchange for the core (core.op_auth), RFC 4954: the mechanism chosen from what the
# server offers, its initial response, and the answers to its 334 challenges (LOGIN, or PLAIN
# asked again). Loaded only for a login that is more than one deferred AUTH PLAIN (which core.py
# sends itself): XOAUTH2 (oauth.py), LOGIN, a server that does not pipeline. Payloads are never
# traced (the core redacts them).

from usmtp import errors
from usmtp.core import MAX_AUTH_CHALLENGES, b64, check_secret, plain, printable
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
    """Pick the mechanism name from the server's AUTH list (a string of names)."""
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
    name = choose(offered, oauth, mechanism)
    if name == "XOAUTH2":
        from usmtp.oauth import XOAuth2
        mech = XOAuth2(user, secret)
    else:
        mech = Mechanism(name, user, secret)
    init = mech.initial()
    arg = name + (" " + init.decode() if init else "")
    if defer and init and core.pipelining:
        # it leads the next transaction's group (tx.py): one round trip less
        core._deferred_auth = arg
        return name
    core._send("AUTH", arg, redact=True)
    rounds = 0
    while True:
        yield 0
        r = core.last_reply
        if r.code == 235:
            return name
        if r.code != 334:
            text = r.text
            detail = getattr(mech, "error_detail", None)
            if detail:
                text += " (" + printable(detail) + ")"
            raise errors.SMTPAuthError(r.code, text, r.enhanced, "AUTH " + name)
        rounds += 1
        err = None
        resp = b"*"         # cancels the exchange (RFC 4954)
        if rounds > MAX_AUTH_CHALLENGES:
            err = SMTPProtocolError("more than %d AUTH challenges" % MAX_AUTH_CHALLENGES)
        else:
            try:
                resp = mech.respond(r.text.encode())
            except errors.SMTPAuthError as e:
                err = e
        core._send("AUTH-RESP", resp.decode(), redact=True, verb="")
        if err is not None:
            yield 0
            raise err
