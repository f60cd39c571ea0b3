# Loaded by bench/usmtp_heap.mjs into the 32-bit MicroPython VM (WebAssembly port): the one
# message the firmware's SMTP step sends (firmware/outpost/sendwake.py -> smtp_path.send_now),
# an alert composed with outpost_contract.mail and usmtp's writer, the writer, the mail module
# and usmtp unloaded, then the alert sent over STARTTLS + AUTH PLAIN (deferred, as the
# firmware does) with its body streamed. The VM has no socket or ssl module, so a scripted
# server stands behind a socket-shaped object and a stand-in `ssl` module wraps nothing; both
# exist before the baseline is read, so what is measured is what usmtp loads and keeps.
# Each function is one call from the JS side: the WebAssembly port reclaims memory only between
# calls into the VM, so gc.mem_alloc() is read in a call of its own.
import gc
import sys

EHLO = (b"250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n"
        b"250-ENHANCEDSTATUSCODES\r\n")


class Server:
    # a socket-shaped peer with MicroPython's socket methods (write, readline, settimeout):
    # it answers each command line as a STARTTLS + AUTH submission server does
    def __init__(self, chunking=False):
        self.chunking = chunking
        self.out = b"220 mx.example.org ESMTP\r\n"
        self.buf = b""
        self.tls = False
        self.data = False
        self.bdat = 0
        self.got = 0

    def settimeout(self, t):
        pass

    def getsockname(self):
        return ("192.0.2.7", 40000)

    def close(self):
        pass

    def _ehlo(self):
        e = EHLO
        if self.chunking:
            e += b"250-CHUNKING\r\n"
        if self.tls:
            return e + b"250 AUTH PLAIN LOGIN\r\n"
        return e + b"250 STARTTLS\r\n"

    def write(self, b):
        self.buf += bytes(b)
        while True:
            if self.bdat:
                n = min(self.bdat, len(self.buf))
                self.got += n
                self.buf = self.buf[n:]
                self.bdat -= n
                if self.bdat:
                    return len(b)
                self.out += b"250 2.0.0 chunk\r\n"
            nl = self.buf.find(b"\n")
            if nl < 0:
                return len(b)
            line = self.buf[:nl + 1]
            self.buf = self.buf[nl + 1:]
            self._line(line)

    def _line(self, line):
        if self.data:
            self.got += len(line)
            if line == b".\r\n":
                self.data = False
                self.out += b"250 2.0.0 queued as 1\r\n"
            return
        verb = line[:4].upper()
        if verb == b"EHLO":
            self.out += self._ehlo()
        elif verb == b"STAR":
            self.out += b"220 2.0.0 go ahead\r\n"
        elif verb == b"AUTH":
            self.out += b"235 2.7.0 ok\r\n"
        elif verb == b"MAIL" or verb == b"RCPT" or verb == b"RSET" or verb == b"NOOP":
            self.out += b"250 2.1.0 ok\r\n"
        elif verb == b"DATA":
            self.data = True
            self.out += b"354 go\r\n"
        elif verb == b"BDAT":
            self.bdat = int(line.split()[1])
        elif verb == b"QUIT":
            self.out += b"221 2.0.0 bye\r\n"
        else:
            self.out += b"500 5.5.1 what\r\n"

    def readline(self, n=-1):
        nl = self.out.find(b"\n")
        line = self.out[:nl + 1] if nl >= 0 else self.out
        self.out = self.out[len(line):]
        return line


class _Ctx:
    # the stand-in ssl module's context: the handshake "succeeds" on the same socket (the VM
    # has no TLS); what usmtp does to build and use a context still runs
    verify_mode = 0

    def __init__(self, proto=None):
        pass

    def load_verify_locations(self, cadata=None):
        pass

    def wrap_socket(self, sock, server_hostname=None):
        sock.tls = True
        return sock


class _Ssl:
    PROTOCOL_TLS_CLIENT = 2
    CERT_NONE = 0
    CERT_REQUIRED = 2
    SSLContext = _Ctx


# a CA as the firmware holds it (PEM text); its bytes are never checked by the stand-in
CA = (b"-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUKYfXq0h8gVQ5lK0yq8Qm3v0sCdYwCgYIKoZIzj0E"
      b"AwIw\n-----END CERTIFICATE-----\n")
REC = {"v": 1, "id": "shed1-3-7", "device": "shed1", "severity": "critical",
       "kind": "threshold", "subject": "freezer at -4.5 C", "ts": 1796000000,
       "body": "The freezer is warming up.\n",
       "readings": {"freezer": {"value": -4.5, "unit": "C"}}}
state = {}


def setup(chunking):
    sys.modules["ssl"] = _Ssl
    state["server"] = Server(chunking)
    state["mods"] = set(sys.modules)
    # boot has loaded the shared rules already (record, config): not the SMTP step's to pay
    import outpost_contract.rules  # noqa: F401
    import outpost_contract.record  # noqa: F401
    state["base_mods"] = set(sys.modules)


def heap():
    gc.collect()
    return gc.mem_alloc()


def compose(client_first=False):
    # what the SMTP step does (sendwake.step -> smtp_path.send_now): the message written with
    # the writer, the client not loaded yet. client_first: the client imported before, and kept
    # with the writer through the send (what a caller pays that composes and sends at once)
    if client_first:
        import usmtp
        usmtp.SMTP
    from outpost_contract import mail
    m = mail.message(REC, "Shed board <shed1@example.org>", ["ops@example.org"])
    parts = []
    for c in m.chunks():
        parts.append(c)
    state["msg"] = b"".join(parts)
    state["rcpts"] = m.recipients()
    state["seen"] = set(sys.modules)


def stored():
    # a message composed earlier (an earlier wake wrote it to flash): the send alone
    state["msg"] = (b"From: shed1@example.org\r\nTo: ops@example.org\r\nSubject: shed1: freezer"
                    b"\r\n\r\nThe freezer is warming up.\r\n") * 4
    state["rcpts"] = ["ops@example.org"]


def unload_step():
    # what smtp_path.send_now does in the SMTP step before it connects (outpost.unload): the
    # writer, the mail module and every usmtp module go; the client loads into the heap they
    # leave (their interned names stay, as on a board). outpost_contract.rules stays: the
    # baseline holds it
    for name in list(sys.modules):
        if name == "usmtp" or name.startswith("usmtp.") or name == "outpost_contract.mail":
            del sys.modules[name]
    try:
        delattr(sys.modules["outpost_contract"], "mail")
    except (AttributeError, KeyError):
        pass


def body():
    msg = state["msg"]
    for i in range(0, len(msg), 256):
        yield msg[i:i + 256]


def send():
    import usmtp
    s = usmtp.SMTP(mode="starttls", cadata=CA, server_hostname="mx.example.org", timeout=5)
    s.connect_socket(state["server"], "mx.example.org")
    s.login("shed1", "s3cret", defer=True)
    refused = s.sendmail("shed1@example.org", state["rcpts"], body())
    s.quit()
    s.close()
    state["refused"] = refused
    state["sent"] = state["server"].got


def loaded():
    # the modules the SMTP step loaded, composing or sending (not the baseline's)
    mods = set(sys.modules) | state.get("seen", set())
    return ",".join(sorted([m for m in mods if m not in state["base_mods"]]))


def result():
    return "%s %d" % (state.get("refused"), state.get("sent", 0))


def clear():
    state.pop("msg", None)
    state.pop("server", None)


def version():
    return ".".join([str(x) for x in sys.implementation.version[:3]])
