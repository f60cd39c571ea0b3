# LAN SMTP submission (the only module that imports aiosmtpd): boards, or anything else on the
# LAN, may use the gateway as their mail server. STARTTLS with the configured certificate,
# AUTH against smtp_ingress.accounts or a client address in smtp_ingress.allow_networks, a
# size limit, and "250" only after the spool commit. Never an open relay: a recipient outside
# smtp_ingress.allowed_domains is refused at RCPT.
import asyncio
import hashlib
import hmac
import ipaddress
import logging
import ssl
import threading
from email.parser import BytesHeaderParser
from email.policy import compat32

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("outpost.smtp")


def _addr_domain(addr):
    return addr.rpartition("@")[2].lower().rstrip(".")


def _safe_name(text):
    out = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "-" for c in text)
    return out[:64] or "smtp"


class _Handler:
    def __init__(self, owner):
        self.o = owner

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if not session.authenticated and not self.o.network_allowed(session.peer):
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if _addr_domain(address) not in self.o.domains:
            self.o.ingest.refuse("smtp", "relay-denied", "relay to %r refused (not in allowed_domains)" % address)
            return "550 5.7.1 Relaying denied: %s is not a domain this gateway serves" % _addr_domain(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        hdr = BytesHeaderParser(policy=compat32).parsebytes(data)
        for name in ("Subject", "From", "To", "Message-ID"):
            for v in hdr.get_all(name) or ():
                if "\r" in str(v) or "\n" in str(v).replace("\n ", "").replace("\n\t", ""):
                    self.o.ingest.refuse("smtp", "header", "CR/LF inside header %s" % name)
                    return "554 5.6.0 Malformed header " + name
        mid = (hdr.get("Message-ID") or "").strip()
        if mid.startswith("<") and mid.endswith(">") and 2 < len(mid) <= 250 and " " not in mid:
            alert_id = mid[1:-1]
        else:
            # no usable Message-ID: the content itself is the identity, so a resend dedupes
            alert_id = "smtp-" + hashlib.sha256(data).hexdigest()[:32] + "@gateway"
        user = session.auth_data.login.decode("utf-8", "replace") \
            if isinstance(session.auth_data, LoginPassword) else None
        device = _safe_name(hdr.get("X-Outpost-Device") or user or "smtp-" + str(session.peer[0]))
        subject = str(hdr.get("Subject") or "")[:200].replace("\r", " ").replace("\n", " ")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(res, why=None):
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(res))

        self.o.ingest.offer_raw(alert_id, device, subject, data, envelope.mail_from, list(envelope.rcpt_tos),
                                "smtp", done)
        self.o.ingest.seen(device)
        res = await fut
        if res in ("new", "dup"):
            return "250 2.0.0 Queued as " + alert_id
        if res == "full":
            return "452 4.3.1 Spool full, try again later"
        return "451 4.3.0 Local error, try again later"


class _Session(SMTP):
    # aiosmtpd's SMTP, keeping the owner's set of open sessions (a set, because STARTTLS calls
    # connection_made a second time on the same session)
    def __init__(self, owner, *args, **kwargs):
        self._owner = owner
        super().__init__(*args, **kwargs)

    def connection_made(self, transport):
        self._owner.open_sessions.add(self)
        super().connection_made(transport)

    def connection_lost(self, error):
        self._owner.open_sessions.discard(self)
        super().connection_lost(error)


class SmtpIngress:
    def __init__(self, cfg, ingest):
        si = cfg["smtp_ingress"]
        self.si = si
        self.ingest = ingest
        self.domains = set(d.lower().rstrip(".") for d in si["allowed_domains"])
        self.accounts = si["accounts"]
        self.networks = si["allow_networks"]
        self.tls = None
        if si["tls_cert"]:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(si["tls_cert"], si["tls_key"])
        self.port = None
        self.open_sessions = set()     # touched only in the event loop thread
        self._loop = None
        self._server = None
        self._t = None
        self._ready = threading.Event()
        self._error = None

    @property
    def sessions(self):
        # SMTP sessions open now (status, /metrics)
        return len(self.open_sessions)

    def network_allowed(self, peer):
        try:
            ip = ipaddress.ip_address(peer[0])
        except (ValueError, TypeError, IndexError):
            return False
        return any(ip in n for n in self.networks)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            want = self.accounts.get(user)
            if want is not None and hmac.compare_digest(want.encode(), auth_data.password):
                return AuthResult(success=True, auth_data=auth_data)
            self.ingest.refuse("smtp", "auth-failed", "AUTH failed for user %r" % user)
        return AuthResult(success=False, handled=False)

    def _factory(self):
        require_tls = self.si["require_tls"] and self.tls is not None
        return _Session(self, _Handler(self), data_size_limit=self.si["max_size"], hostname=self.si["hostname"],
                    tls_context=self.tls, require_starttls=require_tls,
                    auth_require_tls=self.si["require_tls"], authenticator=self._authenticate,
                    auth_exclude_mechanism=[], timeout=60)

    def start(self):
        self._t = threading.Thread(target=self._run, name="smtp-ingress", daemon=True)
        self._t.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def _run(self):
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(self._factory, host=self.si["listen"], port=self.si["port"]))
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as e:
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        self._server.close()
        loop.run_until_complete(self._server.wait_closed())
        loop.close()

    def stop(self):
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._t is not None:
            self._t.join(timeout=10)
