# The SMTP step with the app out of the heap (see outpost/smtp_hop.py). The app
# journals the alert and writes SEND_FILE; then either outpost/run.py unloads the app and calls
# step() in the same wake (App.hand_over), or, on a heap below smtp.send_wake_below, the app
# sleeps for a moment and main.py calls run() before it loads the app (rtc.send_wake). Either
# way only this path and usmtp share the heap. The outcome goes to RESULT_FILE for the app
# (the `250` is written the moment it comes, before QUIT); the app then marks the alert done,
# or tries its next path.
import gc

from outpost import smtp_path


def run(root=""):
    """After a reset (main.py): mails the alert in SEND_FILE, if there is one, with the config
    the app reads (config.json, or a config_local.py). Returns True when it ran."""
    try:
        open(_at(root, smtp_path.SEND_FILE)).close()
    except OSError:
        return False
    import json
    try:
        with open(_at(root, "config.json")) as f:    # outpost.run.CONFIG_FILE
            cfg = json.load(f)
    except OSError:
        from outpost.run import load_config     # a config_local.py, checked as the app does
        cfg = load_config(root)
        load_config = None
        smtp_path.unload("outpost.run")
        smtp_path.unload("outpost.config")
    return step(root, cfg)


def step(root, cfg, feed=None):
    """Mails the alert in SEND_FILE, if there is one; returns True when it ran."""
    try:
        with open(_at(root, smtp_path.SEND_FILE), "rb") as f:
            rid, _, shed = f.readline().rstrip().decode().partition(" ")
            payload = f.read()
    except OSError:
        return False
    # one try per request: a crash below must not bring the board back here (the `inflight`
    # file the app wrote counts the crash, and the app decides whether to try again)
    smtp_path.remove(_at(root, smtp_path.SEND_FILE))
    gc.collect()
    outcome = "down send wake: failed"
    done = []       # the server's 250 came and mail.res says so: nothing below may undo that
    try:
        outcome = _send(root, rid, payload, cfg, feed, int(shed or 0), done)
    except MemoryError:
        outcome = "down out of memory"
    except Exception as e:  # whatever it is, the app reads it as an outage of this path
        outcome = "down " + (e.__class__.__name__ + " " + str(e)).strip()
    finally:
        payload = None
        smtp_path.unload("usmtp")
        gc.collect()
        if outcome != "sent" and not done:
            # (a failure after the 250, such as memory for a log line, is no failed send)
            _result(root, rid, outcome)
        # the attempt returned: not a crash (crash.recover finds nothing at the next boot)
        smtp_path.remove(_at(root, smtp_path.INFLIGHT))
    return True


def _at(root, name):
    return root + "/" + name if root else name


def _result(root, rid, outcome):
    with open(_at(root, smtp_path.RESULT_FILE), "w") as f:
        f.write(rid + " " + outcome)


def _tls(c):
    # the TLS context first, while the heap still has the large free block it takes (about
    # 3 KB on the unix port; later in the step the heap can be too split for it). When it
    # cannot be built now (the clock not yet set, a bad CA), the client builds it and says why.
    if c["mode"] == "plain":
        return None
    try:
        from usmtp.context import client_context
        return client_context(c["ca"] or None, c["insecure_skip_verify"])
    except Exception:
        return None
    finally:
        smtp_path.unload("usmtp.context")


def _log(cfg, msg):
    if cfg["log"]:
        # loaded for the line only: the session holds neither module
        from outpost import clock
        from outpost_contract.rules import iso
        print("[" + iso(clock.now()) + "] send wake: " + msg)


def _send(root, rid, payload, cfg, feed, shed, done):
    ctx = _tls(cfg["smtp"])
    from outpost import alerts, clock
    from outpost.net import Net

    def log(msg):
        _log(cfg, msg)
    net = Net(cfg["wifi"], cfg["ntp"], log, feed, clock.Mono())
    if clock.is_set():
        net.ntp_at = 0      # the RTC kept the time: no NTP round trip
    if not net.up():
        return "down no Wi-Fi"
    # associated: the interface stays up without its driver (the path asks it nothing here),
    # and the clock loads again only for a log line (the record's rules go after composing)
    net = Net = clock = None
    smtp_path.unload("outpost.net")
    smtp_path.unload("outpost.clock")

    def sent():
        _result(root, rid, "sent")
        done.append(1)
    rec, _, csv = alerts.from_payload(payload)
    payload = _ = alerts = None     # the record's code goes before the message is written
    path = smtp_path.SmtpPath(cfg, None, log, root)
    path.context = ctx
    try:
        path.send_now(rec, csv, min(cfg["smtp"]["timeout"], cfg["transport"]["budget"]),
                      sent,
                      ("outpost.alerts", "outpost_contract.record"), shed)
    except smtp_path.Refused as e:
        return "refused " + str(e)
    except smtp_path.Down as e:
        return "down " + str(e)
    try:
        log(rid + " accepted")
    except MemoryError:
        pass
    return "sent"
