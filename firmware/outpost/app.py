# The imperative shell: wires hardware, clock, network and flash to the pure parts
# (rules, report, outbox, transport chain) and runs the sample loop. `machine` and `time` are
# handed in (outpost/run.py), as sensors.build takes its `machine`.
#
# One step: read the sensors, apply the rules, journal any alert, fold the sample into the
# report (sending it when due), then try the outbox, critical first. A round that finds every
# path down holds the whole outbox off with exponential backoff (see flush()).
#
# What a wake holds: a quiet step holds sensors, rules, the outbox, the clock and Wi-Fi. The
# alert's words and record code load when a rule fires and go once it is journalled; the
# transport chain loads when something is due to be sent and goes after it. The SMTP step
# itself runs with the app out of the heap (send_step, outpost/run.py).
import gc
import json

from outpost import clock, outbox, report, unload
from outpost.net import Net
from outpost_contract.rules import backoff, iso

RTC_MAGIC = "op1"
INFLIGHT = "inflight"     # the alert being sent, in case the board crashes (smtp_path.INFLIGHT)
CRASH_LIMIT = 3           # crashes while sending one alert before it is set aside
SHED_AFTER = 3            # failed attempts of a report before it sheds a part (charts, then CSV)


class Hop(BaseException):
    # ends App.run for the SMTP step (send_step); not an Exception, so no path or chain that
    # turns errors into outages catches it
    pass


class App:
    def __init__(self, cfg, board, machine, time):
        self.cfg = cfg
        self.board = board
        self.machine = machine
        self.time = time
        self.root = getattr(board, "FS_ROOT", "")
        self.wdt = None
        self.feed_ms = 10000
        self.led = None
        self.tried = {}       # id -> attempts since boot (or since the RTC kept them)
        self.down_rounds = 0  # consecutive rounds that found every path down
        self.hold_until = 0   # mono time before which the outbox waits (RAM only: flash wears)
        self.sent = 0
        self.crashed = {}     # id -> crashes while it was being sent (see in_flight)
        self.mqtt = None      # the MQTT path, when configured (kept between sends)
        self.chain = None     # the transport chain, while something is being sent
        self.readings = {}
        self.unsaved = []     # alerts that could not be journalled yet (out of memory)
        self.t0 = 0
        self.hop = None
        self.oom = 0          # steps in a row that ran out of memory
        self.current = None   # the id being sent
        self.auth_warned = False
        self.resume = None    # the id the SMTP step just sent (its outcome is read first)

    # --- plumbing ---------------------------------------------------------------------

    def path(self, name):
        return self.root + "/" + name if self.root else name

    def log(self, msg):
        if self.cfg["log"]:
            print("[" + iso(clock.now()) + "] " + msg)

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

    def boot(self, hop=None, wdt=None):
        """hop: the state an earlier App of this wake handed over for the SMTP step (send_step),
        with the watchdog it started; None at a reset."""
        cfg = self.cfg
        b = self.board
        machine = self.machine
        bb = b.BOARD
        if bb.get("led") is not None:
            if bb.get("led_type") == "neopixel":
                import neopixel
                self.led = neopixel.NeoPixel(machine.Pin(bb["led"]), 1)
            else:
                self.led = machine.Pin(bb["led"], machine.Pin.OUT)
        saved = hop if hop is not None else self.load_rtc()
        if hop is None:
            self.log("outpost on " + bb.get("name", "?") + " as " + cfg["device"])
        if saved is not None:
            boot, seq, mono = saved["boot"], saved["seq"], saved["mono"]
        else:
            from outpost import alerts
            boot, seq, mono = alerts.bump_boot_counter(self.path("boot.count")), 0, 0.0
            unload("outpost.alerts")
        self.boot_no = boot
        self.seq = seq
        self.mono = clock.Mono(mono, self.time)
        self.ob = outbox.Outbox(self.path(cfg["outbox"]["file"]), cfg["outbox"]["max_bytes"],
                                cfg["outbox"]["compact_at"], self.log)
        self.ob.open()
        unload("outpost_contract.record")   # read the journal's ids; loads again with an alert
        self.recover_in_flight()
        if len(self.ob) and hop is None:
            self.log("outbox: " + str(len(self.ob)) + " alert(s) waiting from before the reset")
        fitted = cfg["sensors"] if cfg["sensors"] is not None else bb.get("sensors", [])
        self.fitted = fitted
        if hop is None:
            # the check `make check` ran on the computer, run again on the board it is meant for
            from outpost import wiring
            bad = wiring.problems(cfg, bb)
            err = wiring.ConfigError("; ".join(bad)) if bad else None
            unload("outpost.wiring")
            if err is not None:
                raise err       # not outpost.config's: its 25 KB may not fit beside the app
        from outpost import sensors
        self.drivers = sensors.build(fitted, machine)
        self.rules = cfg["rules"]
        if hop is not None:
            self.meta = hop["meta"]
        else:
            from outpost import words
            self.meta = words.sensor_words(fitted, self.drivers)
            unload("outpost.words")
        # the last few readings of each ruled sensor, for the alert's body (RAM only)
        self.hist = {}
        for r in self.rules:
            self.hist[r["sensor"]] = []
        if hop is not None:
            self.hist = hop["hist"]
            self.readings = hop["readings"]
            self.resume = hop["resume"]
            self.auth_warned = hop["warned"]
            for rid in hop["crashed"]:
                self.crashed[rid] = max(self.crashed.get(rid, 0), hop["crashed"][rid])
        self.next_state = saved.get("next_state", 0) if saved else 0
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
            tried = saved.get("tried", {})
            for rid in tried:
                self.tried[rid] = tried[rid] if isinstance(tried, dict) else 1
        if cfg["mqtt"]["host"]:
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
        self.timeouts = {"smtp": cfg["smtp"]["timeout"], "mqtt": cfg["mqtt"]["timeout"],
                         "serial": cfg["serial"]["timeout"]}
        self.next_sample = self.mono()
        # the watchdog starts last: a config error found above must not become a reset loop
        if wdt is not None:
            self.wdt = wdt
            self.feed_ms = saved.get("feed_ms", self.feed_ms)
        elif cfg["watchdog"]:
            ms = cfg["watchdog"] * 1000
            cap = bb.get("wdt_max_ms")
            if cap and ms > cap:
                # e.g. the RP2040's watchdog stops at 8.3 s: path timeouts must stay below it
                self.log("watchdog: " + str(ms) + " ms is over this board's " + str(cap) + " ms; using " + str(cap))
                ms = cap
            self.wdt = machine.WDT(timeout=ms)
            self.feed_ms = min(self.feed_ms, ms // 2)
        if saved is None:
            self.log("boot " + str(boot) + "; " + str(len(self.drivers)) + " sensor(s), " +
                     str(len(self.rules)) + " rule(s)")

    def next_id(self):
        # "<device>-<boot>-<seq>" (the record's rule, outpost_contract.record.make_id)
        from outpost_contract.record import make_id
        self.seq += 1
        return make_id(self.cfg["device"], self.boot_no, self.seq)

    # --- state across deep sleep (RTC memory survives it, RAM does not) -----------------

    def load_rtc(self):
        m = self.machine
        if m.reset_cause() != m.DEEPSLEEP_RESET:
            return None
        try:
            d = json.loads(m.RTC().memory())
            if d.get("m") == RTC_MAGIC:
                return d
        except (ValueError, OSError, AttributeError):
            pass
        return None

    def state(self, sleep_s):
        return {"m": RTC_MAGIC, "boot": self.boot_no, "seq": self.seq,
                "mono": self.mono() + sleep_s, "states": self.states, "rep": self.rep,
                "next_report": self.next_report, "last_report": self.last_report,
                "next_beat": self.next_beat, "ntp_at": self.net.ntp_at,
                "down": self.down_rounds, "hold": self.hold_until, "tried": self.tried,
                "disc": self.mqtt is not None and self.mqtt.announced}

    def save_rtc(self, sleep_s):
        d = self.state(sleep_s)
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
        self.machine.RTC().memory(data.encode())

    def send_wake(self):
        # the SMTP step in a wake of its own (smtp_path.SmtpPath._by_wake), on a heap below
        # smtp.send_wake_below: the state goes to RTC memory as for a deep sleep; `inflight`
        # stays, so a crash in that wake counts
        if self.mqtt is not None:
            self.mqtt.close()
        self.save_rtc(0)
        self.machine.deepsleep(1)

    def send_step(self):
        # the SMTP step in this wake, with the app out of the heap: the state stays in RAM, the
        # app's modules are unloaded, outpost/run.py runs the step (sendwake.step) and boots an
        # App from this state, which reads the outcome. No reset, no new Wi-Fi association.
        if self.mqtt is not None:
            self.mqtt.close()
        d = self.state(0)
        d["t0"] = self.t0
        d["readings"] = self.readings
        d["hist"] = self.hist
        d["meta"] = self.meta
        d["crashed"] = self.crashed
        d["next_state"] = self.next_state
        d["feed_ms"] = self.feed_ms
        d["resume"] = self.current
        d["warned"] = self.auth_warned
        self.hop = d
        raise Hop()

    # --- the loop ---------------------------------------------------------------------

    def run(self, hop=None, wdt=None):
        """Boots, then samples until the board sleeps or stops. Returns the state for the SMTP
        step when one is due in this wake (see send_step); the caller boots an App from it."""
        self.boot(hop, wdt)
        try:
            while True:
                if hop is not None:
                    # back from the SMTP step: this step goes on where it stopped
                    self.t0 = hop["t0"]
                    hop = None
                    self.net.up()       # still associated: no new connection
                    delay = self.finish()
                else:
                    self.t0 = self.mono()
                    try:
                        delay = self.step()
                        self.oom = 0
                    except MemoryError:
                        # whatever ran out (a module to load, a sample), this step is lost and
                        # the next one comes at its time, never a crash; a heap too split for
                        # three steps in a row starts again fresh, its state kept in RTC memory
                        self.chain = self.smtp = None
                        gc.collect()
                        self.oom += 1
                        self.log("step: out of memory")
                        if self.oom >= 3:
                            self.log("heap too split: a 1 ms deep sleep for a fresh one")
                            self.save_rtc(0)
                            self.machine.deepsleep(1)
                        delay = self.cfg["sample_every"]
                self.idle(max(0, delay - (self.mono() - self.t0)))
        except Hop:
            return self.hop
        except KeyboardInterrupt:
            self.shutdown()
            raise

    def new_alert(self, event, csv=None):
        # journalled before any attempt; a record too large for the heap loses its CSV, then
        # its body, rather than reset the board before it is on flash
        now = clock.now()
        payload = None
        for part in range(3):
            try:
                from outpost import alerts
                rid = event.get("id") or self.next_id()
                event["id"] = rid
                rec = alerts.make_record(self.cfg["device"], rid, event, now if clock.is_set(now) else 0)
                if part == 2:
                    rec.pop("body", None)
                payload = alerts.to_payload(rec, csv if part == 0 else None)
                break
            except MemoryError:
                rec = None
                gc.collect()
        if payload is None:
            # not even the bare record fits now: it is made again at the next step, without
            # its CSV; a few at most wait so (the oldest goes first, counted as dropped)
            self.unsaved.append((event, None))
            if len(self.unsaved) > 4:
                self.ob.dropped += 1
                self.unsaved.pop(0)
            self.log("alert " + event.get("id", "?") + ": out of memory; journalled at the next step")
            return
        self.log("alert " + rid + " [" + rec["severity"] + "] " + rec["subject"] +
                 ("" if part == 0 else " (out of memory: " + ("without its CSV)" if part == 1 else "subject only)")))
        rec = None
        dropped = self.ob.add(payload)
        for d in dropped:
            self.tried.pop(d, None)

    def step(self):
        self.feed()
        mono = self.mono()
        self.net.up()
        self.keep_mqtt()
        from outpost import rules, sensors
        if self.drivers is None:
            self.drivers = sensors.build(self.fitted, self.machine)
        readings, errors = sensors.sample(self.drivers)
        self.readings = readings
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
        unsaved = self.unsaved
        self.unsaved = []
        for ev, csv in unsaved:
            self.new_alert(ev, csv)
        self.states, events = rules.evaluate(self.rules, self.states, readings, mono, wall,
                                             self.next_id, self.meta, self.hist)
        if events:
            unload("outpost.words")   # loaded by the rules to word these alerts
        for ev in events:
            self.new_alert(ev)
        rules = sensors = None
        self.do_report(readings)
        return self.finish()

    def finish(self):
        # the sending half of a step (also where a step goes on after the SMTP step)
        self.flush()
        self.heartbeat()
        self.publish_state(self.readings)
        unload("outpost.alerts")
        unload("outpost_contract.record")
        # the next sample, or sooner when a reminder is due before it: it goes at its time
        from outpost import rules
        delay = self.cfg["sample_every"]
        due = rules.next_due(self.rules, self.states)
        if due is not None and due - self.t0 < delay:
            delay = max(0, due - self.t0)
        gc.collect()
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
                     "alerts refused (5xx)": self.ob.dead, "boot": self.boot_no}
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

    def make_chain(self):
        # the chain, made when something is due to be sent (see flush); each path is made when
        # the chain reaches it and dropped after its attempt (make_path, drop_path)
        from outpost import transport
        tc = self.cfg["transport"]
        return transport.Chain(tc["order"], tc["budget"], self.log, self.mono, self.feed,
                               self.make_path, self.drop_path)

    def make_path(self, name):
        cfg = self.cfg
        if name == "mqtt":
            return self.mqtt    # None without mqtt.host; with it, the kept path
        if name == "serial":
            from outpost import transport
            return transport.SerialPath(cfg, self.log)
        from outpost import smtp_path
        smtp = smtp_path.SmtpPath(cfg, self.net, self.log, self.root)
        smtp.auth_warned = self.auth_warned     # a setup problem is said once, not per attempt
        self.smtp = smtp
        if sys_mp():
            # on the board the SMTP step runs with the app out of the heap: in this wake, or
            # after a reset on a heap below smtp.send_wake_below (sendwake.py)
            smtp.wake_resets = small_heap(cfg["smtp"]["send_wake_below"])
            smtp.wake = self.send_wake if smtp.wake_resets else self.send_step
        return smtp

    def drop_path(self, name, p):
        # after its attempt a path leaves the heap to the next one (the kept MQTT path stays)
        if name == "smtp" and p is not None:
            self.auth_warned = p.auth_warned
            self.smtp = None
            unload("outpost.smtp_path")

    def flush(self):
        # the alert's codec was for journalling it: sending reads the journal without it
        unload("outpost.alerts")
        unload("outpost_contract.record")
        self.send_round()
        self.resume = None
        # nothing of the chain stays in the heap between sends (the kept MQTT path is the app's)
        self.chain = self.smtp = None
        unload("outpost.transport")
        unload("outpost.smtp_path")
        unload("outpost.crash")
        gc.collect()

    def send_round(self):
        # Outages belong to the network, not to a record: when a round finds every path down,
        # the whole outbox holds off (backoff doubling per failed round). A critical alert is
        # still tried once at once, so it is not held behind an old outage.
        # an alert that was being sent when the board crashed goes after all the others
        for rid, sev, payload in self.ob.pending(self.crashed):
            fresh = rid not in self.tried
            again = rid == self.resume      # its SMTP step just ran: read the outcome
            if self.mono() < self.hold_until and not (fresh and sev == "critical") and not again:
                continue
            try:
                if self.chain is None:
                    if sys_mp():
                        # the sampling modules make room for the paths (the drivers are made
                        # again, and the modules loaded again, at the next sample)
                        self.drivers = None
                        unload("outpost.sensors")
                        unload("outpost.rules")
                    self.chain = self.make_chain()
                rec, data, csv = from_payload(payload)
            except ValueError as e:
                self.ob.fail(rid, "unreadable record: " + str(e))
                continue
            except MemoryError:
                # not even the paths load now: an outage of this round, with its backoff
                self.chain = self.smtp = None
                gc.collect()
                self.held(rid, ["out of memory loading the paths"])
                break
            payload = None
            # a report that keeps failing sheds what it can: its charts, then its CSV
            if not again:
                self.tried[rid] = self.tried.get(rid, 0) + 1
            shed = (self.tried[rid] - 1) // SHED_AFTER if rec["kind"] == "report" else 0
            self.current = rid
            self.set_led(True)
            self.in_flight(rid)
            # without a CSV, data is the record as journalled: the SMTP step's file takes it as is
            result = self.chain.send(rec, csv, self.timeouts, lambda: self.ob.done(rid), data, shed,
                                     data if csv is None else None)
            rec = data = csv = None
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
                if "out of memory" in " ".join(result[1]):
                    # the next attempt sheds the next part at once
                    self.tried[rid] = (self.tried[rid] // SHED_AFTER + 1) * SHED_AFTER
                self.held(rid, result[1])
                return
        self.flush_aside()

    def held(self, rid, reasons):
        # every path down this round: the whole outbox waits, the wait doubling per round
        tc = self.cfg["transport"]
        self.down_rounds += 1
        wait = backoff(self.down_rounds, tc["retry_min"], 2, tc["retry_max"])
        self.hold_until = self.mono() + wait
        self.log("kept " + rid + " in the outbox (" + "; ".join(reasons) +
                 "); next try in " + str(wait) + " s")

    def flush_aside(self):
        # an alert set aside (it crashed the board) still goes, in its plain form (crash.py),
        # on the first path that takes it, never only in the next report. Its `inflight` name
        # starts with "~": crashing the board even so, it is marked dead (see recover_in_flight)
        for rid, payload, why in self.ob.aside_records():
            if self.mono() < self.hold_until and rid != self.resume:
                return
            from outpost import alerts, crash
            try:
                if self.chain is None:
                    self.chain = self.make_chain()
                rec = crash.plain(alerts.from_payload(payload)[0], why)
            except ValueError as e:
                self.ob.fail(rid, "unreadable record: " + str(e))
                continue
            except MemoryError:
                self.chain = self.smtp = None
                gc.collect()
                self.held(rid, ["out of memory loading the paths"])
                return
            from outpost import smtp_path
            if rid != self.resume:
                smtp_path.remove(self.path(smtp_path.MAIL_FILE))    # the full email, if composed
            self.current = rid
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
                self.held(rid + " (plain form)", result[1])
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
        blamed = crash.blamed(self.machine, self.path(crash.MARK))
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
        if not every or self.mqtt is None or self.mono() < self.next_beat:
            return
        self.next_beat = self.mono() + every
        if not self.net.connected():
            return
        try:
            self.mqtt.beat(self.mono(), self.cfg["mqtt"]["timeout"])
        except Exception as e:   # Down, or a MemoryError: a lost beat, never a reset
            self.log("heartbeat: " + str(e))

    def publish_state(self, readings):
        # the latest readings, retained, for a live view (Home Assistant, a dashboard): at most
        # every mqtt.publish_every seconds, QoS 0, only over a connection the loop already keeps
        every = self.cfg["mqtt"]["publish_every"]
        if not every or self.mqtt is None or self.mono() < self.next_state or not readings:
            return
        if self.mqtt.sock is None:
            return
        self.next_state = self.mono() + every
        try:
            self.mqtt.state(readings, self.cfg["mqtt"]["timeout"])
        except Exception as e:
            self.log("state: " + str(e))

    def keep_mqtt(self):
        # pings the kept MQTT connection within its keepalive, notices a drop, reconnects with
        # backoff (see path_back)
        if self.mqtt is not None:
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
        if self.mqtt is not None:
            self.mqtt.close(offline=True)

    def idle(self, seconds):
        time = self.time
        if self.cfg["deep_sleep"]:
            # a clean DISCONNECT leaves the retained `online`: a board asleep on its schedule is
            # in service (`offline` would make the gateway mail "silent" at every sleep); a board
            # that does not wake up is caught by its overdue heartbeat
            if self.mqtt is not None:
                self.mqtt.close()
            self.save_rtc(seconds)
            self.log("deep sleep " + str(seconds) + " s")
            self.machine.deepsleep(int(seconds * 1000))
        end = time.ticks_add(time.ticks_ms(), int(seconds * 1000))
        while True:
            left = time.ticks_diff(end, time.ticks_ms())
            if left <= 0:
                return
            self.feed()
            time.sleep_ms(min(left, self.feed_ms, self.mqtt.poll_ms() if self.mqtt else 60000))
            self.keep_mqtt()


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


def hhmm(s):
    # "07:30" -> minutes after midnight (the config check already refused anything else)
    return int(s[:-3]) * 60 + int(s[-2:])
