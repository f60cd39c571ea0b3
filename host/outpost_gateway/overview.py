# What the status page shows, as JSON-ready dicts built from the spool (the page's /api/boards
# and /api/queue): boards with their last readings and open episodes, the queue with the reason
# each delivery waits, dead letters, and the recent alerts with their path and delivery.
import json

from outpost_contract import rules

from . import admin

# alerts that are no episode: periodic messages, tests, the watchdog's own notices (a board's
# silence shows as its state instead)
NOT_EPISODES = ("report", "heartbeat", "test", "mail", "device-silent", "device-back", "digest")
CHART_SPAN = 86400.0


def _iso(t):
    return rules.iso(t) if t else None


def _record(a):
    if a.get("raw"):
        return {}
    try:
        rec = json.loads(bytes(a["payload"]).decode("utf-8"))
    except (ValueError, UnicodeError):
        return {}
    return rec if isinstance(rec, dict) else {}


def open_episodes(alerts):
    # alerts: one board's, newest first. An episode opens with a firing alert and ends with the
    # resolved one that names it in `closes`; reminders (firing again, same kind and reading)
    # belong to the episode already open. -> [{id, kind, severity, subject, since, repeats}]
    open_ = {}       # (kind, reading) -> episode
    for a in reversed(alerts):
        rec = _record(a)
        reading = ",".join(sorted(rec.get("readings") or {})) or a["subject"]
        key = (a["kind"], reading)
        if rec.get("state") == "resolved":
            closes = rec.get("closes")
            for k, ep in list(open_.items()):
                if ep["id"] == closes or k == key:
                    del open_[k]
            continue
        rep = rec.get("repeats")     # a reminder names the firing it repeats
        for k, ep in open_.items():
            if rep and ep["id"] == rep:
                key = k
        if key in open_:
            ep = open_[key]
            ep["repeats"] += 1
            ep["subject"] = a["subject"]
            ep["severity"] = a["severity"]
            continue
        open_[key] = {"id": a["id"], "kind": a["kind"], "severity": a["severity"], "subject": a["subject"],
                      "since": _iso(a["received"]), "repeats": 0}
    return sorted(open_.values(), key=lambda e: e["since"] or "")


def board_state(b):
    if b["status"] in ("offline", "config error"):
        return b["status"]      # its Last Will, or its own word that its config is broken
    if b["silent"]:
        return "silent"
    return "online"


EPISODE_WINDOW = 2000    # the newest alerts looked at for open episodes


def boards(cfg, spool, now):
    latest = spool.latest_readings()
    by_dev = {}
    for a in spool.recent_alerts(EPISODE_WINDOW, deliveries=False):
        if a["kind"] not in NOT_EPISODES:
            by_dev.setdefault(a["device"], []).append(a)
    out = []
    for b in admin.boards(cfg, spool):
        dev = b["device"]
        eps = open_episodes(by_dev.get(dev, []))
        readings = [{"name": k, "value": v, "at": _iso(at), "chart": "/chart/%s/%s.svg" % (dev, k)}
                    for k, (v, at) in sorted(latest.get(dev, {}).items())]
        out.append({"device": dev, "state": board_state(b), "last_seen": _iso(b["last_seen"]),
                    "path": b["path"], "interval": b["interval"], "readings": readings, "episodes": eps})
    # a board heard only through its state topic (no alert, status or heartbeat yet)
    known = set(x["device"] for x in out)
    for dev in sorted(set(latest) - known):
        readings = [{"name": k, "value": v, "at": _iso(at), "chart": "/chart/%s/%s.svg" % (dev, k)}
                    for k, (v, at) in sorted(latest[dev].items())]
        out.append({"device": dev, "state": "unknown", "last_seen": None, "path": "mqtt", "interval": None,
                    "readings": readings, "episodes": []})
    return {"now": _iso(now), "boards": out}


def delivery_summary(ds):
    # one word for an alert's deliveries: delivered, waiting, dead, or a mix ("2 delivered, 1 dead")
    if not ds:
        return "no recipient"
    n = {}
    for d in ds:
        word = {"done": "delivered", "dead": "dead", "sending": "sending"}.get(d["status"], "waiting")
        n[word] = n.get(word, 0) + 1
    if len(n) == 1:
        return list(n)[0]
    return ", ".join("%d %s" % (c, w) for w, c in sorted(n.items()))


def queue(spool, now, limit=100):
    running = spool.get_state("status")
    paused = spool.get_state("relay_paused")
    pending = []
    for r in spool.list(admin.PENDING, limit):
        pending.append({"id": r["id"], "device": r["device"], "rcpt": r["rcpt"], "status": r["status"],
                        "subject": r["subject"], "attempts": r["attempts"], "received": _iso(r["received"]),
                        "next_try": _iso(r["next_at"]) if r["status"] == "ready" else None,
                        "last_error": r["last_error"], "reason": admin.wait_reason(r, now, running, paused)})
    dead = [{"id": d["id"], "rcpt": d["rcpt"], "code": d["code"], "reply": d["reply"], "at": _iso(d["at"])}
            for d in spool.dead(limit)]
    recent = []
    for a in spool.recent_alerts(50):
        recent.append({"id": a["id"], "device": a["device"], "severity": a["severity"], "kind": a["kind"],
                       "subject": a["subject"], "path": a["source"], "received": _iso(a["received"]),
                       "delivery": delivery_summary(a["deliveries"]),
                       "deliveries": [{"rcpt": d["rcpt"], "status": d["status"], "attempts": d["attempts"],
                                       "error": d["last_error"]} for d in a["deliveries"]]})
    return {"now": _iso(now), "running": running is not None, "counts": spool.counts(),
            "relay_paused": paused, "pending": pending, "dead": dead, "recent": recent}


def chart(spool, device, name, now):
    from .svgchart import render
    pts = spool.reading_series(device, name, now - CHART_SPAN)
    return render(pts, now - CHART_SPAN, now, "%s %s, last 24 h" % (device, name))
