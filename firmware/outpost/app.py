# The imperative shell: wires hardware, clock, network and flash to the pure parts
# (rules, report, outbox, transport chain) and runs the sample loop.
#
# One step: read the sensors, apply the rules, journal any alert, fold the sample into the
# report (sending it when due), then try the outbox, critical first. A round that finds every
# path down holds the whole outbox off with exponential backoff (see flush()).
import gc
import json
import time

import machine

from outpost import alerts, clock, outbox, report, rules, sensors, transport
from outpost.net import Net
from outpost_contract.rules import backoff

RTC_MAGIC = "op1"
INFLIGHT = transport.INFLIGHT
CRASH_LIMIT = 3           # crashes while sending one alert before it is set aside


class App:
    def __init__(self, cfg, board):
        self.cfg = cfg
        self.board = board
        self.root = getattr(board, "FS_ROOT", "")
        self.wdt = None
        self.feed_ms = 10000
        self.led = None
        self.tried = {}       # ids tried at least once since boot
        self.down_rounds = 0  # consecutive rounds that found every path down
        self.hold_until = 0   # mono time before which the outbox waits (RAM only: flash wears)
        self.sent = 0
        self.crashed = {}     # id -> crashes while it was being sent (see in_flight)

    # --- plumbing ---------------------------------------------------------------------

    def path(self, name):
        return self.root + "/" + name if self.root else name

    def log(self, msg):
        if self.cfg["log"]:
            print("[" + report.iso(clock.now()) + "] " + msg)

    def feed(self):
        if self.wdt is not None:
            self.wdt.feed()

    def set_led(self, on):
        # lit while an alert is being sent
        if self.led is None:
            return
        if hasattr(self.led, "write"):  # a WS2812: dim blue
            self.led[0] = (0, 0, 24) if on else (0, 0, 0)
            self.led.write()
        else:
            self.led.value((not on) if self.board.BOARD.get("led_invert") else on)

    # --- boot -------------------------------------------------------------------------

    def boot(self):
        cfg = self.cfg
        b = self.board.BOARD
        if b.get("led") is not None:
            if b.get("led_type") == "neopixel":
                import neopixel
                self.led = neopixel.NeoPixel(machine.Pin(b["led"]), 1)
            else:
                self.led = machine.Pin(b["led"], machine.Pin.OUT)
        self.log("outpost on " + b.get("name", "?") + " as " + cfg["device"])
        saved = self.load_rtc()
        if saved is not None:
            boot, seq, mono = saved["boot"], saved["seq"], saved["mono"]
        else:
            boot, seq, mono = alerts.bump_boot_counter(self.path("boot.count")), 0, 0.0
        self.ids = alerts.Ids(cfg["device"], boot, seq)
        self.mono = clock.Mono(mono)
        self.ob = outbox.Outbox(self.path(cfg["outbox"]["file"]), cfg["outbox"]["max_bytes"],
                                cfg["outbox"]["compact_at"], self.log)
        self.ob.open()
        self.recover_in_flight()
        if len(self.ob):
            self.log("outbox: " + str(len(self.ob)) + " alert(s) waiting from before the reset")
        fitted = cfg["sensors"] if cfg["sensors"] is not None else b.get("sensors", [])
        # the check `make check` ran on the computer, run again on the board it is meant for
        from outpost import wiring
        bad = wiring.problems(cfg, b)
        err = wiring.ConfigError("; ".join(bad)) if bad else None
        transport.unload("outpost.wiring")
        if err is not None:
            raise err       # not outpost.config's: its 25 KB may not fit beside the app
        self.drivers = sensors.build(fitted, machine)
        self.rules = cfg["rules"]
        from outpost import words
        self.meta = words.sensor_words(fitted, self.drivers)
        transport.unload("outpost.words")
        # the last few readings of each ruled sensor, for the alert's body (RAM only)
        self.hist = {}
        for r in self.rules:
            self.hist[r["sensor"]] = []
        self.next_state = 0
        self.states = saved["states"] if saved else [None] * len(self.rules)
        self.rep = saved["rep"] if saved else None
        self.next_report = saved["next_report"] if saved else None
        self.last_report = saved["last_report"] if saved else None
        self.net = Net(cfg["wifi"], cfg["ntp"], self.log, self.feed, self.mono)
        if saved:
            self.net.ntp_at = saved.get("ntp_at")  # the RTC kept the time through deep sleep
            # an outage outlives a deep sleep: keep its backoff rather than retry at every wake
            self.down_rounds = saved.get("down", 0)
            self.hold_until = saved.get("hold", 0)
            for rid in saved.get("tried", []):
                self.tried[rid] = True
        # one kept connection; with deep sleep one per wake-up (closed before sleeping)
        from outpost.mqtt_path import MqttPath
        self.mqtt = MqttPath(cfg, self.net, self.log, self.mono, keep=not cfg["deep_sleep"])
        self.mqtt.on_up = self.path_back
        if cfg["mqtt"]["discovery"]:
            cat = []
            for d in self.drivers:
                for k in d.units:
                    cat.append((k, d.units[k], self.meta.get(k, {}).get("label")))
            self.mqtt.catalog = cat
            self.mqtt.announced = bool(saved and saved.get("disc"))
        self.next_beat = saved.get("next_beat", 0) if saved else 0
        paths = {"smtp": transport.SmtpPath(cfg, self.net, self.log, self.root),
                 "mqtt": self.mqtt,
                 "serial": transport.SerialPath(cfg, self.log)}
        if small_heap(cfg["smtp"]["send_wake_below"]):
            paths["smtp"].wake = self.send_wake
        self.chain = transport.Chain([paths[n] for n in cfg["transport"]["order"]],
                                     cfg["transport"]["budget"], self.log, self.mono, self.feed)
        self.timeouts = {"smtp": cfg["smtp"]["timeout"], "mqtt": cfg["mqtt"]["timeout"],
                         "serial": cfg["serial"]["timeout"]}
        self.next_sample = self.mono()
        # the watchdog starts last: a config error found above must not become a reset loop
        if cfg["watchdog"]:
            ms = cfg["watchdog"] * 1000
            cap = b.get("wdt_max_ms")
            if cap and ms > cap:
                # e.g. the RP2040's watchdog stops at 8.3 s: path timeouts must stay below it
                self.log("watchdog: " + str(ms) + " ms is over this board's " + str(cap) + " ms; using " + str(cap))
                ms = cap
            self.wdt = machine.WDT(timeout=ms)
            self.feed_ms = min(self.feed_ms, ms // 2)
        if saved is None:
            self.log("boot " + str(boot) + "; " + str(len(self.drivers)) + " sensor(s), " +
                     str(len(self.rules)) + " rule(s)")

    # --- state across deep sleep (RTC memory survives it, RAM does not) -----------------

    def load_rtc(self):
        if machine.reset_cause() != machine.DEEPSLEEP_RESET:
            return None
        try:
            d = json.loads(machine.RTC().memory())
            if d.get("m") == RTC_MAGIC:
                return d
        except (ValueError, OSError, AttributeError):
            pass
        return None

    def save_rtc(self, sleep_s):
        d = {"m": RTC_MAGIC, "boot": self.ids.boot, "seq": self.ids.seq,
             "mono": self.mono() + sleep_s, "states": self.states, "rep": self.rep,
             "next_report": self.next_report, "last_report": self.last_report,
             "next_beat": self.next_beat, "ntp_at": self.net.ntp_at,
             "down": self.down_rounds, "hold": self.hold_until, "tried": list(self.tried),
             "disc": self.mqtt.announced}
        data = json.dumps(d)
        while len(data) > 2000 and self.rep and self.rep["rows"]:
            # RTC memory is small: the CSV keeps the newer half
            self.rep["rows"] = self.rep["rows"][len(self.rep["rows"]) // 2 + 1:]
            d["rep"] = self.rep
            data = json.dumps(d)
        if len(data) > 2000:
            self.log("rtc: state too large for RTC memory; the report restarts after this sleep")
            d["rep"] = None
            d["next_report"] = None
            data = json.dumps(d)
        machine.RTC().memory(data.encode())

    def send_wake(self):
        # the SMTP step in a wake of its own (transport.SmtpPath._by_wake): the state goes to
        # RTC memory as for a deep sleep; `inflight` stays, so a crash in that wake counts
        self.mqtt.close()
        self.save_rtc(0)
        machine.deepsleep(1)

    # --- the loop ---------------------------------------------------------------------

    def new_alert(self, event, csv=None):
        rid = event.get("id") or self.ids.next()
        now = clock.now()
        rec = alerts.make_record(self.cfg["device"], rid, event, now if clock.is_set(now) else 0)
        self.log("alert " + rid + " [" + rec["severity"] + "] " + rec["subject"])
        dropped = self.ob.add(alerts.to_payload(rec, csv))   # journalled before any attempt
        for d in dropped:
            self.tried.pop(d, None)

    def step(self):
        self.feed()
        mono = self.mono()
        self.net.up()
        self.keep_mqtt()
        readings, errors = sensors.sample(self.drivers)
        for name in errors:
            self.log("sensor " + name + ": " + errors[name])
        if self.cfg["log"]:
            self.log("sample " + " ".join([k + "=" + ("-" if readings[k][0] is None else str(readings[k][0]))
                                             for k in readings]))
        wall = clock.now()
        wall = wall if clock.is_set(wall) else 0
        for name in self.hist:
            h = self.hist[name]
            h.append((wall, readings.get(name, (None, ""))[0]))
            if len(h) > rules.HISTORY:
                h.pop(0)
        self.states, events = rules.evaluate(self.rules, self.states, readings, mono, wall,
                                             self.ids.next, self.meta, self.hist)
        if events:
            transport.unload("outpost.words")   # loaded by the rules to word these alerts
        for ev in events:
            self.new_alert(ev)
        self.do_report(readings)
        self.flush()
        self.heartbeat()
        self.publish_state(readings)
        gc.collect()
        # the next sample, or sooner when a reminder is due before it: it goes at its time
        delay = self.cfg["sample_every"]
        due = rules.next_due(self.rules, self.states)
        if due is not None and due - mono < delay:
            delay = max(0, due - mono)
        return delay

    def do_report(self, readings):
        rc = self.cfg["report"]
        now = clock.now()
        if not clock.is_set(now):
            return  # a report needs dates; samples wait until NTP has set the clock
        if self.rep is None:
            self.rep = report.new(now, rc["csv_every"])
        at = hhmm(rc["at"]) if rc["at"] else None
        if self.next_report is None:
            self.next_report = report.next_due(now, at, rc["tz_offset_min"], rc["every"], self.last_report)
        report.add(self.rep, readings, now, rc["max_rows"])
        if self.next_report is not None and now >= self.next_report:
            extra = {"alerts queued": len(self.ob), "alerts dropped (outbox full)": self.ob.dropped,
                     "alerts refused (5xx)": self.ob.dead, "boot": self.ids.boot}
            aside = self.ob.aside()
            if aside:
                extra["alerts set aside (crashed the board)"] = \
                    ", ".join([a[0] + ": " + a[1] for a in aside])
            subj, body = report.summary(self.rep, self.cfg["device"], now, extra)
            self.new_alert({"kind": "report", "severity": "info", "subject": subj, "body": body},
                           report.csv_text(self.rep))
            self.last_report = now
            self.rep = report.new(now, rc["csv_every"])
            self.next_report = report.next_due(now, at, rc["tz_offset_min"], rc["every"], now)

    def flush(self):
        # Outages belong to the network, not to a record: when a round finds every path down,
        # the whole outbox holds off (backoff doubling per failed round). A critical alert is
        # still tried once at once, so it is not held behind an old outage.
        tc = self.cfg["transport"]
        # an alert that was being sent when the board crashed goes after all the others
        for rid, sev, payload in self.ob.pending(self.crashed):
            fresh = rid not in self.tried
            if self.mono() < self.hold_until and not (fresh and sev == "critical"):
                continue
            self.tried[rid] = True
            try:
                rec, data, csv = alerts.from_payload(payload)
            except ValueError as e:
                self.ob.fail(rid, "unreadable record: " + str(e))
                continue
            self.set_led(True)
            self.in_flight(rid)
            result = self.chain.send(rec, csv, self.timeouts, lambda: self.ob.done(rid), data)
            self.in_flight(None)
            self.crashed.pop(rid, None)
            self.set_led(False)
            self.feed()
            if result[0] == "sent":
                self.ob.done(rid)
                self.tried.pop(rid, None)
                self.down_rounds = 0
                self.hold_until = 0
                self.sent += 1
                self.log("sent " + rid + " via " + result[1])
            elif result[0] == "dead":
                self.ob.fail(rid, result[1])
                self.tried.pop(rid, None)
                self.log("REFUSED " + rid + " for good: " + result[1])
            else:
                self.down_rounds += 1
                wait = backoff(self.down_rounds, tc["retry_min"], 2, tc["retry_max"])
                self.hold_until = self.mono() + wait
                self.log("kept " + rid + " in the outbox (" + "; ".join(result[1]) +
                         "); next try in " + str(wait) + " s")
                return
        self.flush_aside()

    def flush_aside(self):
        # an alert set aside (it crashed the board) still goes, in its plain form (crash.py),
        # on the first path that takes it, never only in the next report. Its `inflight` name
        # starts with "~": crashing the board even so, it is marked dead (see recover_in_flight)
        for rid, payload, why in self.ob.aside_records():
            if self.mono() < self.hold_until:
                return
            from outpost import crash
            try:
                rec = crash.plain(alerts.from_payload(payload)[0], why)
            except ValueError as e:
                self.ob.fail(rid, "unreadable record: " + str(e))
                continue
            transport.remove(self.path(transport.MAIL_FILE))    # the full email, if composed
            self.in_flight("~" + rid)
            result = self.chain.send(rec, None, self.timeouts, lambda: self.ob.done(rid))
            self.in_flight(None)
            self.feed()
            if result[0] == "sent":
                self.ob.done(rid)
                self.log("sent " + rid + " (plain form) via " + result[1])
            elif result[0] == "dead":
                self.ob.fail(rid, result[1])
                self.log("REFUSED " + rid + " for good: " + result[1])
            else:
                self.down_rounds += 1
                tc = self.cfg["transport"]
                self.hold_until = self.mono() + backoff(self.down_rounds, tc["retry_min"], 2, tc["retry_max"])
                self.log("kept " + rid + " (plain form) in the outbox (" + "; ".join(result[1]) + ")")
                return

    # --- no reset loops: an alert that crashes the board is tried last, then set aside ---
    # `inflight` on flash names the alert being sent and how often it already crashed the
    # board; it is removed when the attempt returns, whatever the outcome.

    def in_flight(self, rid):
        path = self.path(INFLIGHT)
        if rid is None:
            try:
                import os
                os.remove(path)
            except OSError:
                pass
            return
        with open(path, "w") as f:
            f.write(rid + " " + str(self.crashed.get(rid, 0)))

    def recover_in_flight(self):
        # only a reset the firmware can blame (watchdog, main.py after an exception) counts
        # against the alert; after a power cut it is simply tried again (crash.py)
        from outpost import crash
        blamed = crash.blamed(machine, self.path(crash.MARK))
        try:
            with open(self.path(INFLIGHT)) as f:
                rid, _, n = f.read().partition(" ")
            n = int(n) + (1 if blamed else 0)
        except (OSError, ValueError):
            return
        self.in_flight(None)
        plain = rid.startswith("~")
        rid = rid[1:] if plain else rid
        if not self.ob.has(rid) or not n:
            return
        if plain:
            # even its plain form crashed the board: out of the queue, counted, never a loop
            self.ob.fail(rid, "the board crashed while sending it, even in plain form")
            return
        if n >= CRASH_LIMIT:
            self.ob.set_aside(rid, "the board crashed " + str(n) + " times while sending it")
        else:
            self.crashed[rid] = n
            self.log("outbox: " + rid + " was being sent when the board crashed (" + str(n) +
                     " time(s)); it goes last")

    def heartbeat(self):
        every = self.cfg["mqtt"]["heartbeat"]
        if not every or not self.mqtt.enabled() or self.mono() < self.next_beat:
            return
        self.next_beat = self.mono() + every
        if not self.net.connected():
            return
        try:
            self.mqtt.beat(self.mono(), self.cfg["mqtt"]["timeout"])
        except transport.Down as e:
            self.log("heartbeat: " + str(e))

    def publish_state(self, readings):
        # the latest readings, retained, for a live view (Home Assistant, a dashboard): at most
        # every mqtt.publish_every seconds, QoS 0, only over a connection the loop already keeps
        every = self.cfg["mqtt"]["publish_every"]
        if not every or not self.mqtt.enabled() or self.mono() < self.next_state:
            return
        if self.mqtt.client is None:
            return
        self.next_state = self.mono() + every
        try:
            self.mqtt.state(readings, self.cfg["mqtt"]["timeout"])
        except transport.Down as e:
            self.log("state: " + str(e))

    def keep_mqtt(self):
        # pings the kept MQTT connection within its keepalive, notices a drop, reconnects with
        # backoff (see path_back)
        self.mqtt.service(self.cfg["mqtt"]["timeout"])
        self.feed()

    def path_back(self):
        # the broker took a new connection (from the loop, a heartbeat or an alert): the
        # outbox's hold ends, so what waits goes out at the next flush, not at the end of backoff
        if self.hold_until:
            self.log("outbox: a path is back, retrying at the next sample")
        self.hold_until = 0

    def shutdown(self):
        # the app stops on purpose (Ctrl-C): the gateway should know at once, not by a timeout
        self.log("stopping: status offline")
        self.mqtt.close(offline=True)

    def idle(self, seconds):
        if self.cfg["deep_sleep"]:
            # a clean DISCONNECT leaves the retained `online`: a board asleep on its schedule is
            # in service (`offline` would make the gateway mail "silent" at every sleep); a board
            # that does not wake up is caught by its overdue heartbeat
            self.mqtt.close()
            self.save_rtc(seconds)
            self.log("deep sleep " + str(seconds) + " s")
            machine.deepsleep(int(seconds * 1000))
        end = time.ticks_add(time.ticks_ms(), int(seconds * 1000))
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return
            self.feed()
            time.sleep_ms(min(left, self.feed_ms, self.mqtt.poll_ms()))
            self.keep_mqtt()


def small_heap(kb):
    # too small for the app, usmtp and a TLS handshake at once (on the 64-bit unix port they
    # need about 193 KB together): the SMTP step then runs in a send wake (sendwake.py)
    import sys
    if sys.implementation.name != "micropython":
        return False        # the emulated board: CPython has the room
    return gc.mem_free() + gc.mem_alloc() < kb * 1024


def hhmm(s):
    # "07:30" -> minutes after midnight (the config check already refused anything else)
    return int(s[:-3]) * 60 + int(s[-2:])


CONFIG_FILE = "config.json"


def load_config(root=""):
    """The config `make deploy` checked in full on the computer and wrote compact
    (tools/deploy_tree.py): the board reads it without loading the checker. Without that file
    (a config_local.py copied by hand) the full check runs here."""
    try:
        f = open(root + "/" + CONFIG_FILE if root else CONFIG_FILE)
    except OSError:
        from outpost import config
        return config.load()
    with f:
        try:
            return json.load(f)
        except ValueError as e:
            from outpost import config
            raise config.ConfigError(CONFIG_FILE + ": unreadable (" + str(e) + "); deploy again")


def main():
    import board
    try:
        cfg = load_config(getattr(board, "FS_ROOT", ""))
        app = App(cfg, board)
        app.boot()
    except ValueError as e:
        if e.__class__.__name__ != "ConfigError":   # outpost.config is not loaded to ask it
            raise
        # the board cannot run: it says so over every path it can reach, then sleeps with a
        # long backoff and says it again, never resetting (the watchdog is not started yet)
        app = None
        g = globals()
        for k in ("alerts", "outbox", "report", "rules", "sensors", "App"):
            g.pop(k, None)      # with cfgerror's unload, room for a TLS handshake
        from outpost import cfgerror
        cfgerror.run(e, getattr(board, "FS_ROOT", ""))
    try:
        while True:
            t0 = app.mono()
            delay = app.step()
            app.idle(max(0, delay - (app.mono() - t0)))
    except KeyboardInterrupt:
        app.shutdown()
        raise
