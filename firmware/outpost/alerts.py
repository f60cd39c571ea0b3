# Alerts: life-long ids (device, boot counter on flash, sequence), alert records (lib/outpost_contract/record.py)
# and the email a record becomes (usmtp's writer, Message-ID from the alert id).
import json

from outpost_contract import record as alert_record


class Ids:
    def __init__(self, device, boot, seq=0):
        self.device = device
        self.boot = boot
        self.seq = seq

    def next(self):
        self.seq += 1
        return alert_record.make_id(self.device, self.boot, self.seq)


def make_record(device, rid, event, ts, to=None):
    rec = {"v": alert_record.VERSION, "id": rid, "device": device,
           "severity": event["severity"], "kind": event["kind"], "subject": event["subject"][:200]}
    if ts:
        rec["ts"] = ts
    if event.get("body"):
        rec["body"] = event["body"]
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


def to_payload(rec, csv=None):
    # the outbox entry: the encoded record, plus the report's CSV when there is one
    data = alert_record.encode(rec)
    if csv:
        data = data[:-1] + b',"x_csv":' + json.dumps(csv).encode() + b"}"
    return data


def from_payload(payload):
    # -> (record dict, record bytes as sent to the gateway, csv text or None). Parsed once;
    # without a CSV the journalled bytes are the record as encoded, forwarded unchanged
    if b'"x_csv":' not in payload:
        return alert_record.decode(payload), payload, None
    raw = alert_record.loads(payload)     # a report: one parse gives the record and its CSV
    rec = alert_record.validate(raw)
    return rec, alert_record.encode(rec), raw.get("x_csv")


def gateway_record(rec, csv):
    # the gateway gets the record only: a report's CSV travels in its body when it fits
    if not csv:
        return alert_record.encode(rec)
    r = dict(rec)
    body = (r.get("body") or "") + "\n--- samples (CSV) ---\n" + csv
    if len(body.encode()) <= alert_record.MAX_BODY:
        r["body"] = body
    return alert_record.encode(r)
