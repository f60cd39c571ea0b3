"""A local mail catcher for the demo: aiosmtpd on 127.0.0.1 with STARTTLS (a throw-away CA made
with openssl, demo/certs.py) and AUTH, keeping every message it accepts in memory."""
import logging
import os
import shutil
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

import certs
from ports import free_port

# aiosmtpd 1.4 logs a warning about its own deprecated attribute on every AUTH
logging.getLogger("mail.log").setLevel(logging.ERROR)


class Catcher:
    def __init__(self, user="demo", password="demo-password", accounts=None):
        self._ca_pem, cert, key = certs.make()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        shutil.rmtree(os.path.dirname(cert), ignore_errors=True)   # the keys are in ctx now
        self.user, self.password = user, password
        # login -> password; every message records which login sent it
        self.accounts = dict(accounts or {})
        self.accounts[user] = password
        self.messages = []
        self.logins = []
        self._cond = threading.Condition()
        self.port = free_port()
        self._ctl = Controller(self, hostname="127.0.0.1", port=self.port, tls_context=ctx,
                               require_starttls=True, authenticator=self._auth,
                               auth_require_tls=True, server_hostname="localhost")

    @property
    def ca_pem(self):
        return self._ca_pem

    def _auth(self, server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword) and
              self.accounts.get(data.login.decode(errors="replace")) == data.password.decode(
                  errors="replace"))
        return AuthResult(success=ok, auth_data=data.login.decode() if ok else None)

    async def handle_DATA(self, server, session, envelope):
        with self._cond:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
            self.logins.append(session.auth_data)
            self._cond.notify_all()
        return "250 2.0.0 caught"

    def wait_for(self, n, timeout=10):
        with self._cond:
            return self._cond.wait_for(lambda: len(self.messages) >= n, timeout)

    def __enter__(self):
        self._ctl.start()
        return self

    def __exit__(self, *exc):
        self._ctl.stop()
