# An event becomes an alert on flash: its record made and journalled before any attempt to
# send it; and the day's report when it is due. Loaded when a rule fires or a report is due
# (with the alert's words and record code); a quiet step never loads it.
import gc

from outpost import clock, report


def new_alert(a, event, csv=None):
    # journalled before any attempt; a record too large for the heap loses its CSV, then
    # its body, rather than reset the board before it is on flash
    now = clock.now()
    payload = None
    for part in range(3):
        try:
            from outpost import alerts
            rid = event.get("id") or a.next_id()
            event["id"] = rid
            rec = alerts.make_record(a.cfg["device"], rid, event, now if clock.is_set(now) else 0)
            if part == 2:
                rec.pop("body", None)
            payload = alerts.to_payload(rec, csv if part == 0 else None)
            break
        except MemoryError:
            rec = None
            gc.collect()
    if payload is not None:
        a.log("alert " + rid + " [" + rec["severity"] + "] " + rec["subject"] +
              ("" if part == 0 else " (out of memory: " + ("without its CSV)" if part == 1 else "subject only)")))
        rec = None
        try:
            dropped = a.ob.add(payload)
        except MemoryError:
            # the journal's writer did not fit: not on flash yet (unless it got that far)
            payload = None
            gc.collect()
            if a.ob.has(rid):
                return
    if payload is None:
        # not even the bare record fits now: it is made again at the next step, with its id,
        # without its CSV; a few at most wait so (the oldest goes first, counted as dropped)
        a.unsaved.append((event, None))
        if len(a.unsaved) > 4:
            a.ob.dropped += 1
            a.unsaved.pop(0)
        a.log("alert " + event.get("id", "?") + ": out of memory; journalled at the next step")
        return
    for d in dropped:
        a.tried.pop(d, None)


def report_due(a, now, at):
    # the day's report: its summary and CSV journalled as an alert, and a new report begun
    rc = a.cfg["report"]
    extra = {"alerts queued": len(a.ob), "alerts dropped (outbox full)": a.ob.dropped,
             "alerts refused (5xx)": a.ob.dead, "boot": a.boot_no}
    aside = a.ob.aside()
    if aside:
        extra["alerts set aside (crashed the board)"] = \
            ", ".join([x[0] + ": " + x[1] for x in aside])
    subj, body = report.summary(a.rep, a.cfg["device"], now, extra)
    new_alert(a, {"kind": "report", "severity": "info", "subject": subj, "body": body},
              report.csv_text(a.rep))
    a.last_report = now
    a.rep = report.new(now, rc["csv_every"])
    a.next_report = report.next_due(now, at, rc["tz_offset_min"], rc["every"], now)
