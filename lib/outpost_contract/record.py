# Alert record v1: the one JSON object that carries an alert from board to gateway to inbox
# (DESIGN.md "Contracts").  Used on both sides, so it runs on MicroPython: json module only.
#
# encode(dict) -> compact one-line UTF-8 JSON, known keys in a fixed order (same bytes on both
# runtimes, whatever the dict order).  decode(bytes|str) -> dict of the known keys.  Unknown
# keys are ignored (dropped); a missing or malformed known key raises RecordError naming it.
# A change to this format is a VERSION bump plus a test.
import json

from outpost_contract.rules import MAX_DEVICE, MAX_ID, SEVERITIES

VERSION = 1
MAX_BYTES = 32768           # the whole encoded record
MAX_KIND = 32
MAX_SUBJECT = 200
MAX_BODY = 16384            # UTF-8 bytes
MAX_READING_NAME = 64
MAX_UNIT = 16
MAX_TO = 32
MAX_DEPTH = 8               # JSON nesting; a valid record needs 3 ({readings: {name: {...}}})
KEYS = ("v", "id", "device", "severity", "kind", "subject", "ts", "body", "readings", "to",
        "state", "closes", "repeats")
STATES = ("firing", "resolved")   # an episode opens (and repeats) firing, and closes resolved
REQUIRED = ("v", "id", "device", "severity", "kind", "subject")


class RecordError(ValueError):
    def __init__(self, key, problem):
        super().__init__("alert record: " + repr(key) + " " + problem)
        self.key = key
        self.problem = problem


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v):
    if _is_int(v):
        return True
    # NaN and infinities have no JSON form
    return isinstance(v, float) and v == v and v - v == 0.0


def _check_name(key, v, limit):
    from outpost_contract.rules import token_problem     # loads usmtp.checks on first use
    p = token_problem(v, limit)
    if p:
        raise RecordError(key, p)


def validate_name(key, v, limit=MAX_DEVICE):
    # a device name (or id, limit MAX_ID) that came from outside a record: a topic, a frame
    _check_name(key, v, limit)


def _utf8_len(key, v):
    try:
        return len(v.encode())
    except UnicodeError:    # a lone surrogate from a "\ud800" escape
        raise RecordError(key, "is not valid Unicode text")


def _check_line(key, v, limit):
    if not isinstance(v, str):
        raise RecordError(key, "must be a string")
    _utf8_len(key, v)
    if len(v) > limit:
        raise RecordError(key, "must be at most " + str(limit) + " characters")
    for c in v:
        # no line breaks, and no control characters (VT, FF, ESC...) in what becomes header text
        if (c < " " and c != "\t") or c == "\x7f":
            raise RecordError(key, "must be one line of text (no CR, LF, NUL or control "
                              "characters; found " + repr(c) + ")")


def _check_address(key, a):
    from outpost_contract.rules import address_problem
    p = address_problem(a)
    if p:
        raise RecordError(key, "holds an invalid address " + repr(a) + ": " + p)


def validate(rec):
    # raises RecordError naming the first bad key; returns a new dict of the known keys
    if not isinstance(rec, dict):
        raise RecordError("record", "must be a JSON object")
    for k in REQUIRED:
        if k not in rec:
            raise RecordError(k, "is required")
    v = rec["v"]
    if not _is_int(v) or v != VERSION:
        raise RecordError("v", "must be " + str(VERSION) + " (got " + repr(v) + ")")
    _check_name("id", rec["id"], MAX_ID)
    _check_name("device", rec["device"], MAX_DEVICE)
    if rec["severity"] not in SEVERITIES:
        raise RecordError("severity", "must be one of " + ", ".join(SEVERITIES))
    kind = rec["kind"]
    _check_line("kind", kind, MAX_KIND)
    if not kind:
        raise RecordError("kind", "must not be empty")
    _check_line("subject", rec["subject"], MAX_SUBJECT)
    out = {}
    for k in REQUIRED:
        out[k] = rec[k]
    ts = rec.get("ts")
    if ts is not None:
        if not _is_int(ts) or ts < 0:
            raise RecordError("ts", "must be a whole number of UTC seconds >= 0")
        out["ts"] = ts
    body = rec.get("body")
    if body is not None:
        if not isinstance(body, str):
            raise RecordError("body", "must be a string")
        if len(body) > MAX_BODY or _utf8_len("body", body) > MAX_BODY:
            raise RecordError("body", "must be at most " + str(MAX_BODY) + " bytes")
        out["body"] = body
    readings = rec.get("readings")
    if readings is not None:
        out["readings"] = _check_readings(readings)
    to = rec.get("to")
    if to is not None:
        if not isinstance(to, list) or len(to) > MAX_TO:
            raise RecordError("to", "must be a list of at most " + str(MAX_TO) + " addresses")
        for a in to:
            _check_address("to", a)
        out["to"] = list(to)
    state = rec.get("state")
    if state is not None:
        # absent means firing: a v1 record from before episodes reads as it always did
        if state not in STATES:
            raise RecordError("state", "must be one of " + ", ".join(STATES))
        out["state"] = state
    closes = rec.get("closes")
    if closes is not None:
        _check_name("closes", closes, MAX_ID)
        if state != "resolved":
            raise RecordError("closes", "belongs to a record whose state is resolved")
        out["closes"] = closes
    elif state == "resolved":
        raise RecordError("closes", "is required when state is resolved (the id it closes)")
    # a reminder names the firing it repeats, so its mail threads under it (optional: a reader
    # that does not know it ignores it, as v1 ignores every unknown key)
    repeats = rec.get("repeats")
    if repeats is not None:
        _check_name("repeats", repeats, MAX_ID)
        if state == "resolved":
            raise RecordError("repeats", "belongs to a firing record (a reminder), not a resolved one")
        out["repeats"] = repeats
    return out


def state_of(rec):
    # firing unless it says otherwise
    return rec.get("state") or "firing"


def _check_readings(readings):
    if not isinstance(readings, dict):
        raise RecordError("readings", "must be an object {name: {\"value\": number, \"unit\": text}}")
    out = {}
    for name in readings:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_READING_NAME:
            raise RecordError("readings", "names must be 1 to " + str(MAX_READING_NAME) + " characters")
        r = readings[name]
        where = "readings." + name
        if not isinstance(r, dict) or "value" not in r:
            raise RecordError(where, "must be an object with a \"value\"")
        if not _is_number(r["value"]):
            raise RecordError(where + ".value", "must be a finite number")
        one = {"value": r["value"]}
        if "unit" in r:
            _check_line(where + ".unit", r["unit"], MAX_UNIT)
            one["unit"] = r["unit"]
        out[name] = one
    return out


_dumps = None


def _dump_str(v):
    # non-ASCII written as UTF-8 on both runtimes (CPython's default escapes it, MicroPython's
    # json has no ensure_ascii and never escapes it), so one record is the same bytes everywhere
    global _dumps
    if _dumps is None:
        try:
            json.dumps("", ensure_ascii=False)
            _dumps = _dumps_utf8
        except TypeError:
            _dumps = json.dumps
    return _dumps(v)


def _dumps_utf8(v):
    return json.dumps(v, ensure_ascii=False)


def _dump(v):
    if isinstance(v, dict):
        # sorted so both runtimes write the same bytes (MicroPython dicts are unordered)
        parts = []
        for k in sorted(v):
            parts.append(_dump_str(k) + ":" + _dump(v[k]))
        return "{" + ",".join(parts) + "}"
    if isinstance(v, list):
        return "[" + ",".join([_dump(x) for x in v]) + "]"
    if isinstance(v, str):
        return _dump_str(v)
    return json.dumps(v)


def encode(rec):
    rec = validate(rec)
    parts = []
    for k in KEYS:
        if k in rec:
            parts.append(json.dumps(k) + ":" + _dump(rec[k]))
    data = ("{" + ",".join(parts) + "}").encode()
    if len(data) > MAX_BYTES:
        raise RecordError("record", "encodes to " + str(len(data)) + " bytes, over " + str(MAX_BYTES))
    return data


def check_depth(text):
    # refuse deep nesting BEFORE json.loads: a parser recursing into "[[[[..." runs out of stack
    # (RecursionError on CPython, RuntimeError on MicroPython), which no ValueError handler sees
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    in_str = False
    esc = False
    for c in text:
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c == "[" or c == "{":
            depth += 1
            if depth > MAX_DEPTH:
                raise RecordError("record", "nests deeper than " + str(MAX_DEPTH) + " levels")
        elif c == "]" or c == "}":
            depth -= 1


def loads(data):
    # the bounded JSON parse both sides use for anything read from outside: size and nesting
    # checked first, and whatever the parser raises becomes a RecordError
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > MAX_BYTES:
            raise RecordError("record", "is " + str(len(data)) + " bytes, over " + str(MAX_BYTES))
        try:
            data = str(bytes(data), "utf-8")
        except (UnicodeError, ValueError):
            raise RecordError("record", "is not valid UTF-8")
    elif isinstance(data, str):
        if len(data) > MAX_BYTES or _utf8_len("record", data) > MAX_BYTES:
            raise RecordError("record", "is over " + str(MAX_BYTES) + " bytes")
    else:
        raise RecordError("record", "must be bytes or str, not " + type(data).__name__)
    check_depth(data)
    try:
        return json.loads(data)
    except ValueError as e:
        raise RecordError("record", "is not valid JSON (" + str(e) + ")")
    except Exception as e:  # a parser limit (recursion, memory) is still just a bad record
        raise RecordError("record", "cannot be parsed (" + type(e).__name__ + ")")


def decode(data):
    return validate(loads(data))


def make_id(device, boot, seq):
    # "<device>-<boot>-<seq>": the boot counter lives on flash, seq counts within the boot
    _check_name("device", device, MAX_DEVICE)
    if not _is_int(boot) or boot < 0:
        raise RecordError("boot", "must be a whole number >= 0")
    if not _is_int(seq) or seq < 0:
        raise RecordError("seq", "must be a whole number >= 0")
    rid = device + "-" + str(boot) + "-" + str(seq)
    if len(rid) > MAX_ID:
        raise RecordError("id", "would be over " + str(MAX_ID) + " characters")
    return rid
