# The SMTP path as the app on a board holds it. The SMTP step runs with the app out of the heap
# (sendwake.py loads smtp_path and usmtp for it), so the app's side only hands the alert over in
# SEND_FILE, wakes the step, and reads the outcome back from RESULT_FILE. Its own small module,
# so the app never holds smtp_path's composing and sending code (SmtpPath hands over here too).
from outpost import Down, Refused

SEND_FILE = "mail.go"      # smtp_path.SEND_FILE: "<id> <shed>\n<the record as journalled>"
RESULT_FILE = "mail.res"   # smtp_path.RESULT_FILE: "<id> sent" | "<id> refused|down <why>"


class StepPath:
    name = "smtp"

    def __init__(self, cfg, net, log, root, wake, resets):
        self.smtp = cfg["smtp"]
        self.net = net
        self.log = log
        self.root = root
        self.wake = wake            # the hop to the SMTP step, or the send wake (outpost/rtc.py)
        self.wake_resets = resets   # wake() resets the board (a send wake)
        self.auth_warned = False    # the step says a setup problem (the app keeps this flag)

    def enabled(self):
        return bool(self.smtp["host"])

    def send(self, rec, csv, timeout, sent=None, shed=0, payload=None):
        why = check(self.smtp, self.net)
        if why is None:
            why = by_step(self, rec, csv, sent, shed, payload)
            if why is None:
                return
            if why[0] == "refused":
                raise Refused(why[1])
            why = why[1]
        raise Down(why)


def check(c, net):
    # what no attempt gets past, found before a step is woken for nothing: the reason, or None
    # (outcomes, not exceptions: the caller raises its own Down, as SmtpPath does)
    from outpost import clock
    if not net.connected():
        return "no Wi-Fi"
    verify = not c["insecure_skip_verify"] and c["mode"] != "plain"
    if verify and not clock.is_set():
        return "clock not set (NTP has not succeeded): cannot verify the server certificate"
    return None


def _remove(path):
    import os
    try:
        os.remove(path)
    except OSError:
        pass


def by_step(p, rec, csv, sent, shed=0, payload=None):
    """The alert by the SMTP step: when the step already ran for it (the app, loaded again,
    tries it again) its outcome, None (sent) or ("refused" | "down", why); else SEND_FILE is
    written and p.wake() called (which does not return on a board). payload: the record as
    journalled (encoded again only for a report shedding its CSV)."""
    result = p.root + "/" + RESULT_FILE if p.root else RESULT_FILE
    rid = rec["id"]
    try:
        with open(result) as f:
            got, _, outcome = f.read().partition(" ")
    except OSError:
        got = None
    if got == rid:
        how, _, why = outcome.partition(" ")
        if how == "sent" and sent is not None:
            sent()      # journalled as done before the result file goes
        _remove(result)
        if how == "sent":
            return None
        return ("refused" if how == "refused" else "down", why or "send wake: no outcome")
    if got is not None:
        _remove(result)     # an older alert's outcome, already settled
    # the step composes it: that heap has more room than the app's
    if payload is None or (csv and shed >= 2):
        from outpost import alerts
        payload = alerts.to_payload(rec, csv if shed < 2 else None)
    with open(p.root + "/" + SEND_FILE if p.root else SEND_FILE, "wb") as f:
        f.write(rid.encode() + b" " + str(shed).encode() + b"\n")
        f.write(payload)
    payload = None
    if p.wake_resets:
        p.log("smtp: " + rid + " goes in a send wake of its own")
    else:
        p.log("smtp: " + rid + " goes in the SMTP step, the app out of the heap")
    p.wake()     # does not return on a board
