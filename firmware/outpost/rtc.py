# The app's state across a deep sleep (RTC memory survives it, RAM does not), and the same
# state handed over in RAM for the SMTP step of this wake (outpost/run.py). Loaded at a boot
# from deep sleep and when the board sleeps or hops; a quiet wake without deep sleep never
# loads it.
import json

MAGIC = "op1"       # (App.state writes it)
MAX = 2000          # bytes of RTC memory the state may take


def load(m):
    """After a deep-sleep reset: the state that sleep kept, or None (nothing readable)."""
    try:
        d = json.loads(m.RTC().memory())
        if d.get("m") == MAGIC:
            return d
    except (ValueError, OSError, AttributeError):
        pass
    return None


RAM_ONLY = ("mq", "t0", "readings", "hist", "meta", "crashed", "resume", "warned", "unsaved", "oom")


def save(a, sleep_s):
    d = a.state(sleep_s)
    for k in RAM_ONLY + ("next_state", "feed_ms"):
        d.pop(k)
    keep(a.machine, d, a.log)


def keep(machine, d, log):
    # the state d (state()'s keys) into RTC memory
    data = json.dumps(d)
    rep = d["rep"]
    while len(data) > MAX and rep and rep["rows"]:
        # RTC memory is small: the CSV keeps the newer half
        rep["rows"] = rep["rows"][len(rep["rows"]) // 2 + 1:]
        data = json.dumps(d)
    if len(data) > MAX:
        log("rtc: state too large for RTC memory; the report restarts after this sleep")
        d["rep"] = None
        d["next_report"] = None
        data = json.dumps(d)
    machine.RTC().memory(data.encode())


def send_wake(a):
    # the SMTP step in a wake of its own (outpost/smtp_hop.py), on a heap below
    # smtp.send_wake_below: the state goes to RTC memory as for a deep sleep; `inflight`
    # stays, so a crash in that wake counts
    if a.mqtt is not None:
        a.mqtt.close()
    save(a, 0)
    a.machine.deepsleep(1)


def no_room(a):
    """App.run, at the Hop, with no room left even for the state of the SMTP step of this wake
    (App.state): the step goes in a send wake (a deep sleep of 1 ms; main.py runs it before it
    loads the app), as on a board below smtp.send_wake_below."""
    a.log("smtp: out of memory for the SMTP step in this wake; it goes in a send wake")
    if a.mqtt is not None:
        a.mqtt.close()
    try:
        save(a, 0)
    except MemoryError:
        pass    # the alert and mail.go are on flash: the send wake sends it all the same
    a.machine.deepsleep(1)


def fresh_heap(cfg, machine, hop):
    # the App after the SMTP step found no room to boot in the heap the step left (run.py):
    # its state goes to RTC memory as for a deep sleep, and a 1 ms deep sleep gives it a fresh
    # heap (the step's outcome waits in mail.res, read as after a send wake). One reset, never
    # a crash.
    for k in RAM_ONLY:
        hop.pop(k, None)    # what only the App of this wake needs, not RTC memory
    if cfg["log"]:
        print("heap too split after the SMTP step: a 1 ms deep sleep for a fresh one")
    keep(machine, hop, print)
    machine.deepsleep(1)
