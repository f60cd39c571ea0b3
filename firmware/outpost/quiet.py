# A wake from deep sleep that has nothing to say, without the app (issue 17): the sensors
# read, the rules applied to the sample, the sample folded into the report, the state back
# into RTC memory, and the board asleep again. No Wi-Fi association, no app, no outbox: most of
# a battery board's wakes are these, and they hold only this module, the sensors, the rules
# and the report. When the wake has work (an alert to make, one waiting in the outbox, the
# report due, the clock due for NTP, a crash to account for, an MQTT link to keep), nothing
# is changed here and the app runs this wake with the sample taken (outpost/run.py).
import os

from outpost import clock, unload


def wake(cfg, board, machine, time):
    """Deep-sleeps (does not return on a board) when the wake is quiet; otherwise returns
    the sample ((readings, errors)) for the app's first step (or None), and the watchdog it
    started."""
    if cfg["mqtt"]["host"]:
        return None, None   # the kept connection, the heartbeat and the live readings: the app's
    wdt = None
    if cfg["watchdog"]:
        ms = cfg["watchdog"] * 1000
        cap = board.BOARD.get("wdt_max_ms")
        wdt = machine.WDT(timeout=min(ms, cap) if cap else ms)
    try:
        return _look(cfg, board, machine, time), wdt
    except Exception:      # a MemoryError, a sensor's driver, RTC memory: the app's to meet
        return None, wdt


def _look(cfg, board, machine, time):
    from outpost import rtc
    saved = rtc.load(machine)
    unload("outpost.rtc")
    root = getattr(board, "FS_ROOT", "")
    if saved is None or saved.get("pend", 1) or _exists(root, "inflight") or _exists(root, "reset.exc"):
        return None
    mono = clock.Mono(saved["mono"], time)
    t0 = mono()
    ntp_at = saved.get("ntp_at")
    if ntp_at is None or not clock.is_set() or t0 - ntp_at >= cfg["ntp"]["every"]:
        return None
    from outpost import rules, sensors
    fitted = cfg["sensors"] if cfg["sensors"] is not None else board.BOARD.get("sensors", [])
    sample = sensors.sample(sensors.build(fitted, machine))     # (the app makes its own drivers)
    readings = sample[0]
    rs = cfg["rules"]
    states = saved["states"]
    for i in range(len(rs)):
        st = states[i] if i < len(states) else None
        if rules.check(rs[i], st or rules.new_state(), readings.get(rs[i]["sensor"], (None, ""))[0], t0)[1]:
            return sample     # an alert: made, worded and journalled by the app
    from outpost import report
    rc = cfg["report"]
    now = clock.now()
    rep, at = report.begun(saved["rep"], saved["next_report"], saved["last_report"], rc, now)
    if at is not None and now >= at:
        return sample     # the report: journalled by the app
    # nothing to say: the rules' new states (no event: each rule answered None above)
    states = rules.evaluate(rs, states, readings, t0, now)[0]
    report.add(rep, readings, now, rc["max_rows"])
    if cfg["log"]:
        for name in sample[1]:
            log("sensor " + name + ": " + sample[1][name])
        log(sensors.line(readings))
    delay = cfg["sample_every"]
    due = rules.next_due(rs, states)
    if due is not None and due - t0 < delay:
        delay = max(0, due - t0)
    sleep_s = max(0, delay - (mono() - t0))
    saved["states"] = states
    saved["rep"] = rep
    saved["next_report"] = at
    saved["mono"] = mono() + sleep_s
    from outpost import rtc
    rtc.keep(machine, saved, log)
    if cfg["log"]:
        log("deep sleep " + str(sleep_s) + " s")
    machine.deepsleep(int(sleep_s * 1000))


def log(msg):
    # the app's log line (App.log)
    print("[" + clock.iso(clock.now()) + "] " + msg)


def _exists(root, name):
    try:
        os.stat(root + "/" + name if root else name)
        return True
    except OSError:
        return False
