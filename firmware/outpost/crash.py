# The crash bookkeeping: no alert puts the board in a reset loop. `inflight` on flash names
# the alert being sent and how often it already crashed the board; it is removed when the
# attempt returns, whatever the outcome. At boot, an alert that was in flight at a crash goes
# last, and is set aside after CRASH_LIMIT crashes; a set-aside alert still goes in a plain form.
# Whose fault was the last reset? Only a reset the firmware can blame on what it was doing
# counts against the alert being sent: the watchdog's, or main.py's reset after an exception
# (main.py leaves MARK first). A power cut or a brown-out is nobody's fault (ESP32's
# reset_cause() says PWRON_RESET for both).
import os

MARK = "reset.exc"
INFLIGHT = "inflight"   # the alert being sent (smtp_path.INFLIGHT)
CRASH_LIMIT = 3         # crashes while sending one alert before it is set aside
KEEP_BODY = 1500        # characters of the body the plain form keeps


def blamed(machine, mark):
    """True when the reset that started this boot was the firmware's doing; removes `mark`."""
    try:
        os.remove(mark)
        return True
    except OSError:
        pass
    return machine.reset_cause() == machine.WDT_RESET


def plain(rec, why):
    """The record in its smallest form: no readings, the body cut short and told why; sent
    with no CSV, so no attachment and no chart."""
    r = dict(rec)
    r.pop("readings", None)
    body = r.get("body") or ""
    if len(body) > KEEP_BODY:
        body = body[:KEEP_BODY] + "\n[...]"
    r["body"] = (body + "\n\n" if body else "") + "(plain form: " + why + ")"
    return r


def mark(a, rid):
    """Names `rid` as the alert in flight for the app `a` (None: the attempt returned)."""
    path = a.path(INFLIGHT)
    if rid is None:
        try:
            os.remove(path)
        except OSError:
            pass
        return
    with open(path, "w") as f:
        f.write(rid + " " + str(a.crashed.get(rid, 0)))


def recover(a):
    # at boot: only a reset the firmware can blame (watchdog, main.py after an exception)
    # counts against the alert; after a power cut it is simply tried again
    blame = blamed(a.machine, a.path(MARK))
    try:
        with open(a.path(INFLIGHT)) as f:
            rid, _, n = f.read().partition(" ")
        n = int(n) + (1 if blame else 0)
    except (OSError, ValueError):
        return
    mark(a, None)
    was_plain = rid.startswith("~")
    rid = rid[1:] if was_plain else rid
    if not a.ob.has(rid) or not n:
        return
    if was_plain:
        # even its plain form crashed the board: out of the queue, counted, never a loop
        a.ob.fail(rid, "the board crashed while sending it, even in plain form")
        return
    if n >= CRASH_LIMIT:
        a.ob.set_aside(rid, "the board crashed " + str(n) + " times while sending it")
    else:
        a.crashed[rid] = n
        a.log("outbox: " + rid + " was being sent when the board crashed (" + str(n) +
              " time(s)); it goes last")
