"""A real SMTP server on 127.0.0.1 for tests: aiosmtpd in a thread, with TLS, AUTH, BDAT and
failure hooks.

    with MailServer(tls="starttls", auth_users={"alice": "pw"}) as srv:
        ... connect a client to srv.host, srv.port, trusting srv.ca_pem for srv.hostname ...
        msg = srv.wait_for(1)[0]        # .mail_from, .rcpt_tos, .data (bytes as received, unstuffed)

tls: "none"; "implicit" (TLS from the first byte, like port 465); "starttls" (STARTTLS offered
and required before MAIL, like 587). AUTH PLAIN, LOGIN and XOAUTH2 (the token is checked like a
password against auth_users) are offered only when auth_users is given, and, by default
(auth_require_tls=True), only over TLS. chunking=True advertises CHUNKING and implements
BDAT (RFC 3030); PIPELINING is advertised when pipelining=True (default: same as chunking).

Hooks, settable at any time from the test thread; a list is consumed one reply per command
(None in it, or an exhausted list, means the normal reply):
    srv.rcpt_reply["bob@x"] = "550 5.1.1 no such user"
    srv.mail_reply = "451 4.3.0 try later"          srv.data_reply = ["452 4.3.1 full", None]
    srv.ehlo_reply = "502 5.5.1 no EHLO"            (clients must fall back to HELO)
    srv.delay = 0.5                                 (tarpit: seconds before every reply)
    srv.max_connections = 2                         (more open at once: 421 at the greeting)
    srv.down() / srv.up()                           (stop listening, drop connections / listen again, same port)
Records: srv.messages, srv.connections (per connection: .commands, .replies, .tls, .auth_user,
.messages), srv.wait_for(n, timeout=10).
"""
import asyncio
import base64
import email
import email.policy
import json
import socket
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, LoginPassword

from .certs import WithCA

TLS_MODES = ("none", "implicit", "starttls")
MECHANISMS = ("PLAIN", "LOGIN", "XOAUTH2")


class Message:
    """One accepted message, as the server saw it."""

    def __init__(self, mail_from, rcpt_tos, data, mail_options, rcpt_options, via, chunk_sizes,
                 connection):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data                    # bytes, CRLF line ends, dot-unstuffed (DATA) or verbatim (BDAT)
        self.mail_options = list(mail_options)
        self.rcpt_options = list(rcpt_options)
        self.via = via                      # "DATA" or "BDAT"
        self.chunk_sizes = list(chunk_sizes)  # BDAT chunk sizes, in order
        self.connection = connection
        self.auth_user = connection.auth_user if connection else None
        self.tls = connection.tls if connection else False

    def parsed(self):
        """The message parsed by CPython's email package (policy.default)."""
        return email.message_from_bytes(self.data, policy=email.policy.default)

    def __repr__(self):
        return "<Message from %r to %r, %d bytes via %s>" % (
            self.mail_from, self.rcpt_tos, len(self.data), self.via)


class Connection:
    """What happened on one client connection."""

    def __init__(self, peer, tls):
        self.peer = peer
        self.tls = tls                      # True from the start (implicit) or after STARTTLS
        self.commands = []                  # command lines as received (refused ones too); AUTH payloads redacted
        self.replies = []                   # every reply line sent, greeting included
        self.auth_user = None
        self.messages = []                  # Message objects accepted on this connection
        self.closed = False

    @property
    def verbs(self):
        """The command verbs in upper case, e.g. ["EHLO", "MAIL", "RCPT", "BDAT", "QUIT"]."""
        return [c.split(" ", 1)[0].upper() for c in self.commands]

    def __repr__(self):
        return "<Connection %r tls=%s commands=%r>" % (self.peer, self.tls, self.commands)


def _is_positive(reply):
    return reply is not None and reply[:1] == "2"


class _Handler:
    """aiosmtpd handler hooks: EHLO keywords, scripted replies, delivery."""

    def __init__(self, owner):
        self.owner = owner

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        forced = self.owner._next("ehlo_reply")
        if forced is not None:
            return [forced]
        lines = [r[4:] for r in responses]
        head, keywords = lines[0], lines[1:]
        keywords = [k for k in keywords if k.split(" ", 1)[0] != "AUTH"
                    or (self.owner.auth_users is not None and k.strip() != "AUTH")]
        if self.owner.pipelining:
            keywords.insert(0, "PIPELINING")
        if self.owner.chunking:
            keywords.insert(0, "CHUNKING")
        keywords.extend(self.owner.ehlo_extra)
        remove = set(k.upper() for k in self.owner.ehlo_remove)
        keywords = [k for k in keywords if k.split(" ", 1)[0].upper() not in remove]
        lines = [head] + keywords
        return ["250-" + l for l in lines[:-1]] + ["250 " + lines[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self.owner._next("mail_reply")
        if reply is not None and not _is_positive(reply):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return reply or "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.owner._rcpt_reply_for(address)
        if reply is not None and not _is_positive(reply):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return reply or "250 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.owner._next("data_reply")
        if reply is not None and not _is_positive(reply):
            return reply
        conn = server._conn
        msg = Message(envelope.mail_from, envelope.rcpt_tos, bytes(envelope.original_content),
                      envelope.mail_options, envelope.rcpt_options,
                      getattr(envelope, "via", "DATA"), getattr(envelope, "bdat_sizes", ()), conn)
        n = self.owner._deliver(msg)
        return reply or "250 OK queued as %d" % n


class _Server(SMTP):
    """aiosmtpd's SMTP with a command log, a tarpit, XOAUTH2 and (optionally) BDAT."""

    def __init__(self, handler, owner, **kwargs):
        self._owner = owner
        self._conn = None
        self._greeted = False
        self._in_auth = False
        super().__init__(handler, **kwargs)
        if not owner.chunking:
            self._smtp_methods.pop("BDAT", None)

    def _cb_client_connected(self, reader, writer):
        super()._cb_client_connected(reader, writer)
        # Log every command line as read, refused ones included. The command loop calls
        # readuntil() with the default separator; DATA lines and BDAT octets are read otherwise,
        # and answers to AUTH challenges are skipped: they stay out of the log.
        read_line = reader.readuntil

        async def readuntil(separator=b"\n"):
            line = await read_line(separator)
            if separator == b"\n" and self._conn is not None and not self._in_auth:
                text = line.rstrip(b"\r\n").decode("utf-8", "replace")
                if text[:5].upper() == "AUTH ":
                    parts = text.split()
                    text = " ".join(parts[:2]) + (" <redacted>" if len(parts) > 2 else "")
                self._conn.commands.append(text)
            return line

        reader.readuntil = readuntil

    async def challenge_auth(self, *args, **kwargs):
        # the client's answers to AUTH challenges are secrets: keep them out of the command log
        self._in_auth = True
        try:
            return await super().challenge_auth(*args, **kwargs)
        finally:
            self._in_auth = False

    def connection_made(self, transport):
        starttls_done = self._original_transport is not None
        super().connection_made(transport)
        if starttls_done:
            if self._conn is not None:
                self._conn.tls = True
        else:
            self._conn = Connection(self.session.peer, self._owner.tls == "implicit")
            self._owner._add_connection(self._conn)

    def connection_lost(self, error):
        if self._conn is not None:
            self._conn.closed = True
        super().connection_lost(error)

    async def push(self, status):
        delay = self._owner.delay
        if delay:
            await asyncio.sleep(delay)
        if not self._greeted:
            self._greeted = True
            if self._owner.greeting is not None:
                status = self._owner.greeting
            elif self._conn is not None and self._owner._too_many(self._conn):
                self._conn.refused = True
                status = "421 4.7.0 Too many concurrent connections"
        if self._conn is not None:
            self._conn.replies.append(status.decode("utf-8", "replace") if isinstance(status, bytes) else status)
        await super().push(status)

    async def smtp_DATA(self, arg):
        # RFC 3030: DATA and BDAT cannot be mixed in one transaction
        if getattr(self.envelope, "bdat_data", None) is not None:
            await self.push("503 5.5.1 Error: DATA not allowed after BDAT")
            return
        await super().smtp_DATA(arg)

    async def smtp_BDAT(self, arg):
        """BDAT <size> [LAST] (RFC 3030): exactly <size> octets follow the command line."""
        parts = (arg or "").split()
        if (not parts or len(parts) > 2 or not parts[0].isdigit()
                or (len(parts) == 2 and parts[1].upper() != "LAST")):
            await self.push("501 5.5.4 Syntax: BDAT <size> [LAST]")
            return
        size = int(parts[0])
        last = len(parts) == 2
        # the octets are read whatever the reply will be, so the command stream stays in step
        try:
            chunk = await self._reader.readexactly(size)
        except asyncio.IncompleteReadError:
            self.transport.close()
            return
        self._reset_timeout()
        if await self.check_helo_needed():
            return
        if await self.check_auth_needed("BDAT"):
            return
        env = self.envelope
        if not env.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        if getattr(env, "bdat_data", None) is None:
            env.bdat_data = bytearray()
            env.bdat_sizes = []
        env.bdat_data += chunk
        env.bdat_sizes.append(size)
        if self.data_size_limit and len(env.bdat_data) > self.data_size_limit:
            self._set_post_data_state()
            await self.push("552 5.3.4 Error: message size exceeds fixed maximum message size")
            return
        if not last:
            await self.push("250 2.0.0 %d octets received" % size)
            return
        env.content = env.original_content = bytes(env.bdat_data)
        env.via = "BDAT"
        status = await self._call_handler_hook("DATA")
        self._set_post_data_state()
        await self.push("250 OK" if status is MISSING else status)

    async def auth_XOAUTH2(self, _, args):
        """SASL XOAUTH2 (Gmail, Microsoft 365): base64("user=U^Aauth=Bearer T^A^A")."""
        if len(args) == 1:
            blob = await self.challenge_auth("")
            if blob is MISSING:
                return AuthResult(success=False, handled=True)
        else:
            try:
                blob = base64.b64decode(args[1], validate=True)
            except ValueError:
                await self.push("501 5.5.2 Can't decode base64")
                return AuthResult(success=False, handled=True)
        user = token = None
        for field in blob.split(b"\x01"):
            if field.startswith(b"user="):
                user = field[5:]
            elif field.startswith(b"auth=Bearer "):
                token = field[12:]
        if user is None or token is None or not blob.endswith(b"\x01\x01"):
            await self.push("501 5.5.2 Malformed XOAUTH2 response")
            return AuthResult(success=False, handled=True)
        result = self._authenticate("XOAUTH2", LoginPassword(user, token))
        if result.success:
            return result
        # as Gmail does: a base64 JSON error as a 334 challenge, the client answers with an
        # empty line, then the final 535
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"})
        answer = await self.challenge_auth(error)
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")


class _Controller(Controller):
    def __init__(self, owner, **kwargs):
        self._owner = owner
        super().__init__(owner._handler, hostname=owner.host, port=owner.port, **kwargs)

    def factory(self):
        return _Server(self.handler, self._owner, **self.SMTP_kwargs)

    def _trigger_server(self):
        # aiosmtpd connects once to make the server build its protocol object; learn the real
        # port first (we bind port 0) and remember the trigger so it is not listed as a client
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        with socket.create_connection((self.hostname, self.port), 5) as s:
            self._owner._trigger_ports.add(s.getsockname()[1])
            s.settimeout(1.0)
            if self.ssl_context:
                s = self._owner.ca.client_context().wrap_socket(s, server_hostname=self._owner.hostname)
            try:
                s.recv(1024)
            finally:
                s.close()


class MailServer(WithCA):
    """An SMTP server on 127.0.0.1 (see the module docstring). Use as a context manager."""

    def __init__(self, tls="none", auth_users=None, auth_required=False, chunking=False, ca=None,
                 hostname="localhost", *, auth_require_tls=True, auth_mechanisms=MECHANISMS,
                 pipelining=None, ehlo_extra=(), ehlo_remove=(), greeting=None,
                 data_size_limit=33554432, port=0, timeout=300):
        if tls not in TLS_MODES:
            raise ValueError("MailServer tls must be one of %s, not %r" % (", ".join(TLS_MODES), tls))
        unknown = set(auth_mechanisms) - set(MECHANISMS)
        if unknown:
            raise ValueError("MailServer auth_mechanisms: unknown %s" % ", ".join(sorted(unknown)))
        self.tls = tls
        self.auth_users = dict(auth_users) if auth_users is not None else None
        self.auth_required = auth_required
        self.auth_require_tls = auth_require_tls
        self.auth_mechanisms = tuple(auth_mechanisms)
        self.chunking = chunking
        self.pipelining = chunking if pipelining is None else pipelining
        self.ehlo_extra = list(ehlo_extra)
        self.ehlo_remove = list(ehlo_remove)
        self.greeting = greeting
        self.data_size_limit = data_size_limit
        self.timeout = timeout
        self.hostname = hostname
        self.host = "127.0.0.1"
        self.port = port
        self._ca = ca

        # hooks (see the module docstring)
        self.rcpt_reply = {}
        self.mail_reply = None
        self.data_reply = None
        self.ehlo_reply = None
        self.delay = 0
        self.max_connections = None         # more open at once are greeted with 421

        self.messages = []
        self._connections = []
        self._trigger_ports = set()
        self._cond = threading.Condition()
        self._handler = _Handler(self)
        self._controller = None

    # ---- life cycle

    @property
    def is_up(self):
        return self._controller is not None

    def up(self):
        """Start listening (again, on the same port after down())."""
        if self._controller is not None:
            return self
        kwargs = {
            "server_hostname": self.hostname,
            "ready_timeout": 30,
            "data_size_limit": self.data_size_limit,
            "timeout": self.timeout,
            "auth_required": self.auth_required,
            # with implicit TLS the whole connection is encrypted; aiosmtpd only knows STARTTLS
            "auth_require_tls": self.auth_require_tls and self.tls != "implicit",
            "authenticator": self._authenticate,
            "auth_exclude_mechanism": [m for m in MECHANISMS if m not in self.auth_mechanisms],
        }
        if self.tls == "implicit":
            kwargs["ssl_context"] = self.ca.server_context(self.hostname)
        elif self.tls == "starttls":
            kwargs["tls_context"] = self.ca.server_context(self.hostname)
            kwargs["require_starttls"] = True
        controller = _Controller(self, **kwargs)
        controller.start()
        self.port = controller.port
        self._controller = controller
        return self

    def down(self):
        """Stop listening and drop every open connection; up() listens again on the same port."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    start = up
    close = down

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.down()

    # ---- records

    @property
    def connections(self):
        """Client connections in the order they were made."""
        with self._cond:
            return [c for c in self._connections if c.peer[1] not in self._trigger_ports]

    def wait_for(self, n, timeout=10):
        """Wait until at least n messages were accepted; return the messages."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("MailServer accepted %d of %d messages in %s s" % (
                        len(self.messages), n, timeout))
                self._cond.wait(left)
            return list(self.messages)

    def clear(self):
        """Forget recorded messages and connections (hooks are kept)."""
        with self._cond:
            del self.messages[:]
            del self._connections[:]

    # ---- called from the server thread

    def _add_connection(self, conn):
        with self._cond:
            self._connections.append(conn)

    def _too_many(self, conn):
        with self._cond:
            if self.max_connections is None:
                return False
            live = [c for c in self._connections if not c.closed and not getattr(c, "refused", False)]
            return conn in live and live.index(conn) >= self.max_connections

    def _deliver(self, msg):
        with self._cond:
            self.messages.append(msg)
            if msg.connection is not None:
                msg.connection.messages.append(msg)
            self._cond.notify_all()
            return len(self.messages)

    def _next(self, name):
        with self._cond:
            value = getattr(self, name)
            if isinstance(value, list):
                return value.pop(0) if value else None
            return value

    def _rcpt_reply_for(self, address):
        with self._cond:
            value = self.rcpt_reply.get(address, self.rcpt_reply.get(address.lower()))
            if isinstance(value, list):
                return value.pop(0) if value else None
            return value

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = self.auth_users is not None and self.auth_users.get(login) == password
        if ok and server._conn is not None:
            server._conn.auth_user = login
        return AuthResult(success=ok, handled=False, auth_data=auth_data)
