# The app's boot (App.boot), loaded for it and unloaded after: its code runs once a wake, and a
# quiet step does not hold it. App.boot reads the journal and runs the crash bookkeeping once
# this module has gone.
import gc

from outpost import names, unload


def sensor_words(sensor_cfgs, drivers):
    """{reading: {label, on_text, off_text}} from the sensors' config, for the words an
    alert uses: only what the config sets (a reading without any is left out)."""
    out = {}
    for i in range(min(len(sensor_cfgs), len(drivers))):
        s = sensor_cfgs[i]
        d = drivers[i]
        for k in d.units:
            m = {}
            if s.get("label"):
                # a multi-quantity sensor: "Freezer" -> "Freezer temperature"
                m["label"] = s["label"] if k == s["name"] else s["label"] + " " + k[len(s["name"]) + 1:]
            for t in ("on_text", "off_text"):
                if s.get(t):
                    m[t] = s[t]
            if m:
                out[k] = m
    return out


def boot(a, hop, wdt):
    """App.boot: hop is the state an earlier App of this wake handed over for the SMTP step
    (App.hand_over), with the watchdog it started; None at a reset."""
    from outpost import clock, outbox
    from outpost.net import Net
    cfg = a.cfg
    machine = a.machine
    bb = a.board.BOARD
    deep = hop is None and machine.reset_cause() == machine.DEEPSLEEP_RESET
    if hop is None:
        # the names an alert's work interns (they stay) grow the name pool now, in a fresh
        # heap (outpost.names): a wake from deep sleep gets here only with work to do
        # (outpost/quiet.py), and one after a reset or power-on may find alerts waiting
        names()
        from outpost import rules, sensors  # noqa: F401 (loaded first, low in a fresh heap)
        rules = sensors = None
        unload("outpost_contract")      # their rules (backoff, severity): a quiet wake needs none
    if bb.get("led") is not None:
        if bb.get("led_type") == "neopixel":
            import neopixel
            a.led = neopixel.NeoPixel(machine.Pin(bb["led"]), 1)
        else:
            a.led = machine.Pin(bb["led"], machine.Pin.OUT)
    saved = hop
    if deep:
        from outpost import rtc
        saved = rtc.load(machine)
        unload("outpost.rtc")
    if hop is None:
        a.log("outpost on " + bb.get("name", "?") + " as " + cfg["device"])
    if saved is not None:
        boot, seq, mono = saved["boot"], saved["seq"], saved["mono"]
    else:
        from outpost import alerts
        boot, seq, mono = alerts.bump_boot_counter(a.path("boot.count")), 0, 0.0
    unload("outpost.alerts")
    a.boot_no = boot
    a.seq = seq
    a.mono = clock.Mono(mono, a.time)
    ob = cfg["outbox"]
    a.ob = outbox.Outbox(a.path(ob["file"]), ob["max_bytes"], ob["compact_at"], a.log)
    # App.boot reads the journal once this module has left the heap (after the SMTP step the
    # heap is at its tightest); crash.py's files, the alert in flight at a crash and main.py's
    # mark of a crash reset, say whether it needs crash.recover then
    a.crashed_files = outbox._exists(a.path("inflight")) or outbox._exists(a.path("reset.exc"))
    fitted = cfg["sensors"] if cfg["sensors"] is not None else bb.get("sensors", [])
    a.fitted = fitted
    if hop is None:
        # the check `make check` ran on the computer, run again on the board it is meant for
        from outpost import wiring
        bad = wiring.problems(cfg, bb)
        err = wiring.ConfigError("; ".join(bad)) if bad else None
        unload("outpost.wiring")
        if err is not None:
            raise err       # not outpost.config's: its 25 KB may not fit beside the app
    from outpost import sensors
    a.drivers = sensors.build(fitted, machine)
    a.rules = cfg["rules"]
    a.meta = hop["meta"] if hop is not None else sensor_words(fitted, a.drivers)
    unload("outpost.words")         # (loaded with the boot's passing modules)
    # the last few readings of each ruled sensor, for the alert's body (RAM only)
    a.hist = {}
    for r in a.rules:
        a.hist[r["sensor"]] = []
    if hop is not None:
        a.hist = hop["hist"]
        a.readings = hop["readings"]
        a.resume = hop["resume"]
        a.auth_warned = hop["warned"]
        a.unsaved = hop["unsaved"]
        for rid in hop["crashed"]:
            a.crashed[rid] = max(a.crashed.get(rid, 0), hop["crashed"][rid])
    a.next_state = saved.get("next_state", 0) if saved else 0
    a.states = saved["states"] if saved else [None] * len(a.rules)
    a.rep = saved["rep"] if saved else None
    a.next_report = saved["next_report"] if saved else None
    a.last_report = saved["last_report"] if saved else None
    a.net = Net(cfg["wifi"], cfg["ntp"], a.log, a.feed, a.mono)
    if saved:
        a.net.ntp_at = saved.get("ntp_at")  # the RTC kept the time through deep sleep
        # an outage outlives a deep sleep: keep its backoff rather than retry at every wake
        a.down_rounds = saved.get("down", 0)
        a.hold_until = saved.get("hold", 0)
        tried = saved.get("tried", {})
        for rid in tried:
            a.tried[rid] = tried[rid] if isinstance(tried, dict) else 1
    if cfg["mqtt"]["host"]:
        from outpost import mqtt_keep
        mqtt_keep.start(a, saved)
        unload("outpost.mqtt_keep")     # the path stays, not its start
    a.next_beat = saved.get("next_beat", 0) if saved else 0
    a.timeouts = {"smtp": cfg["smtp"]["timeout"], "mqtt": cfg["mqtt"]["timeout"],
                  "serial": cfg["serial"]["timeout"]}
    a.next_sample = a.mono()
    # the watchdog starts last: a config error found above must not become a reset loop
    # (one started already: by the App before the SMTP step, or by a wake's quiet look)
    if cfg["watchdog"]:
        ms = cfg["watchdog"] * 1000
        cap = bb.get("wdt_max_ms")
        if cap and ms > cap:
            if wdt is None:
                # e.g. the RP2040's watchdog stops at 8.3 s: path timeouts must stay below it
                a.log("watchdog: " + str(ms) + " ms is over this board's " + str(cap) +
                      " ms; using " + str(cap))
            ms = cap
        a.wdt = wdt or machine.WDT(timeout=ms)
        a.feed_ms = min(a.feed_ms, ms // 2)
    if saved is None:
        a.log("boot " + str(boot) + "; " + str(len(a.drivers)) + " sensor(s), " +
              str(len(a.rules)) + " rule(s)")
