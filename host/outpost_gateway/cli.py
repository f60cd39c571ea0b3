# outpost-gateway: run the gateway, inspect and steer its spool, test the upstream.
# main(argv) -> exit code, so tests call it with a list. Exit 0 ok, 1 failure, 2 bad config/usage.
import argparse
import json
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
    return p


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
            return admin.status(cfg, spool, args.json, out)
        return admin.queue(spool, args, out, sys.stderr)
    finally:
        spool.close()


def _run(cfg, path=None):
    from .service import Gateway, setup_logging
    os.umask(0o077)     # the spool and its journals are private, whoever starts the gateway
    lock = _lock_spool(cfg)
    if lock is None:
        return 1
    setup_logging(cfg)
    gw = Gateway(cfg)
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
