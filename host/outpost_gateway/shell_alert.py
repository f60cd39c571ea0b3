# `outpost-gateway alert`: one alert from a shell script or cron job, spooled exactly like one
# that came over MQTT: an alert record v1 (id <device>-<boot>-<seq>, checked by the same codec
# and allow-list), routed by the same rules, written to the gateway's spool, and mailed by the
# running gateway's relay as the same email. The id's "boot" is the command's start time and
# "seq" a counter kept in the spool, so two alerts never share an id.
import os
import sqlite3

from outpost_contract import record as alert_record
from outpost_contract.rules import SEVERITIES

from . import config, routing
from .ingest import Ingest
from .metrics import Metrics
from .spool import Alert

class AlertError(Exception):
    pass


def make_record(device, severity, text, now, seq, to=(), kind="script"):
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    lines = [ln.strip() for ln in text.split("\n")]
    first = next((ln for ln in lines if ln), "")
    if not first:
        raise AlertError("no text: give it as arguments or on stdin")
    subject = first if len(first) <= alert_record.MAX_SUBJECT else first[:alert_record.MAX_SUBJECT - 3] + "..."
    rec = {"v": 1, "id": alert_record.make_id(device, int(now), seq), "device": device, "severity": severity,
           "kind": kind, "subject": subject, "ts": int(now)}
    if text.strip() != first or subject != first:
        body = text.encode("utf-8")[:alert_record.MAX_BODY].decode("utf-8", "ignore")
        rec["body"] = body + "\n"
    if to:
        rec["to"] = list(to)
    return rec


def _next_seq(spool):
    # a counter in the spool, taken inside a write transaction: two commands never get the same
    db, tx = spool.transaction()
    with tx:
        r = db.execute("SELECT value FROM state WHERE key='cli_alert_seq'").fetchone()
        n = (int(r[0]) if r else 0) + 1
        db.execute("INSERT OR REPLACE INTO state(key,value) VALUES('cli_alert_seq',?)", (str(n),))
    return n


def spool_alert(cfg, spool, device, severity, text, to=(), kind="script"):
    # -> the alert id; raises AlertError naming what is wrong (the record, or the spool)
    if severity not in SEVERITIES:
        raise AlertError("--severity must be one of %s" % ", ".join(SEVERITIES))
    why = Ingest(cfg, spool, Metrics(), spool.clock).device_problem(device)
    if why is not None:
        raise AlertError(why)
    now = spool.clock.time()
    try:
        rec = make_record(device, severity, text, now, _next_seq(spool), to, kind)
        payload = alert_record.encode(rec)
        alert_record.decode(payload)        # the codec the MQTT ingress runs: the same checks
    except alert_record.RecordError as e:
        raise AlertError("bad alert: %s" % e)
    rcpts = routing.recipients(cfg, device, severity, rec.get("to"))
    res = spool.write([Alert(rec["id"], device, severity, kind, rec["subject"], "cli", payload, rcpts)])[0]
    if res == "full":
        raise AlertError("the spool is full (spool.max_pending, or less than spool.min_free_mb free on its disk);"
                         " the alert was not stored")
    return rec["id"], rcpts


def run(cfg, device, severity, text, to, kind, out, err):
    from .clock import SystemClock
    from .service import open_spool
    path = config.spool_path(cfg)
    owner = None
    try:
        owner = os.stat(path)
    except OSError:
        pass
    spool = None
    try:
        spool = open_spool(cfg, SystemClock(), requeue=False)
        aid, rcpts = spool_alert(cfg, spool, device, severity, text, to, kind)
    except AlertError as e:
        print("outpost-gateway alert: %s" % e, file=err)
        return 2 if "full" not in str(e) else 1
    except (sqlite3.Error, OSError) as e:
        print("outpost-gateway alert: cannot write the spool %s: %s (run it as the gateway's user, e.g."
              " sudo -u outpost-gateway outpost-gateway alert ...); the alert was NOT stored" % (path, e), file=err)
        return 1
    finally:
        if spool is not None:
            spool.close()
        _keep_owner(path, owner)
    print("alert %s spooled for %s" % (aid, ", ".join(rcpts) or "nobody (no route)"), file=out)
    return 0


def _keep_owner(path, owner):
    # root running the command must not leave spool files the gateway's user cannot write
    if owner is None or os.geteuid() != 0:
        return
    for p in (path, path + "-wal", path + "-shm"):
        try:
            st = os.stat(p)
            if st.st_uid != owner.st_uid or st.st_gid != owner.st_gid:
                os.chown(p, owner.st_uid, owner.st_gid)
        except OSError:
            pass
