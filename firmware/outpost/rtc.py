# The app's state across a deep sleep (RTC memory survives it, RAM does not), and the same
# state handed over in RAM for the SMTP step of this wake (outpost/run.py). Loaded at a boot
# from deep sleep and when the board sleeps or hops; a quiet wake without deep sleep never
# loads it.
import json

MAGIC = "op1"
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


def state(a, sleep_s, ram=False):
    # one dict display, sized once: at the hop to the SMTP step the heap can be too split for
    # a dict that grows key by key (its table is allocated again, larger, beside the old one)
    d = {"m": MAGIC, "boot": a.boot_no, "seq": a.seq,
         "mono": a.mono() + sleep_s, "states": a.states, "rep": a.rep,
         "next_report": a.next_report, "last_report": a.last_report,
         "next_beat": a.next_beat, "ntp_at": a.net.ntp_at,
         "down": a.down_rounds, "hold": a.hold_until, "tried": a.tried,
         "disc": a.mqtt is not None and a.mqtt.announced,
         # what only the App after the SMTP step of this wake reads (RAM, not RTC memory)
         "mq": None, "t0": a.t0, "readings": a.readings, "hist": a.hist, "meta": a.meta,
         "crashed": a.crashed, "next_state": a.next_state, "feed_ms": a.feed_ms,
         "resume": a.current, "warned": a.auth_warned}
    if not ram:
        for k in RAM_ONLY + ("next_state", "feed_ms"):
            d.pop(k)
    return d


RAM_ONLY = ("mq", "t0", "readings", "hist", "meta", "crashed", "resume", "warned")


def save(a, sleep_s):
    keep(a.machine, state(a, sleep_s), a.log)


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


def hop_state(a):
    """App.run, at the Hop (sending.hop raised it, so the send's frames, the chain and the
    record, have unwound and the step's modules gone): the state for the SMTP step of this
    wake, with the app out of the heap (run.py runs the step, sendwake.step, and boots an App
    from this state, which reads the outcome: no reset, no new Wi-Fi association). Without room
    for it even now, the step goes in a send wake (a deep sleep of 1 ms; main.py runs it
    before it loads the app), as on a board below smtp.send_wake_below."""
    import gc
    try:
        d = state(a, 0, True)
    except MemoryError:
        d = None
        gc.collect()
    if d is None:
        a.log("smtp: out of memory for the SMTP step in this wake; it goes in a send wake")
        if a.mqtt is not None:
            a.mqtt.close()
        try:
            save(a, 0)
        except MemoryError:
            pass    # the alert and mail.go are on flash: the send wake sends it all the same
        a.machine.deepsleep(1)
    # last, once nothing above can run out of memory: a plain MQTT connection stays open
    # through the step, and the App after it takes it over (mqtt_keep.start)
    if a.mqtt is not None:
        d["mq"] = a.mqtt.hand_over()
    return d


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
