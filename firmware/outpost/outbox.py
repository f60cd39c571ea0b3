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
#
# What stays in the heap is this module: the records in RAM and the queries on them. Reading
# the journal (outbox_read.py) loads at boot and goes after; writing it (outbox_write.py) loads
# for each write and goes after, so a quiet wake holds neither.
import json
import os

from outpost import unload

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
    from outpost.outbox_read import scan as f
    return f(data)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _meta(payload):
    # (id, severity) of a journalled record
    try:
        # flash can be corrupt: nesting is bounded before parsing (record.check_depth); a
        # record with few brackets cannot nest deep, and is read without loading the codec
        o, c = ("{", "[") if isinstance(payload, str) else (b"{", b"[")
        if payload.count(o) + payload.count(c) > 8:     # record.MAX_DEPTH
            from outpost_contract import record as alert_record
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
            from outpost import outbox_read     # at boot only: it leaves the heap after
            with f:
                for kind, payload in outbox_read.frames(f, skipped):
                    outbox_read.replay(self, items, kind, payload)
            self.size = os.stat(self.path)[6]
            outbox_read = None
            unload("outpost.outbox_read")
        self.items = items
        skipped = skipped[0]
        if skipped:
            self.log("outbox: journal damaged (" + str(skipped) + " bytes skipped), " +
                     str(len(items)) + " records recovered")
            self.compact()
        return skipped

    # --- writing (outpost/outbox_write.py: loaded for each write and unloaded after it) --

    def _write(self, name, *args):
        from outpost import outbox_write
        try:
            return getattr(outbox_write, name)(self, *args)
        finally:
            outbox_write = None
            unload("outpost.outbox_write")

    def compact(self):
        self._write("compact")

    def has(self, rid):
        for it in self.items:
            if it[0] == rid:
                return True
        return False

    def add(self, payload):
        """Journal a record before its first send attempt. Returns the ids dropped to make
        room (possibly the new record's own id, when the policy refuses it)."""
        return self._write("add", payload)

    def done(self, rid):
        self._write("done", rid)

    def fail(self, rid, reason):
        # refused for good (5xx): out of the queue, counted, reason kept in the journal
        self._write("fail", rid, reason)

    def set_aside(self, rid, reason):
        # kept in the journal and counted, but no longer tried: it crashed the board
        self._write("set_aside", rid, reason)

    def aside(self):
        # [(id, reason)] of the records set aside
        return [(it[0], it[3]) for it in self.items if len(it) > 3]

    def aside_records(self):
        # [(id, payload, reason)] of the records set aside: they still go, in a plain form
        return [(it[0], it[2], it[3]) for it in self.items if len(it) > 3]

    def pending(self, last=()):
        # oldest first, critical before the rest; ids in `last` after all others; never the
        # records set aside
        from outpost_contract.rules import severity_rank    # when sending: a quiet wake never asks
        out = []
        for tail in (False, True):
            for rank in (2, 1, 0):
                for it in self.items:
                    if len(it) == 3 and severity_rank(it[1]) == rank and (it[0] in last) == tail:
                        out.append((it[0], it[1], it[2]))
        return out

    def __len__(self):
        return len(self.items)
