# The send wake (see smtp_path.SmtpPath._by_wake): on a board whose heap cannot hold the app,
# usmtp and a TLS handshake at once, the app journals the alert, writes SEND_FILE and sleeps
# for a moment; main.py calls run() before it loads the app, so the SMTP step has the heap to
# itself. The outcome goes to RESULT_FILE for the app (the `250` is written the moment it
# comes, before QUIT); the app then marks the alert done, or tries its next path.
import gc

from outpost import smtp_path
from outpost.smtp_path import RESULT_FILE, SEND_FILE


def run(root=""):
    """Mails the alert in SEND_FILE, if there is one; returns True when it ran."""
    def at(name):
        return root + "/" + name if root else name
    try:
        with open(at(SEND_FILE), "rb") as f:
            rid = f.readline().rstrip().decode()
            payload = f.read()
    except OSError:
        return False
    # one try per request: a crash below must not bring the board back here (the `inflight`
    # file the app wrote counts the crash, and the app decides whether to try again)
    smtp_path.remove(at(SEND_FILE))
    outcome = "down send wake: failed"
    try:
        outcome = _send(root, at, rid, payload)
    except MemoryError:
        outcome = "down out of memory"
    except Exception as e:  # whatever it is, the app reads it as an outage of this path
        outcome = "down " + (e.__class__.__name__ + " " + str(e)).strip()
    finally:
        smtp_path.unload("usmtp")
        gc.collect()
        if outcome != "sent":
            _result(at, rid, outcome)
        # the attempt returned: not a crash (the app's recover_in_flight finds nothing)
        smtp_path.remove(at(smtp_path.INFLIGHT))
    return True


def _result(at, rid, outcome):
    with open(at(RESULT_FILE), "w") as f:
        f.write(rid + " " + outcome)


def _send(root, at, rid, payload):
    import json
    from outpost import alerts, clock
    from outpost.net import Net
    from outpost_contract.rules import iso
    with open(at("config.json")) as f:
        cfg = json.load(f)

    def log(msg):
        if cfg["log"]:
            print("[" + iso(clock.now()) + "] send wake: " + msg)
    mono = clock.Mono()
    net = Net(cfg["wifi"], cfg["ntp"], log, None, mono)
    if clock.is_set():
        net.ntp_at = 0      # the RTC kept the time through the sleep: no NTP round trip
    if not net.up():
        return "down no Wi-Fi"
    rec, _, csv = alerts.from_payload(payload)
    del payload
    path = smtp_path.SmtpPath(cfg, net, log, root)
    timeout = min(cfg["smtp"]["timeout"], cfg["transport"]["budget"])
    try:
        path.send_now(rec, csv, timeout, lambda: _result(at, rid, "sent"),
                      ("outpost.alerts", "outpost_contract.record"))
    except smtp_path.Refused as e:
        return "refused " + str(e)
    except smtp_path.Down as e:
        return "down " + str(e)
    log(rid + " accepted")
    return "sent"
