# outpost-gateway: run the gateway, inspect and steer its spool, test the upstream, let boards
# into the broker (board), spool an alert from a script (alert).
# main(argv) -> exit code, so tests call it with a list. Exit 0 ok, 1 failure, 2 bad config/usage.
import argparse
import os
import signal
import sys
import time

from . import __version__, admin, config

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
    ql.add_argument("--status", choices=("pending", "ready", "sending", "done", "dead"),
                    help="pending = ready or sending (each waiting row says why it waits)")
    ql.add_argument("--limit", type=int, default=100)
    qh = qs.add_parser("show", parents=[common], help="show one alert and its deliveries, in words")
    qh.add_argument("id")
    qh.add_argument("--json", action="store_true", help="print the raw record as JSON")
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
    a = sub.add_parser("alert", parents=[common], help="spool an alert from a shell script or cron job",
                       description="Spools one alert exactly like one that came over MQTT; the running"
                       " gateway mails it. The first line of TEXT is the subject, the whole text the body."
                       " Exit 0: spooled; 1: the spool could not be written (the alert was NOT stored);"
                       " 2: bad arguments or config.")
    a.add_argument("--device", required=True, help="the device the alert is about ([A-Za-z0-9._-], as a board's name)")
    a.add_argument("--severity", default="warning", choices=("info", "warning", "critical"))
    a.add_argument("--to", action="append", default=[], metavar="ADDR",
                   help="also to this address (honoured where routing.honour_alert_to allows); repeatable")
    a.add_argument("--kind", default="script", help="the alert's kind (default: script)")
    a.add_argument("text", nargs="*", help="the alert's text (default: read from stdin)")
    b = sub.add_parser("board", help="let boards into the MQTT broker (password file, ACL, reload)")
    bs = b.add_subparsers(dest="bcmd", metavar="action")
    bs.required = True
    ba = bs.add_parser("add", parents=[common], help="create a board's broker login and ACL, reload Mosquitto,"
                       " print its mqtt config section")
    ba.add_argument("name")
    ba.add_argument("--host", help="the broker's address as the board reaches it (default: this machine's name)")
    ba.add_argument("--port", type=int, help="the LAN listener's port (default 1883, or 8883 with --tls)")
    ba.add_argument("--tls", action="store_true", help="the board connects to the TLS listener")
    ba.add_argument("--discovery", metavar="PREFIX", nargs="?", const="homeassistant",
                    help="also let it publish Home Assistant discovery configs (default prefix homeassistant)")
    br = bs.add_parser("remove", parents=[common], help="remove a board's login and ACL, reload Mosquitto")
    br.add_argument("name")
    bs.add_parser("list", parents=[common], help="list the boards let in by `board add`")
    return p


def main(argv=None, out=None):
    out = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    cmd = args.cmd
    broken = None
    try:
        cfg = config.load(args.config)
    except config.ConfigError as e:
        errors = getattr(e, "errors", [e])
        if cmd == "check-config":
            print("%s: %d error%s" % (args.config, len(errors), "" if len(errors) == 1 else "s"), file=sys.stderr)
        for err in errors:
            print("outpost-gateway: config error: %s" % err, file=sys.stderr)
        if cmd == "board" and not [x for x in errors if str(x).startswith(("mqtt.", "fleet."))]:
            # letting boards in needs only [mqtt] and [fleet]: an upstream not set up yet is no reason
            cfg = broker_config(args.config)
            if cfg is None:
                return 2
            print("outpost-gateway: (the errors above do not concern the broker: going on)", file=sys.stderr)
            return _board(cfg, args, out)
        if cmd not in ("status", "queue"):
            return 2
        # looking at the spool must work while the file on disk is broken (the running gateway
        # read it before): the spool's place from what can be read of the file
        cfg, where = fallback_config(args.config)
        broken = "the config file has errors (above); showing the spool at %s (%s)" % (
            config.spool_path(cfg), where)
        print("outpost-gateway: " + broken, file=sys.stderr)
    if cmd == "alert":
        from .shell_alert import run as alert_run
        text = " ".join(args.text)
        if not args.text:
            if sys.stdin is None or sys.stdin.isatty():
                print("outpost-gateway alert: no text: give it as arguments or on stdin", file=sys.stderr)
                return 2
            text = sys.stdin.read(1 << 20)
        return alert_run(cfg, args.device, args.severity, text, args.to, args.kind, out, sys.stderr)
    if cmd == "board":
        return _board(cfg, args, out)
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
            rc = admin.status(cfg, spool, args.json, out)
            if broken and not args.json:
                print("NOTE: " + broken, file=out)
            return rc
        return admin.queue(spool, args, out, sys.stderr)
    finally:
        spool.close()


def fallback_config(path):
    # -> (a config with only the spool's place, where it came from): the [gateway] section's
    # state_dir/spool_path when the file parses, else the defaults
    g = {}
    where = "the default place"
    try:
        with open(path, "rb") as f:
            data = config._toml.load(f)
        sect = data.get("gateway") if isinstance(data, dict) else None
        if isinstance(sect, dict):
            for k in ("state_dir", "spool_path"):
                if isinstance(sect.get(k), str) and sect[k]:
                    g[k] = sect[k]
                    where = "gateway.%s in the file" % k
    except (OSError, ValueError):
        pass
    try:
        cfg = config.merge({"gateway": g, "relay": {"enabled": False}, "mqtt": {"enabled": False},
                            "http": {"enabled": False}}, env={})
    except config.ConfigError:
        cfg = config.merge({"relay": {"enabled": False}, "mqtt": {"enabled": False},
                            "http": {"enabled": False}}, env={})
        where = "the default place"
    return cfg, where


def broker_config(path):
    # the file's [mqtt] and [fleet] sections alone, checked; None when they cannot be read
    try:
        with open(path, "rb") as f:
            data = config._toml.load(f)
        cfg = config.merge({"mqtt": data.get("mqtt", {}), "fleet": data.get("fleet", {}),
                            "relay": {"enabled": False}, "http": {"enabled": False}}, env=os.environ)
    except (OSError, ValueError, AttributeError):
        return None
    return cfg


def _board(cfg, args, out):
    import socket

    from . import broker_admin
    try:
        if args.bcmd == "add":
            port = args.port or (8883 if args.tls else 1883)
            host = args.host or socket.gethostname()
            pw, notes = broker_admin.add(cfg, args.name, discovery=args.discovery)
            for n in notes:
                print("# " + n, file=sys.stderr)
            print("# board %s may now publish under %s/%s/ (its login is in %s)" % (
                args.name, cfg["mqtt"]["topic_prefix"].rstrip("/"), args.name, cfg["mqtt"]["broker_passwd"]),
                file=out)
            print("# paste this into the board's config_local.py (the password is shown only now):", file=out)
            print(broker_admin.board_section_text(args.name, pw, host, port, args.tls), file=out)
            return 0
        if args.bcmd == "remove":
            for n in broker_admin.remove(cfg, args.name):
                print("# " + n, file=sys.stderr)
            print("removed board %s" % args.name, file=out)
            return 0
        rows = broker_admin.listing(cfg)
        for name, login, topics in rows:
            print("%-24s %-9s may publish %s" % (name, "login" if login else "NO LOGIN", ", ".join(topics)), file=out)
        print("%d boards" % len(rows), file=out)
        return 0
    except broker_admin.BrokerAdminError as e:
        print("outpost-gateway board: %s" % e, file=sys.stderr)
        return 1


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
