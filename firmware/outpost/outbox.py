# The outbox: a power-safe append-only journal of alerts on flash.
#
# Every entry is one frame:  0xA7 | type (1) | length (2, big-endian) | payload | CRC-32 (4)
# with the CRC over type, length and payload. Types:
#   A  add:     payload = the alert record (JSON); written before the first send attempt
#   D  done:    payload = id; the record reached a mail server (250) or the gateway (ACK/PUBACK)
#   X  dead:    payload = id + " " + reason; refused for good (5xx): not retried anywhere
#   P  dropped: payload = id; thrown out by the full-outbox policy
#   C  counters: payload = "dropped dead" totals, written at the head of a compacted journal
#   S  set aside: payload = id + " " + reason; the record crashed the board while being sent
#      (three times): kept, reported, never tried again on its own (no reset loop)
#
# Recovery reads frames from the start; a frame whose header, length or CRC is wrong is skipped
# one byte at a time until a good frame follows, so a cut (power loss mid-write) at any byte
# yields every complete frame and nothing corrupt. After such damage the journal is compacted.
#
# Flash wear: one append per alert (A), one per outcome (D/X); drops ride in the same append as
# the A that caused them. Compaction rewrites only pending records, when the file passes
# compact_at bytes, into a temporary file renamed over the journal.
#
# Full policy (pending payload bytes above max_bytes): drop the oldest record of the lowest
# severity present (info first, then warning, then critical); when the incoming record itself is
# of lower severity than everything pending, it is the one refused. Every drop is logged and
# counted (the count survives resets and compaction, and goes into the next report).
import json
import os

from outpost_contract.rules import severity_rank

try:
    from binascii import crc32
except ImportError:  # a port built without it
    crc32 = None

MAGIC = 0xA7


def _crc(data):
    if crc32 is not None:
        return crc32(data) & 0xFFFFFFFF
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (0xEDB88320 if c & 1 else 0)
    return c ^ 0xFFFFFFFF


def frame(kind, payload):
    if len(payload) > 0xFFFF:
        raise ValueError("outbox: record of " + str(len(payload)) + " bytes is too large")
    head = bytes((ord(kind), len(payload) >> 8, len(payload) & 0xFF))
    c = _crc(head + payload)
    return bytes((MAGIC,)) + head + payload + bytes(((c >> 24) & 0xFF, (c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF))


def scan(data):
    # -> (list of (kind, payload), skipped byte count)
    import io
    skipped = [0]
    out = list(frames(io.BytesIO(data), skipped))
    return out, skipped[0]


BLOCK = 512


def frames(f, skipped):
    """Yields (kind, payload) for each complete frame read from the file `f`, a block at a
    time: the heap holds one frame and a block, never the whole journal (at boot, beside the
    app, a journal near compact_at did not fit). skipped[0] counts the bytes skipped."""
    buf = b""
    pos = 0
    eof = False
    while True:
        if pos > BLOCK:
            buf = buf[pos:]
            pos = 0
        if len(buf) - pos < 8 and not eof:
            more = f.read(BLOCK)
            if more:
                buf += more
            else:
                eof = True
            continue
        if pos >= len(buf):
            return
        if buf[pos] == MAGIC and len(buf) - pos >= 8:
            ln = (buf[pos + 2] << 8) | buf[pos + 3]
            need = 8 + ln
            while len(buf) - pos < need and not eof:
                more = f.read(max(BLOCK, need - (len(buf) - pos)))
                if more:
                    buf += more
                else:
                    eof = True
            if len(buf) - pos >= need:
                end = pos + 4 + ln
                c = (buf[end] << 24) | (buf[end + 1] << 16) | (buf[end + 2] << 8) | buf[end + 3]
                if c == _crc(buf[pos + 1:end]) and chr(buf[pos + 1]) in "ADXPCS":
                    yield chr(buf[pos + 1]), buf[pos + 4:end]
                    pos += need
                    continue
        pos += 1
        skipped[0] += 1


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _meta(payload):
    # (id, severity) of a journalled record
    from outpost_contract import record as alert_record
    try:
        # flash can be corrupt: nesting is bounded before parsing (alert_record.check_depth)
        alert_record.check_depth(payload if isinstance(payload, str) else str(payload, "utf-8"))
        rec = json.loads(payload)
        rid = rec["id"]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError("outbox: record is not JSON with an id")
    if not isinstance(rid, str) or not rid:
        raise ValueError("outbox: record id must be a non-empty string")
    return rid, rec.get("severity", "warning")


class Outbox:
    def __init__(self, path, max_bytes=24576, compact_at=49152, log=None):
        self.path = path
        self.max_bytes = max_bytes
        self.compact_at = compact_at
        self.log = log or (lambda msg: None)
        self.items = []       # [id, severity, payload] oldest first
        self.dropped = 0
        self.dead = 0
        self.size = 0         # journal bytes on flash
        self.writes = 0       # appends + compactions since open (flash wear figure)

    # --- recovery ---------------------------------------------------------------------

    def open(self):
        tmp = self.path + ".tmp"
        if not _exists(self.path) and _exists(tmp):
            os.rename(tmp, self.path)  # a compaction was cut between remove and rename
        elif _exists(tmp):
            os.remove(tmp)             # a compaction was cut before its rename
        items = []
        skipped = [0]
        try:
            f = open(self.path, "rb")
        except OSError:
            f = None
        if f is not None:
            with f:
                for kind, payload in frames(f, skipped):
                    self._replay(items, kind, payload)
            self.size = os.stat(self.path)[6]
        self.items = items
        skipped = skipped[0]
        if skipped:
            self.log("outbox: journal damaged (" + str(skipped) + " bytes skipped), " +
                     str(len(items)) + " records recovered")
            self.compact()
        return skipped

    def _replay(self, items, kind, payload):
        # one journal frame applied to the records recovered so far
        if kind == "A":
            try:
                rid, sev = _meta(payload)
            except ValueError:
                return
            for it in items:
                if it[0] == rid:
                    break
            else:
                items.append([rid, sev, payload])
        elif kind == "S":
            rid, _, why = payload.decode().partition(" ")
            for it in items:
                if it[0] == rid and len(it) == 3:
                    it.append(why)
        elif kind == "C":
            parts = payload.split()
            self.dropped = int(parts[0])
            self.dead = int(parts[1])
        else:
            rid = payload.decode().split(" ")[0]
            if kind == "P":
                self.dropped += 1
            elif kind == "X":
                self.dead += 1
            for i in range(len(items)):
                if items[i][0] == rid:
                    del items[i]
                    break

    # --- writing ----------------------------------------------------------------------

    def _append(self, data):
        with open(self.path, "ab") as f:
            f.write(data)
        self.size += len(data)
        self.writes += 1
        if self.size > self.compact_at:
            self.compact()

    def compact(self):
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            fr = frame("C", (str(self.dropped) + " " + str(self.dead)).encode())
            f.write(fr)
            size = len(fr)
            for it in self.items:
                fr = frame("A", it[2])
                if len(it) > 3:
                    fr += frame("S", (it[0] + " " + it[3]).encode())
                f.write(fr)
                size += len(fr)
        try:
            os.rename(tmp, self.path)
        except OSError:  # FAT cannot rename over a file; open() handles a cut here
            os.remove(self.path)
            os.rename(tmp, self.path)
        self.size = size
        self.writes += 1

    def pending_bytes(self):
        n = 0
        for it in self.items:
            n += len(it[2])
        return n

    def has(self, rid):
        for it in self.items:
            if it[0] == rid:
                return True
        return False

    def add(self, payload):
        """Journal a record before its first send attempt. Returns the ids dropped to make
        room (possibly the new record's own id, when the policy refuses it)."""
        rid, sev = _meta(payload)
        if self.has(rid):
            return []
        if len(payload) > self.max_bytes:
            self.dropped += 1
            self.log("outbox: DROPPED " + rid + " (" + str(len(payload)) + " bytes, larger than the outbox)")
            self._append(frame("P", rid.encode()))
            return [rid]
        items = self.items + [[rid, sev, payload]]
        total = self.pending_bytes() + len(payload)
        dropped = []
        while total > self.max_bytes:
            victim = None
            for it in items:
                if len(it) > 3:
                    continue    # set aside: kept for the owner to see, never dropped
                if victim is None or severity_rank(it[1]) < severity_rank(victim[1]):
                    victim = it
            if victim is None:
                break
            # strict "<": among equal severity the oldest goes; the newcomer (last) goes only
            # when it is below everything pending
            items.remove(victim)
            total -= len(victim[2])
            dropped.append(victim[0])
        out = b""
        for d in dropped:
            self.dropped += 1
            self.log("outbox: full, DROPPED " + d + " (" + str(self.dropped) + " dropped so far)")
            if d != rid:
                out += frame("P", d.encode())
        if rid in dropped:
            out += frame("P", rid.encode())
        else:
            out += frame("A", payload)
        self.items = items
        self._append(out)
        return dropped

    def done(self, rid):
        if not self.has(rid):
            return
        self.items = [it for it in self.items if it[0] != rid]
        self._append(frame("D", rid.encode()))

    def fail(self, rid, reason):
        # refused for good (5xx): out of the queue, counted, reason kept in the journal
        if not self.has(rid):
            return
        self.items = [it for it in self.items if it[0] != rid]
        self.dead += 1
        self._append(frame("X", (rid + " " + reason[:200]).encode()))

    def set_aside(self, rid, reason):
        # kept in the journal and counted, but no longer tried: it crashed the board
        for it in self.items:
            if it[0] == rid and len(it) == 3:
                it.append(reason[:200])
                self._append(frame("S", (rid + " " + it[3]).encode()))
                self.log("outbox: SET ASIDE " + rid + " (" + it[3] + ")")

    def aside(self):
        # [(id, reason)] of the records set aside
        return [(it[0], it[3]) for it in self.items if len(it) > 3]

    def aside_records(self):
        # [(id, payload, reason)] of the records set aside: they still go, in a plain form
        return [(it[0], it[2], it[3]) for it in self.items if len(it) > 3]

    def pending(self, last=()):
        # oldest first, critical before the rest; ids in `last` after all others; never the
        # records set aside
        out = []
        for tail in (False, True):
            for rank in (2, 1, 0):
                for it in self.items:
                    if len(it) == 3 and severity_rank(it[1]) == rank and (it[0] in last) == tail:
                        out.append((it[0], it[1], it[2]))
        return out

    def __len__(self):
        return len(self.items)
