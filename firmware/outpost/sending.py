# The sending half of a step: the outbox's alerts over the transport chain, critical first.
# A round that finds every path down holds the whole outbox off with exponential backoff
# (held). Loaded by the app only when the outbox holds something or a chain is kept (a quiet
# wake never loads it); the paths load when something is due and go after it.
import gc
import json

from outpost import unload
from outpost_contract.rules import backoff

SHED_AFTER = 3      # failed attempts of a report before it sheds a part (charts, then CSV)


def make_chain(a):
    # the chain, made when something is due to be sent (see flush); each path is made when
    # the chain reaches it and dropped after its attempt (make_path, drop_path)
    from outpost import transport
    tc = a.cfg["transport"]
    return transport.Chain(tc["order"], tc["budget"], a.log, a.mono, a.feed,
                           lambda name: make_path(a, name), lambda name, p: drop_path(a, name, p))


def make_path(a, name):
    cfg = a.cfg
    if name == "mqtt":
        return a.mqtt    # None without mqtt.host; with it, the kept path
    if name == "serial":
        from outpost.serial_path import SerialPath
        return SerialPath(cfg, a.log)
    if sys_mp():
        # on the board the SMTP step runs with the app out of the heap: in this wake, or
        # after a reset on a heap below smtp.send_wake_below (sendwake.py); the app holds only
        # its side of the hop (smtp_hop.py), not smtp_path's composing and sending
        from outpost import smtp_hop
        resets = small_heap(cfg["smtp"]["send_wake_below"])
        smtp = smtp_hop.StepPath(cfg, a.net, a.log, a.root, lambda: hop(a, resets), resets)
    else:
        from outpost import smtp_path
        smtp = smtp_path.SmtpPath(cfg, a.net, a.log, a.root)
    smtp.auth_warned = a.auth_warned     # a setup problem is said once, not per attempt
    a.smtp = smtp
    return smtp


def hop(a, resets):
    # to the SMTP step: after it the path only reads its outcome. In this wake the Hop ends
    # App.run, whose frames unwind before the state is built (App.hand_over); a send wake
    # saves it to RTC memory (outpost/rtc.py, loaded only then)
    if resets:
        from outpost import rtc
        rtc.send_wake(a)
    from outpost.app import Hop
    raise Hop()


def drop_path(a, name, p):
    # after its attempt a path leaves the heap to the next one (the kept MQTT path stays)
    if name == "smtp" and p is not None:
        a.auth_warned = p.auth_warned
        a.smtp = None
        unload("outpost.smtp_path")
        unload("outpost.smtp_hop")
        unload("outpost.rtc")


def flush(a):
    send_round(a)
    a.resume = None
    # nothing of the chain stays in the heap between sends (the kept MQTT path is the app's)
    a.chain = a.smtp = None
    unload("outpost.transport")
    unload("outpost.smtp_path")
    unload("outpost.smtp_hop")
    unload("outpost.rtc")
    unload("outpost.crash")
    gc.collect()


def send_round(a):
    # Outages belong to the network, not to a record: when a round finds every path down,
    # the whole outbox holds off (backoff doubling per failed round). A critical alert is
    # still tried once at once, so it is not held behind an old outage.
    # an alert that was being sent when the board crashed goes after all the others
    for rid, sev, payload in a.ob.pending(a.crashed):
        fresh = rid not in a.tried
        again = rid == a.resume      # its SMTP step just ran: read the outcome
        if a.mono() < a.hold_until and not (fresh and sev == "critical") and not again:
            continue
        if a.chain is None and sys_mp():
            # the sampling modules make room for the paths (the drivers are made again, and
            # the modules loaded again, at the next sample)
            a.drivers = None
            unload("outpost.sensors")
            unload("outpost.rules")
        got = load(a, rid, payload)
        if got is None:
            break
        if not got:
            continue
        from outpost import crash
        rec, data, csv = got
        payload = None
        # a report that keeps failing sheds what it can: its charts, then its CSV
        if not again:
            a.tried[rid] = a.tried.get(rid, 0) + 1
        shed = (a.tried[rid] - 1) // SHED_AFTER if rec["kind"] == "report" else 0
        a.current = rid
        a.set_led(True)
        crash.mark(a, rid)
        # without a CSV, data is the record as journalled: the SMTP step's file takes it as is
        result = a.chain.send(rec, csv, a.timeouts, lambda: a.ob.done(rid), data, shed,
                              data if csv is None else None)
        rec = data = csv = None
        crash.mark(a, None)
        a.crashed.pop(rid, None)
        a.set_led(False)
        a.feed()
        if not settled(a, rid, result, ""):
            if "out of memory" in " ".join(result[1]):
                # the next attempt sheds the next part at once
                a.tried[rid] = (a.tried[rid] // SHED_AFTER + 1) * SHED_AFTER
            held(a, rid, result[1])
            return
    flush_aside(a)


def load(a, rid, payload):
    # the chain (made once a round) and the record: (record, bytes, csv); False when the
    # record is unreadable (failed for good: the round goes on); None when the paths do not
    # fit in the heap now (an outage of this round, with its backoff)
    try:
        if a.chain is None:
            a.chain = make_chain(a)
        from outpost import crash   # noqa: F401 (the caller's, loaded where memory may fail)
        return from_payload(payload)
    except ValueError as e:
        a.ob.fail(rid, "unreadable record: " + str(e))
        return False
    except MemoryError:
        a.chain = a.smtp = None
        gc.collect()
        if not a.oom:
            a.short = True      # App.run tries again at once, in a clean heap
        else:
            held(a, rid, ["out of memory loading the paths"])
        return None


def settled(a, rid, result, form):
    # True when the attempt took the alert off the outbox: sent (a path works: the outbox's
    # hold ends) or refused for good; False when every path was down
    if result[0] == "sent":
        if a.ob.has(rid):
            a.ob.done(rid)      # (sent() journalled it done already, as the peer took it)
        a.down_rounds = 0
        a.hold_until = 0
        a.sent += 1
        a.log("sent " + rid + form + " via " + result[1])
    elif result[0] == "dead":
        a.ob.fail(rid, result[1])
        a.log("REFUSED " + rid + " for good: " + result[1])
    else:
        return False
    a.tried.pop(rid, None)
    return True


def held(a, rid, reasons):
    # every path down this round: the whole outbox waits, the wait doubling per round
    tc = a.cfg["transport"]
    a.down_rounds += 1
    wait = backoff(a.down_rounds, tc["retry_min"], 2, tc["retry_max"])
    a.hold_until = a.mono() + wait
    a.log("kept " + rid + " in the outbox (" + "; ".join(reasons) +
          "); next try in " + str(wait) + " s")


def flush_aside(a):
    # an alert set aside (it crashed the board) still goes, in its plain form (crash.py),
    # on the first path that takes it, never only in the next report. Its `inflight` name
    # starts with "~": crashing the board even so, it is marked dead (see crash.recover)
    for rid, payload, why in a.ob.aside_records():
        if a.mono() < a.hold_until and rid != a.resume:
            return
        got = load(a, rid, payload)
        if got is None:
            return
        if not got:
            continue
        from outpost import crash
        rec = crash.plain(got[0], why)
        got = None
        from outpost import smtp_path
        if rid != a.resume:
            smtp_path.remove(a.path(smtp_path.MAIL_FILE))    # the full email, if composed
        a.current = rid
        crash.mark(a, "~" + rid)
        result = a.chain.send(rec, None, a.timeouts, lambda: a.ob.done(rid))
        crash.mark(a, None)
        a.feed()
        if not settled(a, rid, result, " (plain form)"):
            held(a, rid + " (plain form)", result[1])
            return


def from_payload(payload):
    # -> (record, its bytes for the gateway, csv or None). The journal holds records checked
    # when they were encoded (alerts.to_payload): one json.loads reads an alert back without
    # loading the record codec; a report's CSV is split off by alerts.from_payload
    if b'"x_csv":' in payload:
        from outpost import alerts
        return alerts.from_payload(payload)
    return json.loads(payload), payload, None


def sys_mp():
    import sys
    return sys.implementation.name == "micropython"


def small_heap(kb):
    # too small for the SMTP step even with the app out of the heap: the step then runs after
    # a reset (sendwake.py). The figure is the heap the board has at boot: an ESP32's grows
    # once later (64 KB, then 111,936 B), so its default keeps a stock ESP32 in one wake
    if not sys_mp():
        return False        # the emulated board: CPython has the room
    return gc.mem_free() + gc.mem_alloc() < kb * 1024
