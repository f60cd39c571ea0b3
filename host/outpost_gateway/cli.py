# outpost-gateway: run the gateway, inspect and steer its spool, test the upstream.
# main(argv) -> exit code, so tests call it with a list. Exit 0 ok, 1 failure, 2 bad config/usage.
import argparse
import json
import os
import signal
import sys
import time

from outpost_contract import rules

from . import __version__, config

DEFAULT_CONFIG = "/etc/outpost-gateway/gateway.toml"


def _parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-c", "--config", default=os.environ.get("OUTPOST_GATEWAY_CONFIG", DEFAULT_CONFIG),
                        help="TOML config file (default: $OUTPOST_GATEWAY_CONFIG or %s)" % DEFAULT_CONFIG)
    p = argparse.ArgumentParser(prog="outpost-gateway", description="Outpost alert gateway")
    p.add_argument("--version", action="version", version="%(prog)s " + __version__)
    sub = p.add_subparsers(dest="cmd", metavar="command")
    sub.required = True
    sub.add_parser("run", parents=[common], help="run the gateway in the foreground")
    st = sub.add_parser("status", parents=[common], help="ingress, spool counts, relay, silent boards")
    st.add_argument("--json", action="store_true", help="print JSON")
    sub.add_parser("check-config", parents=[common], help="validate the config and exit")
    t = sub.add_parser("send-test", parents=[common], help="send a test message upstream, print the trace")
    t.add_argument("--to", help="recipient (default: routing.owner or routing.default)")
    q = sub.add_parser("queue", help="inspect and steer the spool")
    qs = q.add_subparsers(dest="qcmd", metavar="action")
    qs.required = True
    ql = qs.add_parser("list", parents=[common], help="list deliveries")
    ql.add_argument("--status", choices=("ready", "sending", "done", "dead"))
    ql.add_argument("--limit", type=int, default=100)
    qh = qs.add_parser("show", parents=[common], help="show one alert and its deliveries")
    qh.add_argument("id")
    qr = qs.add_parser("retry", parents=[common], help="send an alert now, or every dead one (--dead)")
    g = qr.add_mutually_exclusive_group(required=True)
    g.add_argument("id", nargs="?")
    g.add_argument("--dead", action="store_true")
    qp = qs.add_parser("purge", parents=[common], help="delete an alert, or finished ones older than N days")
    g = qp.add_mutually_exclusive_group(required=True)
    g.add_argument("id", nargs="?")
    g.add_argument("--done-older-than", type=float, metavar="DAYS")
    qd = qs.add_parser("dead", parents=[common], help="list the dead-letter table")
    qd.add_argument("--limit", type=int, default=100)
    qj = qs.add_parser("rejected", parents=[common], help="list input refused for good, newest first")
    qj.add_argument("--limit", type=int, default=100)
    return p


def _subject(text, limit=60):
    text = "".join(c if c >= " " else "?" for c in (text or ""))
    return repr(text if len(text) <= limit else text[:limit - 3] + "...")


def _when(t):
    return "-" if not t else rules.iso(t)


def main(argv=None, out=None):
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        print("outpost-gateway: config error: %s" % e, file=sys.stderr)
        return 2
    cmd = args.cmd
    if cmd == "check-config":
        print("config OK: %s" % args.config, file=out)
        print("spool: %s" % config.spool_path(cfg), file=out)
        return 0
    if cmd == "run":
        return _run(cfg, args.config)
    if cmd == "send-test":
        return _send_test(cfg, args.to, out)
    from .clock import SystemClock
    from .service import open_spool
    # looking never changes the spool of a running gateway; steering (retry, purge) writes
    # only what it is asked to, never requeueing the rows the gateway has in flight
    steer = cmd == "queue" and args.qcmd in ("retry", "purge")
    try:
        spool = open_spool(cfg, SystemClock(), readonly=not steer, requeue=False)
    except FileNotFoundError as e:
        print("outpost-gateway: %s" % e, file=sys.stderr)
        return 1
    try:
        if cmd == "status":
            return _status(cfg, spool, args.json, out)
        return _queue(spool, args, out)
    finally:
        spool.close()


def _run(cfg, path=None):
    from .service import Gateway, setup_logging
    os.umask(0o077)     # the spool and its journals are private, whoever starts the gateway
    lock = _lock_spool(cfg)
    if lock is None:
        return 1
    setup_logging(cfg)
    from .spool import SpoolDamaged
    try:
        gw = Gateway(cfg)
    except SpoolDamaged as e:
        print("outpost-gateway: %s" % e, file=sys.stderr)
        return 1
    gw.config_path = path

    def on_signal(signum, frame):
        gw.stopping.set()       # only a flag: the main loop does the stopping

    def on_hup(signum, frame):
        gw.reload_requested.set()   # only a flag: the main loop reads the config again

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hup)
    gw.run()
    return 0


def _lock_spool(cfg):
    # one gateway per spool: a second `run` (by hand, beside the service) would requeue the
    # first one's in-flight rows and take over its MQTT session. The lock goes with the process.
    import fcntl
    path = config.spool_path(cfg)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    f = open(path + ".lock", "a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        print("outpost-gateway: another gateway is already running on %s" % path, file=sys.stderr)
        return None
    return f


def _status(cfg, spool, as_json, out):
    c = spool.counts()
    st = spool.get_state("status")
    last = spool.get_state("relay_last_result")
    paused = spool.get_state("relay_paused")
    boards = _boards(cfg, spool)
    silent = [b["device"] for b in boards if b["silent"]]
    oldest = spool.oldest_pending()
    data = {"running": st, "spool": c, "oldest_pending": oldest, "relay_last_result": last,
            "relay_paused": paused, "silent_boards": silent, "boards": boards}
    if as_json:
        print(json.dumps(data, indent=2), file=out)
        return 0
    if st:
        print("gateway: running (pid %s, updated %s)" % (st["pid"], _when(st["updated"])), file=out)
        if st.get("mqtt") is not None:
            m = st["mqtt"]
            print("  mqtt: %s" % (("connected, subscribed" if m.get("subscribed") else "connected, not subscribed")
                                  if m["connected"] else "disconnected (%s)" % (m["error"] or "-")), file=out)
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
    print("oldest undelivered: %s" % _when(oldest), file=out)
    print("last relay result: %s" % ("-" if not last else "%s at %s" % (last["result"], _when(last["at"]))),
          file=out)
    if paused:
        print("relay PAUSED since %s: %s" % (_when(paused["since"]), paused["reason"]), file=out)
    print("silent boards: %s" % (", ".join(silent) or "none"), file=out)
    print("boards: %d known" % len(boards), file=out)
    for b in boards:
        iv = b["interval"]
        print("  %-24s last seen %s via %-6s interval %-10s %s%s" % (
            b["device"], _when(b["last_seen"]), b["path"] or "-",
            "-" if iv is None else "%ds%s" % (iv, "" if b["interval_from"] == "learned" else " (config)"),
            "SILENT" if b["silent"] else "ok", " (Will: offline)" if b["status"] == "offline" else ""), file=out)
    return 0


def _boards(cfg, spool):
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


def _queue(spool, args, out):
    q = args.qcmd
    if q == "list":
        rows = spool.list(args.status, args.limit)
        for r in rows:
            # next= only where something is still to happen
            nxt = " next=" + _when(r["next_at"]) if r["status"] in ("ready", "sending") else ""
            print("%-40s %-16s %-30s %-7s attempts=%d%s %s %s" % (
                r["id"], r["device"], r["rcpt"], r["status"], r["attempts"], nxt,
                _subject(r["subject"]), ("(" + r["last_error"] + ")") if r["last_error"] else ""), file=out)
        print("%d deliveries" % len(rows), file=out)
        return 0
    if q == "show":
        a = spool.show(args.id)
        if a is None:
            print("no alert %r in the spool" % args.id, file=sys.stderr)
            return 1
        a["payload"] = bytes(a["payload"]).decode("utf-8", "replace")
        print(json.dumps(a, indent=2), file=out)
        return 0
    if q == "retry":
        n = spool.retry(None if args.dead else args.id)
        if n == 0 and not args.dead:
            print("no waiting or dead delivery for %r" % args.id, file=sys.stderr)
            return 1
        print("%d deliveries will be sent on the next pass" % n, file=out)
        return 0
    if q == "purge":
        if args.id:
            n = spool.purge(alert_id=args.id)
            if n == 0:
                print("no alert %r in the spool" % args.id, file=sys.stderr)
                return 1
        else:
            n = spool.purge(older_than=time.time() - args.done_older_than * 86400)
        print("purged %d alerts" % n, file=out)
        return 0
    if q == "dead":
        rows = spool.dead(args.limit)
        for r in rows:
            print("%-40s %-30s %s %s  %s" % (r["id"], r["rcpt"], r["code"] or "-", _when(r["at"]), r["reply"]),
                  file=out)
        print("%d dead letters" % len(rows), file=out)
        return 0
    if q == "rejected":
        rows = spool.rejected(args.limit)
        for r in rows:
            raw = bytes(r["raw"][:60]).decode("utf-8", "replace")
            raw = "".join(c if " " <= c < "\x7f" else "?" for c in raw)
            print("%s %-6s %-24s %s  [%d bytes: %r]" % (_when(r["at"]), r["source"], r["origin"] or "-",
                                                     r["reason"], r["size"], raw), file=out)
        print("%d rejected inputs" % len(rows), file=out)
        return 0
    return 2


def _send_test(cfg, to, out):
    from usmtp.errors import SMTPError
    from usmtp.writer import Message, make_message_id

    from .relay import open_upstream
    r = cfg["relay"]
    ro = cfg["routing"]
    rcpt = to or ro["owner"] or (ro["default"][0] if ro["default"] else None)
    if not rcpt:
        print("send-test: no recipient (give --to or set routing.owner)", file=sys.stderr)
        return 2

    def trace(line):
        print(line.rstrip("\r\n"), file=out)

    now = int(time.time())
    m = Message(r["sender"], [rcpt], "Outpost gateway test message",
                body="This is a test message from the Outpost gateway.\n", date=now,
                message_id=make_message_id("gateway-test-%d" % now, r["sender"]))
    try:
        s = open_upstream(r, trace)
        try:
            refused = s.sendmail(r["sender"], [rcpt], m.chunks())
            s.quit()
        finally:
            s.close()
    except (SMTPError, OSError) as e:
        from .hints import explain
        print("send-test: FAILED: %s" % e, file=out)
        hint = explain(e, r)
        if hint:
            print("send-test: " + hint, file=out)
        return 1
    if refused:
        print("send-test: refused: %s" % refused, file=out)
        return 1
    print("send-test: sent to %s" % rcpt, file=out)
    return 0
