# The app's wake: wires hardware, clock, network and flash to the pure parts (rules,
# report, outbox) and runs the sample loop. `machine` and `time` are handed in
# (outpost/run.py), as sensors.build takes its `machine`.
#
# One step: read the sensors, apply the rules, journal any alert, fold the sample into the
# report (journalling it when due), then send what the outbox holds. Each other job is a file
# of its own, loaded only when a step needs it:
#   alerting.py   an event becomes a journalled alert; the day's report when due
#   sending.py    the sending half: the outbox over the transport chain, with backoff
#   crash.py      the crash bookkeeping (`inflight`, whose fault a reset was)
#   rtc.py        the state across deep sleep, and the hop to the SMTP step (run.py)
#   mqtt_keep.py  the kept MQTT connection, started at boot (mqtt_path.py keeps it)
# What a wake holds: a quiet step holds this module, sensors, rules, report, the outbox, the
# clock and Wi-Fi. The alert's words and journalling code load when a rule fires and go once it
# is journalled; the transport chain loads when something is due to be sent and goes after it.
# The SMTP step itself runs with the app out of the heap (App.hand_over, outpost/run.py).
import gc

from outpost import clock, report, unload


class Hop(BaseException):
    # ends App.run for the SMTP step (sending.hop raises it, App.hand_over follows); not an Exception, so no path or chain
    # that turns errors into outages catches it
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
        self.crashed = {}     # id -> crashes while it was being sent (see crash.py)
        self.mqtt = None      # the MQTT path, when configured (kept between sends)
        self.chain = None     # the transport chain, while something is being sent
        self.readings = {}
        self.unsaved = []     # alerts that could not be journalled yet (out of memory)
        self.t0 = 0
        self.oom = 0          # steps in a row that ran out of memory
        self.short = False    # this step ran short of heap somewhere (see run)
        self.current = None   # the id being sent
        self.auth_warned = False
        self.resume = None    # the id the SMTP step just sent (its outcome is read first)
        self.first = None     # the sample a quiet look took (outpost/quiet.py), for the first step

    # --- plumbing ---------------------------------------------------------------------

    def path(self, name):
        return self.root + "/" + name if self.root else name

    def log(self, msg):
        if self.cfg["log"]:
            print("[" + clock.iso(clock.now()) + "] " + msg)

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
        """hop: the state an earlier App of this wake handed over for the SMTP step (App.hand_over),
        with the watchdog it started; None at a reset. The work is startup.py's, which leaves
        the heap after it."""
        if self.cfg["mqtt"]["host"]:
            # the kept connection's code loads first, low in a fresh heap: it stays, what the
            # boot loads after it goes and leaves its room in one piece
            from outpost import mqtt_keep   # noqa: F401 (started by startup.boot)
        from outpost import startup
        try:
            startup.boot(self, hop, wdt)
        finally:
            startup = None
            unload("outpost.startup")
        self.ob.open()      # the journal, read with the boot's code out of the heap
        unload("outpost_contract.record")   # read the journal's ids; loads again with an alert
        if self.crashed_files:
            from outpost import crash
            crash.recover(self)
        unload("outpost.crash")             # (loaded with the boot's passing modules)
        if len(self.ob) and hop is None:
            self.log("outbox: " + str(len(self.ob)) + " alert(s) waiting from before the reset")

    def next_id(self):
        # "<device>-<boot>-<seq>" (alerts.make_id: the alert's code, loaded to journal it,
        # without the record codec)
        from outpost.alerts import make_id
        self.seq += 1
        return make_id(self.cfg["device"], self.boot_no, self.seq)

    # --- the loop ---------------------------------------------------------------------

    def run(self, hop=None, wdt=None):
        """Boots, then samples until the board sleeps or stops. Returns the state for the SMTP
        step when one is due in this wake (see App.hand_over); the caller boots an App from it."""
        self.boot(hop, wdt)
        try:
            while True:
                if hop is not None:
                    # back from the SMTP step, or from a clean heap: this step goes on where
                    # it stopped
                    self.t0 = hop["t0"]
                    self.oom = hop["oom"]
                    hop = None
                    self.net.up()       # still associated: no new connection
                    step = self.settle      # a step that runs out of memory here is lost too
                else:
                    self.t0 = self.mono()
                    step = self.step
                self.short = False
                try:
                    delay = step()
                    if not self.short:
                        self.oom = 0
                except MemoryError:
                    self.short = True
                    delay = None
                if self.short:
                    # whatever ran out (a module to load, a sample, an alert's record), never
                    # a crash: the first time, the step goes on in a clean heap (the Hop: the
                    # app leaves the heap and boots again, in this wake, no reset). A heap
                    # still too split for three steps in a row starts again fresh, its state
                    # kept in RTC memory
                    self.chain = self.smtp = None
                    gc.collect()
                    self.oom += 1
                    self.log("step: out of memory")
                    if self.oom == 1:
                        self.current = None     # (the SMTP step's outcome is read after its Hop only)
                        raise Hop()
                    if self.oom >= 3:
                        self.log("heap too split: a 1 ms deep sleep for a fresh one")
                        # the step's modules make room for the one that saves the state
                        self.drop_step()
                        from outpost import rtc
                        rtc.save(self, 0)
                        self.machine.deepsleep(1)
                    if delay is None:
                        delay = self.cfg["sample_every"]
                self.idle(max(0, delay - (self.mono() - self.t0)))
        except Hop:
            return self.hand_over()
        except KeyboardInterrupt:
            self.shutdown()
            raise

    def hand_over(self):
        # at the Hop, the send's frames (or the step's) have unwound: the step's modules go,
        # then the state is built in the room they leave. Nothing here loads a module: new
        # names could need a new block of the name pool, and a Hop for memory comes when
        # there is no room for one
        self.drop_step()
        try:
            d = self.state(0)
        except MemoryError:
            d = None
        if d is None:
            from outpost import rtc
            rtc.no_room(self)   # the SMTP step in a send wake: a deep sleep
        # last, once nothing above can run out of memory: a plain MQTT connection stays open
        # through the step, and the App after it takes it over (mqtt_keep.start)
        if self.mqtt is not None:
            d["mq"] = self.mqtt.hand_over()
        return d

    def state(self, sleep_s):
        """What the App after this one needs: after the SMTP step or a Hop for memory, in
        RAM (run.py); after a deep sleep, the part rtc.save keeps in RTC memory. One dict
        display, sized once: at a Hop the heap can be too split for a dict that grows key by
        key (its table is allocated again, larger, beside the old one)."""
        return {"m": "op1", "boot": self.boot_no, "seq": self.seq,
                "mono": self.mono() + sleep_s, "states": self.states, "rep": self.rep,
                "next_report": self.next_report, "last_report": self.last_report,
                "next_beat": self.next_beat, "ntp_at": self.net.ntp_at,
                "down": self.down_rounds, "hold": self.hold_until, "tried": self.tried,
                "disc": self.mqtt is not None and self.mqtt.announced,
                # RAM only (rtc.RAM_ONLY): what the App after a Hop reads
                "mq": None, "t0": self.t0, "readings": self.readings, "hist": self.hist,
                "meta": self.meta, "crashed": self.crashed, "next_state": self.next_state,
                "feed_ms": self.feed_ms, "resume": self.current, "warned": self.auth_warned,
                "unsaved": self.unsaved, "oom": self.oom, "pend": len(self.ob)}

    def drop_step(self):
        # what a step loaded, and its sensors' drivers: the App after a deep sleep or the SMTP
        # step loads them again (the kept MQTT path's module stays with its connection)
        self.chain = self.smtp = self.drivers = None
        for m in ("sensors", "rules", "alerting", "sending", "words", "alerts", "transport",
                  "smtp_path", "smtp_hop", "serial_path", "mqtt_send", "crash"):
            unload("outpost." + m)
        unload("outpost_contract.record")
        gc.collect()

    def step(self):
        self.feed()
        mono = self.mono()
        self.net.up()
        self.keep_mqtt()
        from outpost import rules, sensors
        if self.drivers is None:
            self.drivers = sensors.build(self.fitted, self.machine)
        readings, errors = self.first or sensors.sample(self.drivers)
        self.first = None
        self.readings = readings
        for name in errors:
            self.log("sensor " + name + ": " + errors[name])
        if self.cfg["log"]:
            self.log(sensors.line(readings))
        wall = clock.now()
        wall = wall if clock.is_set(wall) else 0
        for name in self.hist:
            h = self.hist[name]
            h.append((wall, readings.get(name, (None, ""))[0]))
            if len(h) > rules.HISTORY:
                h.pop(0)
        self.states, events = rules.evaluate(self.rules, self.states, readings, mono, wall,
                                             self.next_id, self.meta, self.hist)
        # the new alerts wait with any earlier ones until each is journalled: a step that runs
        # out of heap on the way loses none (the next step journals them)
        for ev in events:
            self.unsaved.append((ev, None))
        events = None
        rules = sensors = None
        self.journal()
        self.do_report(readings)
        return self.finish()

    def settle(self):
        # a step after the Hop: what it had not journalled, then its sending half
        self.journal()
        return self.finish()

    def journal(self):
        if self.unsaved:
            unload("outpost.words")   # loaded by the rules to word the alerts
            todo = self.unsaved
            self.unsaved = []
            try:
                from outpost import alerting
                while todo:
                    ev, csv = todo[0]
                    alerting.new_alert(self, ev, csv)    # into self.unsaved again if it cannot
                    todo.pop(0)
            finally:
                todo.extend(self.unsaved)   # what this step did not reach goes first next time
                self.unsaved = todo
            if self.unsaved:
                self.short = True

    def finish(self):
        # the sending half of a step (also where a step goes on after the SMTP step); the
        # alert's code was for journalling it, and goes before the sending half loads
        unload("outpost.alerting")
        unload("outpost.alerts")
        unload("outpost_contract.record")
        gc.collect()
        if len(self.ob) or self.chain is not None:
            from outpost import sending
            sending.flush(self)
            unload("outpost.sending")
        else:
            self.resume = None      # nothing to send: the sending half stays on flash
        if self.mqtt is not None:
            self.mqtt.after_step(self)      # the heartbeat and the live readings, when due
        unload("outpost.alerts")            # a report's CSV loads them again to send it
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
        self.rep, self.next_report = report.begun(self.rep, self.next_report, self.last_report,
                                                  rc, now)
        report.add(self.rep, readings, now, rc["max_rows"])
        if self.next_report is not None and now >= self.next_report:
            from outpost import alerting
            alerting.report_due(self, now, report.hhmm(rc["at"]))

    def keep_mqtt(self):
        # pings the kept MQTT connection within its keepalive, notices a drop, reconnects with
        # backoff (see MqttPath._connect)
        if self.mqtt is not None:
            self.mqtt.service(self.cfg["mqtt"]["timeout"])
        self.feed()

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
            from outpost import rtc
            rtc.save(self, seconds)
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

