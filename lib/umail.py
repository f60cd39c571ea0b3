# uMail-compatible facade over usmtp: an existing uMail script runs unchanged once this file is
# on the board, but with usmtp's safety: verified TLS, no silent downgrade, no AUTH in the
# clear, dot-stuffing, checked replies and typed errors (OSError subclasses) instead of asserts.
#
# Certificates: uMail never checked them; this facade does. Put the CA certificate of your mail
# provider (PEM or DER) on the board as /ca.pem (see CA_FILE), or set umail.CADATA before
# creating SMTP. Port 587 requires STARTTLS; port 25 uses it when offered; ssl=True is
# implicit TLS (465).

import usmtp

DEFAULT_TIMEOUT = 10
LOCAL_DOMAIN = None            # EHLO name, as in uMail; None: our address literal (RFC 5321)
CA_FILE = "ca.pem"
CADATA = None                  # CA certificate(s); when None, CA_FILE is read
ALLOW_PLAINTEXT_AUTH = False   # True only for a server on a trusted LAN without TLS


def _cadata():
    if CADATA is not None:
        return CADATA
    try:
        with open(CA_FILE, "rb") as f:
            return f.read()
    except OSError:
        return None


class SMTP:
    def __init__(self, host, port, ssl=False, username=None, password=None):
        self.username = username
        mode = "tls" if ssl else ("starttls" if port == 587 else "opportunistic")
        ca = _cadata()
        self._smtp = usmtp.SMTP(None, mode=mode, cadata=ca, timeout=DEFAULT_TIMEOUT,
                                local_hostname=LOCAL_DOMAIN,
                                allow_plaintext_auth=ALLOW_PLAINTEXT_AUTH)
        self._smtp.connect(host, port)
        if username and password:
            self.login(username, password)

    def cmd(self, cmd_str):
        """Send a raw command (no CR/LF allowed) and return (code, [lines])."""
        c = self._smtp
        if cmd_str.upper().partition(" ")[0] in ("NOOP", "RSET"):
            core = c._live()
            c._run(core.op_simple(cmd_str.upper().partition(" ")[0]))
        elif cmd_str.upper().startswith("EHLO") or cmd_str.upper().startswith("HELO"):
            c.ehlo()
        else:
            raise usmtp.SMTPUsageError("umail.cmd() supports EHLO, HELO, NOOP and RSET; use "
                                       "login(), to(), write() and send()")
        return self._lines()

    def _lines(self):
        # uMail returns (code, [reply lines])
        from usmtp.moreerrors import detail
        c, _, t = detail(self._smtp._core.last)
        return c, t.split("\n")

    def login(self, username, password):
        self.username = username
        try:
            self._smtp.login(username, password)
        except usmtp.SMTPAuthError as e:
            # uMail takes 503 "already authenticated" as success (constructor login + login())
            if e.code == 503 and self._smtp._core.authed:
                return self._lines()
            raise
        return self._lines()

    def to(self, addrs, mail_from=None):
        if mail_from is None:
            mail_from = self.username
        self._smtp.data_begin(mail_from, addrs)
        return self._lines()

    def write(self, content):
        self._smtp.data_write(content)

    def send(self, content=""):
        if content:
            self.write(content)
        return self._smtp.data_end()

    def quit(self):
        return self._smtp.quit()
