# The operator's commands on the spool, as the CLI runs them: `status` and `queue ...` (list,
# show, retry, purge, dead, rejected), printed in words with ISO times. Looking never writes;
# steering (retry, purge) changes only the rows it names and never the ones in flight.
import json
import time

from outpost_contract import rules

PENDING = ("ready", "sending")


def when(t):
    return "-" if not t else rules.iso(t)


def subject(text, limit=60):
    text = "".join(c if c >= " " else "?" for c in (text or ""))
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


# -- why a delivery waits --------------------------------------------------------------------

def wait_reason(row, now, running=None, paused=None):
    # one line saying why a pending delivery has not gone yet. row: a spool.list() row;
    # running: the gateway's status record (None when it is not running); paused: relay_paused
    st = row["status"]
    if st == "sending":
        return "being sent now"
    if st != "ready":
        return None
    err = row.get("last_error")
    if paused:
        return "relay paused since %s: %s" % (when(paused.get("since")), paused.get("reason"))
    if row.get("via"):
        return "goes out inside digest %s" % row["via"]
    if row["next_at"] > now:
        if err:
            return "next try %s, after attempt %d failed: %s" % (when(row["next_at"]), row["attempts"], err)
        return "next try %s" % when(row["next_at"])
    if running is None:
        return "due, but the gateway is not running"
    if err:
        return "due now (attempt %d failed: %s)" % (row["attempts"], err)
    return "due now, not tried yet"


# -- steering --------------------------------------------------------------------------------

def retry(spool, alert_id=None, now=None):
    # dead or waiting deliveries of one alert (or every dead one) go out on the next pass
    now = spool.clock.time() if now is None else now
    db, tx = spool.transaction()
    with tx:
        if alert_id is None:
            # a revived delivery leaves the digest that died: it goes out on its own or in a new one
            cur = db.execute("UPDATE deliveries SET status='ready', next_at=?, attempts=0, via=NULL"
                             " WHERE status='dead'", (now,))
        else:
            cur = db.execute("UPDATE deliveries SET status='ready', next_at=?,"
                             " via=CASE WHEN status='dead' THEN NULL ELSE via END WHERE alert_id=?"
                             " AND status IN ('ready','dead')", (now, alert_id))
        n = cur.rowcount
    spool.refresh()
    return n


def purge(spool, alert_id=None, older_than=None):
    # alert_id: remove that alert entirely; otherwise remove finished alerts older than
    # older_than (their ids then stop deduplicating)
    if alert_id is None:
        return spool.purge_done(older_than)
    db, tx = spool.transaction()
    with tx:
        db.execute("DELETE FROM deliveries WHERE alert_id=?", (alert_id,))
        db.execute("DELETE FROM dead_letter WHERE alert_id=?", (alert_id,))
        n = db.execute("DELETE FROM alerts WHERE id=?", (alert_id,)).rowcount
        db.execute("DELETE FROM digests WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.via=digests.mid)")
    spool.refresh()
    return n


# -- status ------------------------------------------------------------------------------------

def boards(cfg, spool):
    # every board the gateway knows: last seen, path of its latest alert, the interval the
    # watchdog expects (configured, or learned from its heartbeats and reports), silent or not
    from .watchdog import Watchdog
    wd = Watchdog(cfg, spool, None)
    paths = spool.board_paths()
    out = []
    for b in spool.boards():
        if b["device"] == "gateway":
            continue
        iv = wd.interval(b)
        out.append({"device": b["device"], "last_seen": b["last_seen"],
                    "path": paths.get(b["device"]) or ("mqtt" if b["status"] else None),
                    "interval": None if iv is None else round(iv),
                    "interval_from": "config" if b["device"] in cfg["watchdog"]["intervals"] else "learned",
                    "silent": bool(b["silent"]), "status": b["status"]})
    return out


def status(cfg, spool, as_json, out):
    c = spool.counts()
    st = spool.get_state("status")
    last = spool.get_state("relay_last_result")
    paused = spool.get_state("relay_paused")
    bs = boards(cfg, spool)
    silent = [b["device"] for b in bs if b["silent"]]
    oldest = spool.oldest_pending()
    data = {"running": st, "spool": c, "oldest_pending": oldest, "relay_last_result": last,
            "relay_paused": paused, "silent_boards": silent, "boards": bs}
    if as_json:
        print(json.dumps(data, indent=2), file=out)
        return 0
    if st:
        print("gateway: running (pid %s, updated %s)" % (st["pid"], when(st["updated"])), file=out)
        if st.get("mqtt") is not None:
            m = st["mqtt"]
            print("  mqtt: %s" % (("connected, subscribed" if m.get("subscribed") else "connected, not subscribed")
                                  if m["connected"] else "disconnected (%s)" % (m["error"] or "-")), file=out)
        if st.get("amqp") is not None:
            a = st["amqp"]
            print("  amqp: %s" % ("consuming on %s" % a["node"] if a["consuming"]
                                  else "not consuming (%s)" % (a["error"] or "connecting")), file=out)
        if st.get("fleet"):
            f = st["fleet"]
            peers = ", ".join("%s %s" % kv for kv in sorted(f["peers"].items())) or "none seen"
            print("  fleet: %s; peers: %s; holding: %s" % ("connected" if f["connected"] else "disconnected",
                                                          peers, ", ".join(f["holds"]) or "none"), file=out)
        for s in st.get("serial") or []:
            print("  serial %s: %s" % (s["port"], "open" if s["open"] else "closed (%s)" % (s["error"] or "-")),
                  file=out)
        if st.get("smtp_ingress"):
            si = st["smtp_ingress"]
            n = si.get("sessions", 0)
            print("  smtp ingress: port %s, %d session%s open" % (si["port"], n, "" if n == 1 else "s"), file=out)
        if st.get("spool_error"):
            print("  spool writes FAILING: %s" % st["spool_error"], file=out)
        for name, why in sorted((st.get("failed") or {}).items()):
            print("  %s: FAILED (%s)" % (name, why), file=out)
    else:
        print("gateway: not running", file=out)
    print("spool: %d alerts; deliveries ready %d, sending %d, done %d, dead %d"
          % (c["alerts"], c["ready"], c["sending"], c["done"], c["dead"]), file=out)
    print("oldest undelivered: %s" % when(oldest), file=out)
    print("last relay result: %s" % ("-" if not last else "%s at %s" % (last["result"], when(last["at"]))),
          file=out)
    if paused:
        print("relay PAUSED since %s: %s" % (when(paused["since"]), paused["reason"]), file=out)
    print("silent boards: %s" % (", ".join(silent) or "none"), file=out)
    print("boards: %d known" % len(bs), file=out)
    for b in bs:
        iv = b["interval"]
        print("  %-24s last seen %s via %-6s interval %-10s %s%s" % (
            b["device"], when(b["last_seen"]), b["path"] or "-",
            "-" if iv is None else "%ds%s" % (iv, "" if b["interval_from"] == "learned" else " (config)"),
            "SILENT" if b["silent"] else "ok", {"offline": " (Will: offline)",
                                                "config error": " (CONFIG ERROR: its config is broken)"
                                                }.get(b["status"], "")), file=out)
    return 0


# -- queue -------------------------------------------------------------------------------------

def queue_list(spool, status, limit, out, now=None):
    now = time.time() if now is None else now
    running = spool.get_state("status")
    paused = spool.get_state("relay_paused")
    rows = spool.list(PENDING if status == "pending" else status, limit)
    for r in rows:
        why = wait_reason(r, now, running, paused)
        line = "%-40s %-16s %-30s %-7s attempts=%d %s" % (
            r["id"], r["device"], r["rcpt"], r["status"], r["attempts"], subject(r["subject"]))
        if why:
            line += "  waits: " + why
        elif r["last_error"]:
            line += "  (" + r["last_error"] + ")"
        print(line, file=out)
    print("%d deliveries" % len(rows), file=out)
    return 0


def show_text(a, now=None, running=None, paused=None):
    # one alert and its deliveries, in words
    now = time.time() if now is None else now
    lines = ["alert %s" % a["id"],
             "  device:    %s" % a["device"],
             "  severity:  %s (%s)" % (a["severity"], a["kind"]),
             "  subject:   %s" % subject(a["subject"], 200),
             "  came via:  %s, received %s" % (a["source"], when(a["received"]))]
    if a["raw"]:
        lines.append("  message:   a whole mail from %s (%d bytes), relayed as it is"
                     % (a["mail_from"] or "-", len(a["payload"])))
    else:
        try:
            rec = json.loads(bytes(a["payload"]).decode("utf-8"))
        except ValueError:
            rec = {}
        if rec.get("ts"):
            lines.append("  made:      %s (board's clock)" % when(rec["ts"]))
        if rec.get("state"):
            lines.append("  state:     %s%s" % (rec["state"], ", closes " + rec["closes"] if rec.get("closes") else ""))
        for name, r in sorted((rec.get("readings") or {}).items()):
            if isinstance(r, dict):
                lines.append("  reading:   %s = %s %s" % (name, r.get("value"), r.get("unit", "")))
    lines.append("  deliveries:")
    for d in a["deliveries"]:
        row = dict(d, next_at=d["next_at"] or 0)
        if d["status"] == "done":
            what = "delivered (attempt %d), %s" % (d["attempts"], when(d.get("updated")))
        elif d["status"] == "dead":
            what = "dead letter after %d attempt%s: %s" % (d["attempts"], "" if d["attempts"] == 1 else "s",
                                                            d["last_error"] or "-")
        else:
            what = "%s, attempts %d; waits: %s" % (d["status"], d["attempts"], wait_reason(row, now, running, paused))
        lines.append("    %-30s %s" % (d["rcpt"], what))
    for dl in a["dead_letter"]:
        lines.append("  dead letter: %s, %s, code %s: %s" % (dl["rcpt"], when(dl["at"]), dl["code"] or "-",
                                                            dl["reply"]))
    return "\n".join(lines)


def queue_show(spool, alert_id, as_json, out, err):
    a = spool.show(alert_id)
    if a is None:
        print("no alert %r in the spool" % alert_id, file=err)
        return 1
    if as_json:
        a["payload"] = bytes(a["payload"]).decode("utf-8", "replace")
        print(json.dumps(a, indent=2), file=out)
    else:
        print(show_text(a, running=spool.get_state("status"), paused=spool.get_state("relay_paused")), file=out)
    return 0


def queue(spool, args, out, err):
    q = args.qcmd
    if q == "list":
        return queue_list(spool, args.status, args.limit, out)
    if q == "show":
        return queue_show(spool, args.id, args.json, out, err)
    if q == "retry":
        n = retry(spool, None if args.dead else args.id)
        if n == 0 and not args.dead:
            print("no waiting or dead delivery for %r" % args.id, file=err)
            return 1
        print("%d deliveries will be sent on the next pass" % n, file=out)
        return 0
    if q == "purge":
        if args.id:
            n = purge(spool, alert_id=args.id)
            if n == 0:
                print("no alert %r in the spool" % args.id, file=err)
                return 1
        else:
            n = purge(spool, older_than=time.time() - args.done_older_than * 86400)
        print("purged %d alerts" % n, file=out)
        return 0
    if q == "dead":
        rows = spool.dead(args.limit)
        for r in rows:
            print("%-40s %-30s %s %s  %s" % (r["id"], r["rcpt"], r["code"] or "-", when(r["at"]), r["reply"]),
                  file=out)
        print("%d dead letters" % len(rows), file=out)
        return 0
    if q == "rejected":
        rows = spool.rejected(args.limit)
        for r in rows:
            raw = bytes(r["raw"][:60]).decode("utf-8", "replace")
            raw = "".join(c if " " <= c < "\x7f" else "?" for c in raw)
            print("%s %-6s %-24s %s  [%d bytes: %r]" % (when(r["at"]), r["source"], r["origin"] or "-",
                                                     r["reason"], r["size"], raw), file=out)
        print("%d rejected inputs" % len(rows), file=out)
        return 0
    return 2
