# Fuzz targets shared by tests/host/test_fuzz.py (10,000 cases a run) and bench/fuzz_soak.py
# (as many as time allows, printing cases per second): hypothesis strategies for alert records,
# serial frames and SMTP command sequences, and in-process targets that run the gateway's own
# code on each case (the record decoder and Ingest.check, the serial ingress's line handler,
# the SMTP ingress's aiosmtpd session over an in-memory transport). Each target raises
# AssertionError when an invariant breaks; anything else it raises is a finding too.
import asyncio
import binascii
import json
import os
import tempfile

from hypothesis import strategies as st

from outpost_contract import record as alert_record
from outpost_contract import frame as serial_frame
from gateway_helpers import make_cfg
from outpost_gateway.clock import ManualClock
from outpost_gateway.ingest import Ingest
from outpost_gateway.metrics import Metrics
from outpost_gateway.serial_ingress import SerialIngress
from outpost_gateway.smtp_ingress import SmtpIngress
from outpost_gateway.spool import Spool

# ---- strategies -------------------------------------------------------------------------------

names = st.one_of(st.text("abcXYZ019._-", min_size=1, max_size=70), st.text(max_size=80))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40))
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=4),
                                                           st.dictionaries(st.text(max_size=10), kids, max_size=4)),
                           max_leaves=8)


@st.composite
def records(draw):
    # mostly near-valid records with some field broken, plus arbitrary JSON, deep nesting and
    # raw bytes (what is drawn depends on the kind first: drawing is most of a case's cost)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind == 1:
        depth = draw(st.integers(1, 3000))
        return (draw(st.sampled_from(["[", "{\"a\":"])) * depth).encode()
    if kind == 2:
        return json.dumps(draw(json_values)).encode()
    rec = {"v": draw(st.sampled_from([1, 1, 1, 2, "1", None])), "id": draw(names), "device": draw(names),
           "severity": draw(st.sampled_from(["info", "warning", "critical", "fatal", ""])),
           "kind": draw(st.one_of(st.just("threshold"), st.text(max_size=40))),
           "subject": draw(st.text(max_size=220))}
    extra = draw(st.sampled_from([(), ("ts",), ("body",), ("readings",), ("to",), ("state", "extra")]))
    for k in extra:
        rec[k] = draw(json_values)
    if draw(st.integers(0, 3)) == 0:
        rec.pop(draw(st.sampled_from(list(rec))), None)
    data = json.dumps(rec, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    if kind == 3 and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + draw(st.binary(max_size=4)) + data[i + 1:]
    return data


@st.composite
def frames(draw):
    # the kind first, then only what it uses: a raw line draws no record (drawing is most of a
    # case's cost)
    how = draw(st.integers(0, 5))
    if how == 0:
        return draw(st.binary(max_size=300))
    payload = draw(records())
    crc = b"%08x" % (binascii.crc32(payload) & 0xFFFFFFFF)
    if how == 1:
        crc = draw(st.binary(min_size=0, max_size=10))
    line = b"A1 " + crc + b" " + payload
    if how == 2:
        line = line.replace(b"\n", b"")
    end = draw(st.sampled_from([b"\n", b"\r\n", b"", b"\r"]))
    return line + end


VERBS = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "RSET", "NOOP", "QUIT", "AUTH", "VRFY", "HELP",
         "STARTTLS", "BDAT", "XYZZY"]
ADDRS = ["me@example.org", "a%b@example.org", '"x@evil.example"@example.org', "a!b@example.org",
         "x@evil.example", "<>", "me@EXAMPLE.ORG.", "@a,@b:me@example.org", "me@example.org SIZE=99999999",
         "b@lan.example", ""]


@st.composite
def smtp_sessions(draw):
    # a command sequence, with well-formed and broken arguments, then maybe a message
    out = []
    for _ in range(draw(st.integers(1, 10))):
        verb = draw(st.sampled_from(VERBS))
        if verb in ("MAIL", "RCPT"):
            arg = ("FROM:" if verb == "MAIL" else "TO:") + "<" + draw(st.sampled_from(ADDRS)) + ">"
            if draw(st.integers(0, 5)) == 0:
                arg = draw(st.text(max_size=60))
        elif verb == "AUTH":
            arg = draw(st.sampled_from(["PLAIN AGJvYXJkAHdyb25n", "PLAIN AGJvYXJkAGJvYXJkLXB3", "LOGIN",
                                        "PLAIN ====", "CRAM-MD5", ""]))
        else:
            arg = draw(st.text(max_size=30))
        line = (verb + (" " + arg if arg else "")).encode("utf-8", "surrogatepass") + b"\r\n"
        if draw(st.integers(0, 15)) == 0:
            line = draw(st.binary(max_size=80))
        out.append(line)
        if verb == "DATA" and draw(st.booleans()):
            head = draw(st.sampled_from([b"Subject: hi", b"Subject: a\rb", b"Subject: \x1b", b"X-Outpost-Device: dev ice",
                                         b"X-Outpost-Device: good", b"Message-ID: <good-1-1>", b""]))
            body = draw(st.binary(max_size=200)).replace(b"\r\n.\r\n", b"")
            out.append(head + b"\r\n\r\n" + body + b"\r\n.\r\n")
    return out


# ---- targets ----------------------------------------------------------------------------------

class Targets:
    def __init__(self):
        # the spool on tmpfs where there is one: a commit costs no disk flush
        base = "/dev/shm" if os.path.isdir("/dev/shm") else None
        self.dir = tempfile.mkdtemp(prefix="outpost-fuzz-", dir=base)
        import pathlib
        self.cfg = make_cfg(pathlib.Path(self.dir), gateway={"allowed_devices": []},
                            smtp_ingress={"enabled": True, "port": 0, "require_tls": False,
                                          "allow_networks": ["10.0.0.0/8"], "allowed_domains": ["example.org"],
                                          "accounts": [{"user": "board", "password": "board-pw"}]})
        self.spool = Spool(os.path.join(self.dir, "s.db"), ManualClock(), commit_batch=1000).open()
        self.spool.start_writer()
        self.metrics = Metrics()
        self.ingest = Ingest(self.cfg, self.spool, self.metrics, ManualClock())
        self.ingest.LOG_EVERY = 1e9
        self.serial = SerialIngress("loop://", self.cfg["serial"], self.ingest)
        self.smtp = SmtpIngress(self.cfg, self.ingest)
        self.loop = asyncio.new_event_loop()

    def close(self):
        self.loop.close()
        self.spool.close()

    # records: the shared decoder raises only RecordError, and what it returns round-trips;
    # the ingress check never needs its last-resort handler
    def record(self, data):
        try:
            rec = alert_record.decode(data)
        except alert_record.RecordError:
            rec = None
        if rec is not None:
            again = alert_record.decode(alert_record.encode(rec))
            assert again == rec, (rec, again)
        got, why = self.ingest.check(data, "mqtt", origin="fuzz")
        assert (got is None) != (why is None)
        assert self.metrics.refusals.get(("mqtt", "error"), 0) == 0, why

    # frames: parse() gives None, bytes or FrameError; the ingress handles every line itself
    def frame(self, line):
        try:
            p = serial_frame.parse(line)
            assert p is None or isinstance(p, bytes)
        except serial_frame.FrameError:
            pass
        self.serial._line(line)      # not _safe_line: an exception here is a finding

    # SMTP: the aiosmtpd session with the gateway's handler, over an in-memory transport
    def smtp_session(self, lines, peer="192.0.2.7"):
        return self.loop.run_until_complete(self._smtp(lines, peer))

    async def _smtp(self, lines, peer):
        t = _Transport(peer)
        s = self.smtp._factory()
        s.loop = self.loop
        t.protocol = s
        errors = self.smtp.session_errors
        self.smtp.auth_failed.clear()      # else the per-address AUTH delay grows across cases
        s.connection_made(t)
        for line in lines:
            if t.closed:
                break
            n = len(t.out)
            s.data_received(line)
            for _ in range(30):
                await asyncio.sleep(0)
            if line.endswith(b"\r\n.\r\n"):
                # a message: its answer waits for the spool commit in the writer thread
                for _ in range(2000):
                    if len(t.out) > n and t.out.endswith(b"\r\n") or t.closed:
                        break
                    await asyncio.sleep(0.001)
        if not t.closed:
            s.data_received(b"QUIT\r\n")
            for _ in range(10):
                await asyncio.sleep(0)
        if not t.lost:
            t.lost = True
            s.connection_lost(None)
        await asyncio.sleep(0)
        out = bytes(t.out)
        assert self.smtp.session_errors == errors, self.smtp.last_session_error
        for reply in out.split(b"\r\n"):
            if reply:
                assert reply[:3].isdigit() and reply[3:4] in (b" ", b"-"), out
                # never an open relay: this peer is neither on an allowed network nor, without
                # the right password, authenticated; it gets 530 at MAIL, never a queued message
        if b"235 " not in out:
            assert b"Queued as" not in out, out
        assert self.smtp.sessions == 0 and not self.smtp.per_client
        return out


class _Transport(asyncio.Transport):
    def __init__(self, peer):
        super().__init__()
        self.peer = peer
        self.out = bytearray()
        self.closed = False
        self.lost = False
        self.protocol = None

    def get_extra_info(self, name, default=None):
        return {"peername": (self.peer, 40000), "sockname": ("127.0.0.1", 2525)}.get(name, default)

    def write(self, data):
        if not self.closed:
            self.out += data

    def is_closing(self):
        return self.closed

    def close(self):
        if not self.closed:
            self.closed = True
            if not self.lost:
                self.lost = True
                asyncio.get_event_loop().call_soon(self.protocol.connection_lost, None)

    abort = close

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def get_write_buffer_size(self):
        return 0

    def set_write_buffer_limits(self, high=None, low=None):
        pass
