# Alert record -> email, the same on every path: the board sending directly and the gateway
# relaying build the message here, so one alert reads the same (subject, body, headers,
# Message-ID) whichever way it travelled, and a duplicate is recognisable by its Message-ID.

from usmtp.writer import Message, make_message_id


def subject(rec, prefix=""):
    # "<prefix><device>: <what happened>", as a person scans an inbox: which board, then what
    # (a prefix is for who wants one). The severity is in the body and the X-Outpost-Severity
    # header (filters sort on it).
    s = rec["subject"]
    dev = rec["device"]
    if not (s.startswith(dev) and s[len(dev):len(dev) + 1] in " :"):    # "", " " or ":"
        s = dev + ": " + s
    return (prefix or "") + s


def _num(v):
    if isinstance(v, float):
        # 21.50 -> 21.5, 3.00 -> 3
        return ("%.2f" % v).rstrip("0").rstrip(".")
    return str(v)


def body(rec):
    g = rec.get
    out = g("body") or ""
    if out:
        out = out.rstrip("\n") + "\n\n"
    readings = g("readings")
    if readings:
        out += "Readings:\n"
        for name in sorted(readings):
            r = readings[name]
            if isinstance(r, dict):
                unit = r.get("unit")
                out += "  %s: %s%s\n" % (name, _num(r.get("value")), " " + unit if unit else "")
        out += "\n"
    state = g("repeats")
    state = "resolved, closes " + g("closes", "?") if g("state") == "resolved" else \
        state and "still firing, reminds of " + state
    ts = g("ts")
    if ts:
        from usmtp.clock import iso     # (outpost_contract.rules re-exports it)
        ts = iso(ts)
    return out + "-- \nDevice:   %s\nSeverity: %s (%s)\n%sMade:     %s\nAlert id: %s\n" % (
        rec["device"], rec["severity"], rec["kind"], "State:    %s\n" % state if state else "",
        ts or "unknown time (clock not set)", rec["id"])


def headers(rec, sender=None):
    h = []
    for k, v in (("Alert-Id", rec["id"]), ("Device", rec["device"]), ("Severity", rec["severity"]),
                 ("Kind", rec["kind"]), ("State", rec.get("state") or "firing")):
        h.append(("X-Outpost-" + k, v))
    opened = rec.get("closes") or rec.get("repeats")
    if opened and sender:
        # the resolved mail and each reminder answer the firing one: mail clients show the
        # episode as one thread
        first = make_message_id(opened, sender)
        h += [("In-Reply-To", first), ("References", first)]
    return h


def message(rec, sender, to, prefix="", date=None):
    """The email for an alert record (a dict as outpost_contract.record decodes it). date: UTC
    seconds for the Date header when the record has no ts (its clock was never set)."""
    return Message(sender, to, subject(rec, prefix), body(rec),
                   date=int(rec.get("ts") or date or 0) or None,
                   message_id=make_message_id(rec["id"], sender), headers=headers(rec, sender))
