# LAN SMTP submission (the only module that imports aiosmtpd): boards, or anything else on the
# LAN, may use the gateway as their mail server. STARTTLS with the configured certificate,
# AUTH against smtp_ingress.accounts or a client address in smtp_ingress.allow_networks, a
# size limit, and "250" only after the spool commit. Never an open relay: a recipient outside
# smtp_ingress.allowed_domains is refused at RCPT, and so is a local part that could route
# elsewhere (%, !, a quoted @).
#
# Limits, so no client can take the ingress (or the process) down:
# - sessions in total and per client address; new sessions are also refused while the process
#   is near its open-file limit, so the spool, MQTT and serial keep the descriptors they need;
# - one idle timeout per session: only a submitted message restarts it (a NOOP does not);
# - a line longer than MAX_LINE ends the session while it is read, not after it is buffered;
# - AUTH: AUTH_MAX_FAILURES per session, then the session is closed, and each later AUTH from
#   that client address waits a delay that doubles with its failures (logged once a minute).
# A submitted message is spooled under an id of the gateway's own ("smtp:" + a digest of the
# envelope and content, so a client's resend deduplicates; without a Message-ID nothing marks a
# resend, and each submission is kept); its Message-ID is only a header, and can never take
# over an alert's id.
import asyncio
import hashlib
import hmac
import ipaddress
import logging
import os
import resource
import ssl
import threading
import time
from email.parser import BytesHeaderParser
from email.policy import compat32

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, syntax

from . import compose

log = logging.getLogger("outpost.smtp")

MAX_LINE = 4096             # bytes in one command or DATA line; SMTP's own limit is 1000
AUTH_MAX_FAILURES = 3       # per session
AUTH_DELAY_MAX = 60.0       # seconds, the longest wait imposed on a guessing address
AUTH_FORGET = 900.0         # seconds after its last failure an address starts afresh
FD_RESERVE = 64             # descriptors kept free for the spool, MQTT, serial, HTTP


def _addr_domain(addr):
    return addr.rpartition("@")[2].lower().rstrip(".")


def _safe_name(text):
    out = "".join(c if (c.isascii() and c.isalnum()) or c in "._-" else "-" for c in text)
    return out[:64] or "smtp"


def local_part_problem(addr):
    # a local part that could route the message on from the allowed domain: user%other@,
    # other!user@, "x@other"@ (quoted) or a source route
    local = addr.rpartition("@")[0]
    for c in "%!@":
        if c in local:
            return "%r in the local part" % c
    return None


def header_problem(data):
    # -> (header name, problem) for the first header line holding a bare CR or LF or another
    # control character, else None. Read from the raw bytes: the email parser treats a bare CR
    # as a line end, so a check on parsed headers never sees one
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[:end]
    name = b"?"
    for line in head.split(b"\r\n"):
        if line[:1] not in (b" ", b"\t"):
            name = line.partition(b":")[0][:40]
        for b in line:
            if (b < 32 and b != 9) or b == 127:
                what = {13: "a bare CR", 10: "a bare LF", 0: "a NUL"}.get(b, "control character 0x%02x" % b)
                return name.decode("ascii", "replace"), what
    return None


_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-=")
_DOMAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")


def plain_path(arg):
    # "<local@domain> params" made of plain characters only -> (address, the rest), exactly what
    # aiosmtpd's RFC 5322 parser returns for it; anything else -> None (the parser decides).
    # The parser (and the class it defines per call) was a fifth of the ingress's CPU.
    s = arg.lstrip()
    end = s.find(">")
    if s[:1] != "<" or end < 0:
        return None
    addr = s[1:end]
    local, at, domain = addr.rpartition("@")
    if not local or not domain or local[0] == "." or local[-1] == "." or ".." in local or \
            domain[0] in ".-" or domain[-1] in ".-" or ".." in domain:
        return None
    if not _LOCAL.issuperset(local) or not _DOMAIN.issuperset(domain):
        return None
    rest = s[end + 1:].lstrip(" \t")
    if rest[:1] == "(":
        return None         # a comment: the parser's business
    return addr, rest


def fd_headroom():
    # descriptors the process can still open (None where it cannot be told)
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            return None
        return soft - len(os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        return None


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
        peer = str(session.peer[0]) if session.peer else None
        if _addr_domain(address) not in self.o.domains:
            self.o.ingest.refuse("smtp", "relay-denied", "relay to %r refused (not in allowed_domains)"
                                 % address, origin=peer)
            return "550 5.7.1 Relaying denied: %s is not a domain this gateway serves" % _addr_domain(address)
        why = local_part_problem(address)
        if why is not None:
            self.o.ingest.refuse("smtp", "relay-denied", "recipient %r refused: %s" % (address, why),
                                 origin=peer)
            return "550 5.7.1 Relaying denied: %s" % why
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        peer = str(session.peer[0]) if session.peer else "?"
        bad = header_problem(data)
        if bad is not None:
            self.o.ingest.refuse("smtp", "header", "%s inside header %s" % (bad[1], bad[0]), data, peer)
            return "554 5.6.0 Malformed header %s: %s" % (compose.one_line(bad[0], 40), bad[1])
        hdr = BytesHeaderParser(policy=compat32).parsebytes(data)
        claimed = hdr.get("X-Outpost-Device")
        if claimed is not None:
            device = str(claimed).strip()
            why = self.o.ingest.device_problem(device)
            if why is not None:
                self.o.ingest.refuse("smtp", "bad-device", "X-Outpost-Device: " + why, data, peer)
                return "550 5.7.1 X-Outpost-Device refused: " + compose.one_line(why, 120)
        else:
            user = session.auth_data.login.decode("utf-8", "replace") \
                if isinstance(session.auth_data, LoginPassword) else None
            device = _safe_name(user or "smtp-" + peer)
        # the gateway's own id: "smtp:" cannot occur in a record id ([A-Za-z0-9._-]), and the
        # digest covers the envelope, so a client's resend of the same message deduplicates
        h = hashlib.sha256()
        h.update((envelope.mail_from or "").encode("utf-8", "surrogateescape") + b"\0")
        h.update("\0".join(envelope.rcpt_tos).encode("utf-8", "surrogateescape") + b"\0")
        h.update(data)
        if hdr.get("Message-ID") is None:
            # nothing says it is a resend: the same text twice (a script's "pump down" on two
            # days) is two events, and deduplicating them would lose the second
            h.update(os.urandom(16))
        alert_id = "smtp:" + h.hexdigest()[:40]
        subject = compose.one_line(hdr.get("Subject") or "")
        loop = asyncio.get_running_loop()
        fut = loop.create_future()

        def done(res, why=None):
            loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(res))

        self.o.ingest.offer_raw(alert_id, device, subject, data, envelope.mail_from, list(envelope.rcpt_tos),
                                "smtp", done)
        self.o.ingest.seen(device)
        res = await fut
        if res in ("new", "dup"):
            server.progress()
            self.o.step_error = None
            return "250 2.0.0 Queued as " + alert_id
        if res == "full":
            return "452 4.3.1 Spool full, try again later"
        return "451 4.3.0 Local error, try again later"

    async def handle_exception(self, error):
        # a command that raised (in aiosmtpd or here): that session gets a transient error and
        # goes on. Counted and logged (rate limited; the traceback at debug level), but it
        # does not mark the path failed: any client could then flip /health at will
        self.o.session_errors += 1
        self.o.last_session_error = "%s: %s" % (type(error).__name__, error)
        self.o.ingest.refuse("smtp", "command-error", "a command failed: " + self.o.last_session_error)
        log.debug("SMTP command failed", exc_info=error)
        return "451 4.3.0 Local error, try again later"


class _Session(SMTP):
    # aiosmtpd's SMTP with the owner's limits: the set of open sessions (a set, because
    # STARTTLS calls connection_made a second time on the same session), the session idle
    # timer, the line cap and the AUTH failure count
    def __init__(self, owner, *args, **kwargs):
        self._owner = owner
        self._refused = False
        self._counted = False
        self._idle = None
        self._ip = None
        self.auth_failures = 0
        super().__init__(*args, **kwargs)
        reader = self._stream_reader
        plain_read = reader.read
        state = {"over": 0}

        # aiosmtpd reads an over-long line with read() after a LimitOverrunError and keeps its
        # fragments until the CRLF: past MAX_LINE, the session ends instead
        async def capped_read(n=-1):
            data = await plain_read(n)
            state["over"] += len(data)
            if state["over"] > MAX_LINE:
                self._too_long()
                raise ConnectionResetError("line longer than %d bytes" % MAX_LINE)
            return data
        plain_until = reader.readuntil

        async def readuntil(separator=b"\n"):
            line = await plain_until(separator)
            state["over"] = 0
            return line
        reader.read = capped_read
        reader.readuntil = readuntil

    def _getaddr(self, arg):
        fast = plain_path(arg) if arg else None
        if fast is None or (self.local_part_limit and len(fast[0].rpartition("@")[0]) > self.local_part_limit):
            return super()._getaddr(arg)
        return fast

    def _too_long(self):
        self._owner.ingest.refuse("smtp", "line-too-long", "a line longer than %d bytes; session closed"
                                  % MAX_LINE, origin=self._ip)
        t = self.transport
        if t is not None:
            t.write(b"500 5.5.6 Line too long, closing\r\n")
            t.close()

    def connection_made(self, transport):
        if self._counted:       # STARTTLS: the same session again
            super().connection_made(transport)
            return
        peer = transport.get_extra_info("peername")
        self._ip = str(peer[0]) if peer else "?"
        why = self._owner.admit(self._ip)
        if why is not None:
            # refused before aiosmtpd sees it: one line, closed, nothing kept
            self._refused = True
            self._owner.ingest.refuse("smtp", "busy", why, origin=self._ip)
            transport.write(b"421 4.3.2 " + why.encode() + b", try again later\r\n")
            transport.close()
            return
        self._counted = True
        self._owner.session_opened(self, self._ip)
        self.progress()
        super().connection_made(transport)

    def progress(self):
        # a message went through (or the session began): the session's one idle timer restarts
        if self._idle is not None:
            self._idle.cancel()
        self._idle = self.loop.call_later(self._owner.idle_timeout, self._idle_out)

    def _idle_out(self):
        log.debug("SMTP session from %s idle for %.0f s; closed", self._ip, self._owner.idle_timeout)
        t = self.transport
        if t is not None:
            t.write(b"421 4.4.2 Idle too long, closing\r\n")
            t.close()

    def data_received(self, data):
        if not self._refused:
            super().data_received(data)

    def eof_received(self):
        if self._refused:
            return False
        return super().eof_received()

    def connection_lost(self, error):
        if self._refused:
            return
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._counted:
            self._counted = False
            self._owner.session_closed(self, self._ip)
        super().connection_lost(error)

    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg):
        # nothing to verify here (and aiosmtpd's parser raises on "VRFY <")
        await self.push("252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery")

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg):
        delay = self._owner.auth_delay(self._ip)
        if delay > 0:
            await asyncio.sleep(delay)
        await super().smtp_AUTH(arg)
        if self.auth_failures >= AUTH_MAX_FAILURES and self.transport is not None:
            self.transport.close()


class SmtpIngress:
    def __init__(self, cfg, ingest):
        si = cfg["smtp_ingress"]
        self.si = si
        self.ingest = ingest
        self.domains = set(d.lower().rstrip(".") for d in si["allowed_domains"])
        self.accounts = si["accounts"]
        self.networks = si["allow_networks"]
        self.max_sessions = si["max_sessions"]
        self.max_per_client = si["max_sessions_per_client"]
        self.idle_timeout = si["idle_timeout"]
        self.tls = None
        if si["tls_cert"]:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(si["tls_cert"], si["tls_key"])
        self.port = None
        self.open_sessions = set()     # touched only in the event loop thread
        self.per_client = {}           # client address -> sessions open now
        self.auth_failed = {}          # client address -> [failures, last failure, last logged]
        self.step_error = None         # the event loop's last failure, until a message goes through
        self.session_errors = 0        # commands that raised inside a session (answered 451)
        self.last_session_error = None
        self.restarts = 0
        self._loop = None
        self._server = None
        self._t = None
        self._stopped = True
        self._ready = threading.Event()
        self._error = None
        # aiosmtpd logs every connection and command at INFO: a flood would fill the journal.
        # What matters (refusals, limits, failures) is logged here, rate limited
        logging.getLogger("mail.log").setLevel(logging.ERROR)

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

    # -- limits (event loop thread) ---------------------------------------------------------
    def admit(self, ip):
        # -> None to take a new session from ip, else why not
        if len(self.open_sessions) >= self.max_sessions:
            return "Too many sessions (%d)" % self.max_sessions
        if self.per_client.get(ip, 0) >= self.max_per_client:
            return "Too many sessions from %s (%d)" % (ip, self.max_per_client)
        room = fd_headroom()
        if room is not None and room < FD_RESERVE:
            return "Too many open files"
        return None

    def session_opened(self, s, ip):
        self.open_sessions.add(s)
        self.per_client[ip] = self.per_client.get(ip, 0) + 1

    def session_closed(self, s, ip):
        self.open_sessions.discard(s)
        n = self.per_client.get(ip, 0) - 1
        if n > 0:
            self.per_client[ip] = n
        else:
            self.per_client.pop(ip, None)

    def auth_delay(self, ip):
        # seconds an AUTH from ip waits: none until it has failed AUTH_MAX_FAILURES times,
        # then 1, 2, 4 ... up to AUTH_DELAY_MAX
        ent = self.auth_failed.get(ip)
        if ent is None:
            return 0.0
        if time.monotonic() - ent[1] > AUTH_FORGET:
            del self.auth_failed[ip]
            return 0.0
        over = ent[0] - AUTH_MAX_FAILURES
        return 0.0 if over < 0 else min(AUTH_DELAY_MAX, 2.0 ** over)

    def _auth_failure(self, server, user):
        server.auth_failures += 1
        ip = server._ip
        now = time.monotonic()
        ent = self.auth_failed.get(ip)
        if ent is None or now - ent[1] > AUTH_FORGET:
            ent = self.auth_failed[ip] = [0, now, -1e9]
        ent[0] += 1
        ent[1] = now
        self.ingest.metrics.refuse("smtp", "auth-failed")
        if now - ent[2] >= 60.0:
            # once per address per minute, however fast it guesses
            ent[2] = now
            log.warning("SMTP AUTH failed from %s (user %r; %d failures from there; later attempts wait"
                        " up to %.0f s)", ip, compose.one_line(user, 64), ent[0], AUTH_DELAY_MAX)
        if server.auth_failures >= AUTH_MAX_FAILURES:
            return AuthResult(success=False, handled=False,
                              message="421 4.7.0 Too many failed authentications, closing")
        return AuthResult(success=False, handled=False)

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace")
            want = self.accounts.get(user)
            if want is not None and hmac.compare_digest(want.encode(), auth_data.password):
                self.auth_failed.pop(server._ip, None)
                return AuthResult(success=True, auth_data=auth_data)
            return self._auth_failure(server, user)
        return self._auth_failure(server, "?")

    def _factory(self):
        require_tls = self.si["require_tls"] and self.tls is not None
        return _Session(self, _Handler(self), data_size_limit=self.si["max_size"], hostname=self.si["hostname"],
                        tls_context=self.tls, require_starttls=require_tls,
                        auth_require_tls=self.si["require_tls"], authenticator=self._authenticate,
                        auth_exclude_mechanism=[], timeout=60)

    # -- the server thread ------------------------------------------------------------------
    def start(self):
        self._stopped = False
        self._ready.clear()
        self._error = None
        self._t = threading.Thread(target=self._run, name="smtp-ingress", daemon=True)
        self._t.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def alive(self):
        return self._t is not None and self._t.is_alive()

    def supervise(self):
        # called by the gateway every few seconds: a server thread that is gone starts again
        if self._stopped or self.alive():
            return False
        self.restarts += 1
        log.error("SMTP ingress thread is gone; starting it again (restart %d)", self.restarts)
        self.open_sessions.clear()
        self.per_client.clear()
        try:
            self.start()
        except OSError as e:
            log.error("SMTP ingress restart failed: %s", e)
        return True

    def _run(self):
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        loop.set_exception_handler(self._loop_error)
        try:
            self._server = loop.run_until_complete(
                loop.create_server(self._factory, host=self.si["listen"], port=self.si["port"] or self.port or 0))
            self.port = self._server.sockets[0].getsockname()[1]
        except OSError as e:
            self._error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            loop.run_until_complete(self._server.wait_closed())
            loop.close()

    def _loop_error(self, loop, context):
        # asyncio's last resort (e.g. accept() failing with EMFILE): one line, not a traceback
        # per connection
        exc = context.get("exception")
        if exc is None:
            log.debug("SMTP ingress: %s", context.get("message"))
            return
        self.step_error = "%s: %s" % (type(exc).__name__, exc)
        self.ingest.refuse("smtp", "loop-error", "%s: %s" % (context.get("message"), exc))

    def stop(self):
        self._stopped = True
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._t is not None:
            self._t.join(timeout=10)
