# Serial frames v1 between a board and the gateway (DESIGN.md "Contracts"), one line each:
#   board -> gateway   A1 <crc32 as 8 lower-case hex> <alert record JSON>\n
#   gateway -> board   ACK <id>\n   after the spool commit
#                      NAK <id> <reason>\n   (<id> is "-" when the frame could not be read)
# Any other line is boot chatter or the REPL and is ignored (parse returns None).
# A change to this format is a VERSION bump (the "A1" prefix) plus a test.
import binascii
import json

from outpost_contract.rules import MAX_ID, token_problem

VERSION = 1
PREFIX = b"A1 "
MAX_LINE = 32768 + 16       # a full alert record plus "A1 ", the CRC, spaces and "\n"
MAX_REASON = 120
_HEX = b"0123456789abcdef"


class FrameError(ValueError):
    # .id: the alert id when it could still be read from the frame, else None; .reason: a short
    # word for the NAK (crc, malformed, not-utf8, too-long)
    def __init__(self, reason, id=None, detail=""):
        msg = "serial frame: " + reason
        if detail:
            msg += " (" + detail + ")"
        if id is not None:
            msg += " for id " + id
        super().__init__(msg)
        self.reason = reason
        self.id = id


def _bytes(line):
    if isinstance(line, str):
        return line.encode()
    if isinstance(line, (bytes, bytearray, memoryview)):
        return bytes(line)
    raise TypeError("frame line must be bytes or str, not " + type(line).__name__)


def _crc(data):
    return b"%08x" % (binascii.crc32(data) & 0xFFFFFFFF)


def _valid_id(i):
    # i: bytes; the alert id rule (outpost_contract.rules.token_problem)
    try:
        i = str(i, "ascii")
    except (UnicodeError, ValueError):
        return False
    return token_problem(i, MAX_ID) is None


def _strip_eol(line):
    if line.endswith(b"\n"):
        line = line[:-1]
    if line.endswith(b"\r"):
        line = line[:-1]
    return line


def encode(record_json):
    data = _bytes(record_json)
    if b"\n" in data or b"\r" in data:
        raise ValueError("serial frame: the record JSON must be one line")
    if not data.startswith(b"{"):
        raise ValueError("serial frame: the payload must be a JSON object")
    if len(data) + 13 > MAX_LINE:
        raise ValueError("serial frame: record of " + str(len(data)) + " bytes is too long")
    return PREFIX + _crc(data) + b" " + data + b"\n"


def _readable_id(payload):
    # best effort, for the NAK: the id from a frame that failed its check, if it still parses
    try:
        rec = json.loads(str(payload, "utf-8"))
        rid = rec.get("id")
        if isinstance(rid, str) and _valid_id(rid.encode()):
            return rid
    except Exception:  # any garbage: no id
        pass
    return None


def parse(line):
    # -> the record JSON bytes (CRC checked, not yet decoded); None when not a frame
    line = _bytes(line)
    if not line.startswith(PREFIX):
        return None
    if len(line) > MAX_LINE:
        raise FrameError("too-long", None, str(len(line)) + " bytes")
    line = _strip_eol(line)
    crc = line[3:11]
    payload = line[12:]
    if len(line) < 13 or line[11:12] != b" " or len(crc) != 8:
        raise FrameError("malformed", None, "expected A1 <crc> <json>")
    for c in crc:
        if c not in _HEX:
            raise FrameError("malformed", _readable_id(payload), "CRC is not 8 lower-case hex digits")
    if _crc(payload) != crc:
        raise FrameError("crc", _readable_id(payload), "CRC mismatch")
    try:
        str(payload, "utf-8")
    except (UnicodeError, ValueError):
        raise FrameError("not-utf8", None)
    return payload


def ack(id):
    return b"ACK " + _id_bytes(id) + b"\n"


def nak(id, reason):
    reason = _bytes(reason).replace(b"\r", b" ").replace(b"\n", b" ").strip()[:MAX_REASON]
    if not reason:
        reason = b"error"
    return b"NAK " + (_id_bytes(id) if id is not None else b"-") + b" " + reason + b"\n"


def _id_bytes(id):
    if id is None:
        raise ValueError("serial frame: ACK needs an id")
    b = _bytes(id)
    if not _valid_id(b):
        raise ValueError("serial frame: invalid id " + repr(id))
    return b


def parse_reply(line):
    # -> ("ACK", id) | ("NAK", id or None, reason) | None for any other line
    line = _strip_eol(_bytes(line))
    try:
        text = str(line, "utf-8")
    except (UnicodeError, ValueError):
        return None
    if text.startswith("ACK "):
        rid = text[4:]
        if _valid_id(rid.encode()):
            return ("ACK", rid)
        return None
    if text.startswith("NAK "):
        rid, _, reason = text[4:].partition(" ")
        if rid == "-":
            return ("NAK", None, reason)
        if _valid_id(rid.encode()):
            return ("NAK", rid, reason)
    return None
