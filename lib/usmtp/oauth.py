# AUTH XOAUTH2 (Gmail, Microsoft 365): an OAuth 2 bearer token instead of a password. Loaded
# only when a caller logs in with a token (usmtp.SMTP.login_oauth2).

from usmtp.auth import b64
from usmtp.core import secret as check
from usmtp.errors import SMTPAuthError


class XOAuth2:
    name = "XOAUTH2"

    def __init__(self, user, token):
        self._payload = b64("user=" + check("user", user) + "\x01auth=Bearer " +
                            check("token", token) + "\x01\x01")
        self._failed = False

    def initial(self):
        return self._payload

    def respond(self, challenge):
        # on failure the server sends a base64 JSON error as a 334 challenge and expects an
        # empty line, after which it replies 5xx; keep the JSON for the error message
        if self._failed:
            raise SMTPAuthError(535, "unexpected XOAUTH2 challenge", None, "AUTH")
        self._failed = True
        import binascii
        try:
            self.error_detail = binascii.a2b_base64(challenge)
        except Exception:
            self.error_detail = b""
        return b""
