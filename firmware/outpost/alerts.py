# Alerts on the board: the boot counter on flash, ids (device, boot counter, sequence), the
# record an event becomes, and its bytes in the outbox.
#
# The board writes its own records without the record codec (lib/outpost_contract/record.py,
# 7-8 KB of heap with the checks a record from outside needs): what goes into one comes from
# the config, checked when it was deployed, and from the rules, and make_record keeps the
# record's bounds (one-line subject of 200 characters at most, body of MAX_BODY bytes).
# encode() gives the codec's bytes for such a record (tests/firmware/test_alerts*.py hold
# that on CPython and MicroPython); the gateway checks every record it takes with the codec.
import json
import os
import sys

VERSION = 1             # outpost_contract.record.VERSION
MAX_BODY = 16384        # outpost_contract.record.MAX_BODY (UTF-8 bytes)
KEYS = ("v", "id", "device", "severity", "kind", "subject", "ts", "body", "readings", "to",
        "state", "closes", "repeats")    # outpost_contract.record.KEYS: the order written

if sys.implementation.name == "micropython":
    _str = json.dumps       # writes non-ASCII as UTF-8, as the codec does
else:
    def _str(v):
        return json.dumps(v, ensure_ascii=False)


def read_counter(path):
    try:
        with open(path) as f:
            return int(f.read().strip() or "0")
    except (OSError, ValueError):
        return 0


def bump_boot_counter(path):
    # one small flash write per cold boot; write-then-rename so a cut never loses the count
    n = read_counter(path) + 1
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(n))
    try:
        os.rename(tmp, path)
    except OSError:
        os.remove(path)
        os.rename(tmp, path)
    return n


def make_id(device, boot, seq):
    # "<device>-<boot>-<seq>" (outpost_contract.record.make_id; the device name is checked
    # with the config)
    return device + "-" + str(boot) + "-" + str(seq)


def _line(s):
    # one line of text: a control character (from a label in the config, say) becomes a space
    for c in s:
        if (c < " " and c != "\t") or c == "\x7f":
            return "".join([" " if (c < " " and c != "\t") or c == "\x7f" else c for c in s])
    return s


def make_record(device, rid, event, ts, to=None):
    rec = {"v": VERSION, "id": rid, "device": device, "severity": event["severity"],
           "kind": event["kind"], "subject": _line(event["subject"][:200])}
    if ts:
        rec["ts"] = ts
    body = event.get("body")
    if body:
        while len(body.encode()) > MAX_BODY:
            body = body[:-1024]
        rec["body"] = body
    if event.get("readings"):
        rec["readings"] = event["readings"]
    if to:
        rec["to"] = list(to)
    if event.get("state") == "resolved":
        rec["state"] = "resolved"
        rec["closes"] = event["closes"]
    elif event.get("state"):
        rec["state"] = event["state"]
    if event.get("repeats"):
        rec["repeats"] = event["repeats"]     # a reminder: threads under its firing
    return rec


def _dump(v):
    # compact JSON, object keys sorted, as the codec writes it (same bytes on both runtimes)
    if isinstance(v, dict):
        return "{" + ",".join([_str(k) + ":" + _dump(v[k]) for k in sorted(v)]) + "}"
    if isinstance(v, list):
        return "[" + ",".join([_dump(x) for x in v]) + "]"
    if isinstance(v, str):
        return _str(v)
    return json.dumps(v)


def encode(rec):
    # a record made by make_record as the codec encodes it: its keys in the record's order
    return ("{" + ",".join(['"' + k + '":' + _dump(rec[k]) for k in KEYS if k in rec]) +
            "}").encode()


def to_payload(rec, csv=None):
    # the outbox entry: the encoded record, plus the report's CSV when there is one
    data = encode(rec)
    if csv:
        data = data[:-1] + b',"x_csv":' + json.dumps(csv).encode() + b"}"
    return data


def from_payload(payload):
    # -> (record dict, record bytes as sent to the gateway, csv text or None), with one
    # json.loads: the outbox holds records this module wrote (its frames carry a CRC);
    # without a CSV the journalled bytes are the record as encoded, forwarded unchanged
    rec = json.loads(payload)
    if not isinstance(rec, dict):
        raise ValueError("outbox: record is not a JSON object")
    csv = rec.pop("x_csv", None)
    if csv is None:
        return rec, payload, None
    return rec, encode(rec), csv


def gateway_record(rec, csv):
    # the gateway gets the record only: a report's CSV travels in its body when it fits
    if not csv:
        return encode(rec)
    r = dict(rec)
    body = (r.get("body") or "") + "\n--- samples (CSV) ---\n" + csv
    if len(body.encode()) <= MAX_BODY:
        r["body"] = body
    return encode(r)
