# Turning spooled alerts into mail: one message per alert and recipient, a digest for a
# backlog, and the gateway's own alert records (notices to the owner, board silent/back).
# The same alert id always gives the same Message-ID (usmtp.writer.make_message_id).
import hashlib
import json

from outpost_contract import mail as alert_mail
from outpost_contract import record as alert_record
from outpost_contract import rules
from usmtp.writer import Message, make_message_id

from .spool import Alert


def _when(t):
    return rules.iso(t) if t else "unknown time"


def message_for(row, sender):
    # -> (envelope from, message: bytes or iterable of chunks, Message-ID)
    if row["raw"]:
        return row["mail_from"] or sender, bytes(row["payload"]), "<" + row["alert_id"] + ">"
    rec = json.loads(bytes(row["payload"]))
    # the same email the board would have sent itself (lib/outpost_contract/mail.py)
    m = alert_mail.message(rec, sender, [row["rcpt"]], date=row["received"])
    return sender, m.chunks(), m.message_id


def closes_of(row):
    # the id a resolved alert closes (alert record `state`/`closes`), else None
    if row["raw"]:
        return None
    try:
        rec = json.loads(bytes(row["payload"]))
    except ValueError:
        return None
    if isinstance(rec, dict) and rec.get("state") == "resolved" and isinstance(rec.get("closes"), str):
        return rec["closes"]
    return None


def digest_for(rcpt, rows, sender, now):
    # one message standing for a backlog: counts, first and last, every alert listed
    ids = sorted(r["alert_id"] for r in rows)
    key = hashlib.sha1("\n".join([rcpt] + ids).encode()).hexdigest()[:20]
    mid = make_message_id("digest-" + key, sender)
    rows = sorted(rows, key=lambda r: r["received"])
    # an episode that opened and closed inside the backlog is one line: the firing, then
    # "resolved" with when and what the all-clear said
    held = set(r["alert_id"] for r in rows)
    closed_by = {}
    for r in rows:
        c = closes_of(r)
        if c is not None and c in held:
            closed_by[c] = r
    sev = {}
    devs = {}
    for r in rows:
        sev[r["severity"]] = sev.get(r["severity"], 0) + 1
        devs[r["device"]] = devs.get(r["device"], 0) + 1
    lines = ["%d alerts were held back while mail could not go out, or came too fast;"
             % len(rows), "here they are in one message.", "",
             "By severity: " + ", ".join("%s %d" % kv for kv in sorted(sev.items())),
             "By device: " + ", ".join("%s %d" % kv for kv in sorted(devs.items())),
             "First: " + _when(rows[0]["received"]),
             "Last: " + _when(rows[-1]["received"])]
    if closed_by:
        lines.append("Resolved within this digest: %d (shown with the alert they close)" % len(closed_by))
    lines.append("")
    folded = set(r["alert_id"] for r in closed_by.values())
    for r in rows:
        if r["alert_id"] in folded:
            continue
        lines.append("%s  %-8s %s  %s  [%s]" % (_when(r["received"]), r["severity"], r["device"],
                                                  r["subject"], r["alert_id"]))
        done = closed_by.get(r["alert_id"])
        if done is not None:
            lines.append("%s  resolved %s  %s  [%s]" % (_when(done["received"]), done["device"],
                                                        done["subject"], done["alert_id"]))
    subject = "Outpost digest: %d alerts from %s to %s" % (len(rows), _when(rows[0]["received"]),
                                                           _when(rows[-1]["received"]))
    m = Message(sender, [rcpt], subject, body="\n".join(lines) + "\n", date=int(now), message_id=mid,
                headers={"X-Outpost-Kind": "digest"})
    return sender, m.chunks(), mid


def one_line(text, limit=alert_record.MAX_SUBJECT):
    # header-safe text from anything (an upstream's multi-line reply, a hostile address): its
    # first non-empty line, control characters dropped, cut to limit characters
    text = str(text)
    for line in text.replace("\r", "\n").split("\n"):
        if line.strip():
            text = line
            break
    else:
        text = ""
    text = "".join(c for c in text if c >= " " and c != "\x7f" and not 0xD800 <= ord(c) <= 0xDFFF)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit - 3].rstrip() + "..."
    return text


def body_text(text):
    # a notice body that fits the record: valid text, at most MAX_BODY bytes
    data = str(text).encode("utf-8", "replace").replace(b"\0", b"")
    if len(data) > alert_record.MAX_BODY:
        data = data[:alert_record.MAX_BODY - 20] + b"\n[cut]\n"
    return data.decode("utf-8", "ignore")


def gateway_alert(alert_id, kind, severity, subject, body, rcpts, now, device="gateway"):
    # an alert the gateway makes itself, stored in the spool like any other. It cannot fail on
    # what it is told: subject to one clean line, body bounded, names made valid
    alert_id = safe_id(alert_id) or "gateway-notice"
    if not device or safe_id(device)[:alert_record.MAX_DEVICE] != device:
        device = "gateway"
    kind = safe_id(kind)[:alert_record.MAX_KIND] or "notice"
    subject = one_line(subject) or "Outpost gateway notice"
    rec = {"v": 1, "id": alert_id, "device": device, "severity": severity, "kind": kind,
           "subject": subject, "ts": int(now), "body": body_text(body)}
    payload = alert_record.encode(rec)
    return Alert(alert_id, device, severity, kind, subject, "gateway", payload, rcpts)


def safe_id(text):
    # alert ids allow [A-Za-z0-9._-]; anything else becomes "-"
    return "".join(c if (c.isalnum() and c.isascii()) or c in "._-" else "-" for c in str(text))[:128]


# -- the relay's notices to the owner: (subject, body) ------------------------------------------
def paused_notice(text, hint, pause_retry):
    return ("Outpost gateway cannot send mail: " + one_line(text, 120),
            "The gateway's upstream refused authentication or TLS:\n\n  %s\n\n%s"
            "Alerts are kept in the spool and will go out once this is fixed.\n"
            "The gateway probes again every %d seconds, and at once when its config is\n"
            "reloaded (systemctl reload outpost-gateway, or SIGHUP).\n"
            % (text, (hint + "\n\n") if hint else "", pause_retry))


def resumed_notice(since):
    return ("Outpost gateway sends mail again",
            "Mail had been paused since %s (%s); the held alerts are going out now.\n"
            % (_when(since), "authentication or TLS failure"))


def dead_notice(row, text):
    return ("Outpost could not deliver an alert to " + row["rcpt"],
            "The upstream refused alert %s for %s for good:\n\n  %s\n\n"
            "Subject: %s\nDevice: %s\n\nIt is in the dead-letter table: "
            "outpost-gateway queue dead / queue retry %s\n"
            % (row["alert_id"], row["rcpt"], text, row["subject"], row["device"], row["alert_id"]))
