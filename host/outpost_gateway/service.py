# The running gateway: spool writer, ingress adapters, relay, watchdog and the HTTP listener,
# each on its own thread. Signal handlers only set a flag; the main loop waits on an event.
# Graceful stop: ingress closes first, queued commits are answered, the relay finishes its
# batch (rows still "sending" after a crash go back to "ready" on the next start).
#
# Liveness: every path (each ingress, the relay, the watchdog, the spool writer) says whether
# its thread runs and whether its last step failed; failed() collects that for /health and
# `status`, and the supervisor thread restarts a path whose thread is gone.
import json
import logging
import os
import sqlite3
import threading

from . import config
from .clock import SystemClock
from .http_status import HttpStatus
from .ingest import Ingest
from .metrics import Metrics
from .relay import Relay
from .spool import Spool
from .watchdog import Watchdog

log = logging.getLogger("outpost.service")


class JsonFormatter(logging.Formatter):
    def format(self, rec):
        d = {"ts": round(rec.created, 3), "level": rec.levelname.lower(), "logger": rec.name,
             "msg": rec.getMessage()}
        if rec.exc_info:
            d["exc"] = self.formatException(rec.exc_info)
        return json.dumps(d)


def setup_logging(cfg):
    h = logging.StreamHandler()
    if cfg["gateway"]["log_format"] == "json":
        h.setFormatter(JsonFormatter())
    else:
        h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [h]
    root.setLevel(cfg["gateway"]["log_level"].upper())


def open_spool(cfg, clock, readonly=False, requeue=True):
    # the gateway opens it for writing and requeues what a crash left in flight; the operator's
    # commands open it read-only (status, queue list) or without the requeue (queue retry/purge)
    path = config.spool_path(cfg)
    s = cfg["spool"]
    if not readonly:
        private_state(path)
    rd = cfg["readings"]
    return Spool(path, clock, s["max_pending"], s["min_free_mb"], s["commit_batch"], readonly=readonly,
                 readings_keep_days=rd["keep_days"], readings_max_rows=rd["max_rows"]).open(requeue=requeue)


def private_state(path):
    # the spool holds alert contents: its folder is made 0700 and its files 0600, whoever starts
    # the gateway (the umask set by `run` covers new files; this also mends older spool files).
    # A folder that already exists may be shared (spool_path in /srv...): only a warning.
    d = os.path.dirname(path)
    if d and not os.path.isdir(d):
        os.makedirs(d, mode=0o700)
        os.chmod(d, 0o700)
    elif d and os.stat(d).st_mode & 0o077:
        log.warning("spool folder %s is open to other users (mode %o); chmod 700 it unless it is shared",
                    d, os.stat(d).st_mode & 0o777)
    if not os.path.exists(path):
        # SQLite gives its -wal and -shm files the database file's mode
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    uid = os.geteuid()
    for p in (path, path + "-wal", path + "-shm"):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        if st.st_uid == uid and st.st_mode & 0o077:
            log.warning("%s was readable by others (mode %o); made it 600", p, st.st_mode & 0o777)
            os.chmod(p, 0o600)


class Gateway:
    STATUS_EVERY = 5.0      # seconds between refreshes of what `status` shows
    WATCHDOG_EVERY = 5.0    # seconds between watchdog passes (a sign of life also wakes it)
    SUPERVISE_EVERY = 2.0   # seconds between the supervisor's looks at every path

    def __init__(self, cfg, clock=None):
        self.cfg = cfg
        self.clock = clock or SystemClock()
        self.metrics = Metrics()
        self.spool = open_spool(cfg, self.clock)
        self.ingest = Ingest(cfg, self.spool, self.metrics, self.clock)
        self.stopping = threading.Event()
        self.wake = threading.Event()
        self.ingest.on_new = self.wake.set
        self.relay = None
        self.watchdog = Watchdog(cfg, self.spool, self.clock)
        # a sign of life wakes the watchdog, so "board back" goes out at once, not at the tick
        self.wd_wake = threading.Event()
        self.spool.on_seen = lambda seen: self.wd_wake.set()
        self.watchdog.on_alert = self.wake.set
        self.mqtt = None
        self.amqp = None
        self.fleet = None
        self.serial = []
        self.smtp = None
        self.http = None
        self.threads = []
        self.config_path = None      # set by `run`: SIGHUP reads it again
        self.reload_requested = threading.Event()
        self.loops = {}              # loop name -> {"thread", "fn", "error", "restarts"}
        self.writer_restarts = 0
        self._spool_trouble = {}     # loop name -> error text, while its spool writes fail

    def start(self):
        self.spool.start_writer()
        if self.cfg["relay"]["enabled"]:
            self._thread("relay", self._relay_loop)
        if self.cfg["watchdog"]["enabled"]:
            self._thread("watchdog", self._watchdog_loop)
        if self.cfg["http"]["enabled"]:
            self.http = HttpStatus(self.cfg["http"]["listen"], self.cfg["http"]["port"], self)
            self.http.start()
            log.info("HTTP health/metrics on %s:%d", self.cfg["http"]["listen"], self.http.port)
        self._start_mqtt()
        self._start_amqp()
        self._start_serial()
        self._start_smtp()
        self._thread("status", self._status_loop)
        self._thread("supervisor", self._supervise_loop)
        log.info("gateway started (spool %s)", config.spool_path(self.cfg))

    def _start_mqtt(self):
        if self.cfg["mqtt"]["enabled"]:
            from .broker_check import check_queue_limit
            check_queue_limit(self.cfg)
            from .mqtt_ingress import MqttIngress
            self.mqtt = MqttIngress(self.cfg, self.ingest)
            self.mqtt.start()
            if self.cfg["fleet"]["enabled"]:
                from .fleet import Fleet
                self.fleet = Fleet(self.cfg, self.ingest)
                self.fleet.start()

    def _stop_mqtt(self):
        if self.fleet is not None:
            self.fleet.stop()
            self.fleet = None
        if self.mqtt is not None:
            self.mqtt.stop()
            self.mqtt = None

    def _start_amqp(self):
        # a RabbitMQ cluster: no fleet layer on this path, the broker hands a dead gateway's
        # deliveries to the others
        if self.cfg["amqp"]["enabled"]:
            from .amqp_ingress import AmqpIngress
            self.amqp = AmqpIngress(self.cfg, self.ingest)
            self.amqp.start()

    def _stop_amqp(self):
        if self.amqp is not None:
            self.amqp.stop()
            self.amqp = None

    def _start_serial(self):
        for port in self.cfg["serial"]["ports"]:
            from .serial_ingress import SerialIngress
            s = SerialIngress(port, self.cfg["serial"], self.ingest)
            s.start()
            self.serial.append(s)

    def _stop_serial(self):
        for s in self.serial:
            s.stop()
        self.serial = []

    def _start_smtp(self):
        if self.cfg["smtp_ingress"]["enabled"]:
            from .smtp_ingress import SmtpIngress
            self.smtp = SmtpIngress(self.cfg, self.ingest)
            self.smtp.start()
            log.info("SMTP ingress on %s:%d", self.cfg["smtp_ingress"]["listen"], self.smtp.port)

    def _stop_smtp(self):
        if self.smtp is not None:
            self.smtp.stop()
            self.smtp = None

    # -- SIGHUP --------------------------------------------------------------------------------
    # The config file is read again: the relay takes its new section before its next pass
    # (credentials, CA, connections; a paused or backed-off relay tries again at once), the
    # ingress listeners whose sections changed are restarted, routing, the allow-list and the
    # watchdog use the new values. A config with an error is refused whole, the running one kept.
    RESTART_ONLY = ("spool", "http")       # sections a reload cannot change: say so

    def reload(self):
        if not self.config_path:
            log.error("reload: the gateway was not started from a config file")
            return False
        try:
            new = config.load(self.config_path)
        except config.ConfigError as e:
            log.error("reload refused, the running config is kept: %s", e)
            return False
        old, self.cfg = self.cfg, new
        changed = sorted(k for k in new if new[k] != old.get(k))
        for sect in self.RESTART_ONLY:
            if sect in changed:
                log.warning("reload: [%s] changes take effect at the next restart", sect)
        if new["gateway"]["state_dir"] != old["gateway"]["state_dir"] or \
                new["gateway"]["spool_path"] != old["gateway"]["spool_path"]:
            log.warning("reload: the spool location changes at the next restart")
        if new["relay"]["enabled"] != old["relay"]["enabled"]:
            log.warning("reload: relay.enabled changes at the next restart")
        if new["gateway"]["log_level"] != old["gateway"]["log_level"] or \
                new["gateway"]["log_format"] != old["gateway"]["log_format"]:
            setup_logging(new)
        self.ingest.cfg = new
        self.watchdog.cfg, self.watchdog.w = new, new["watchdog"]
        if self.relay is not None:
            self.relay.reconfigure(new)
        self.wake.set()
        if "mqtt" in changed or "fleet" in changed:
            self._stop_mqtt()
            self._start_mqtt()
            log.info("reload: MQTT ingress restarted with the new settings")
        if "amqp" in changed:
            self._stop_amqp()
            self._start_amqp()
            log.info("reload: AMQP ingress restarted with the new settings")
        if "serial" in changed:
            self._stop_serial()
            self._start_serial()
            log.info("reload: serial ingress restarted (%s)", ", ".join(new["serial"]["ports"]) or "no ports")
        if "smtp_ingress" in changed:
            self._stop_smtp()
            self._start_smtp()
            log.info("reload: SMTP ingress restarted")
        log.info("config reloaded from %s (changed: %s)", self.config_path, ", ".join(changed) or "nothing")
        return True

    def _thread(self, name, fn):
        t = threading.Thread(target=self._guard, args=(name, fn), name=name, daemon=True)
        ent = self.loops.setdefault(name, {"fn": fn, "error": None, "restarts": 0})
        ent["thread"] = t
        t.start()
        self.threads.append(t)

    def _guard(self, name, fn):
        # a bug in one loop is logged and the loop restarted, never a silent dead thread
        while not self.stopping.is_set():
            try:
                fn()
                return
            except Exception as e:
                self.loops[name]["error"] = "%s: %s" % (type(e).__name__, e)
                log.exception("%s loop failed; restarting it in 5 s", name)
                self.stopping.wait(5.0)

    def _step_ok(self, name):
        ent = self.loops.get(name)
        if ent is not None and ent["error"] is not None:
            log.info("%s loop works again", name)
            ent["error"] = None

    # -- liveness ----------------------------------------------------------------------------
    def failed(self):
        # path -> why it is not working now (thread gone, last step failed); empty when all run
        out = {}
        stopping = self.stopping.is_set()
        for name, ent in self.loops.items():
            if not stopping and not ent["thread"].is_alive():
                out[name] = "thread gone"
            elif ent["error"] is not None:
                out[name] = "last pass failed: " + ent["error"]
        if self.spool.writer_running() is False and not stopping:
            out["spool-writer"] = "thread gone"
        if self.mqtt is not None and not stopping:
            if not self.mqtt.alive():
                out["mqtt"] = "network thread gone"
            elif self.mqtt.step_error is not None:
                out["mqtt"] = "last message failed: " + self.mqtt.step_error
        if self.amqp is not None and not stopping:
            if not self.amqp.alive():
                out["amqp"] = "connection thread gone"
            elif self.amqp.step_error is not None:
                out["amqp"] = "last message failed: " + self.amqp.step_error
        for s in self.serial:
            if not stopping and not s.alive():
                out["serial " + s.port] = "reader thread gone"
            elif s.step_error is not None:
                out["serial " + s.port] = "last line failed: " + s.step_error
        if self.smtp is not None and not stopping:
            if not self.smtp.alive():
                out["smtp_ingress"] = "server thread gone"
            elif self.smtp.step_error is not None:
                out["smtp_ingress"] = "last session failed: " + self.smtp.step_error
        if self.watchdog.failing:
            out["watchdog"] = "boards failing: " + ", ".join(sorted(self.watchdog.failing)[:5])
        return out

    def supervise(self):
        # one look at every path: a thread that is gone is started again. -> restarted names
        done = []
        if self.stopping.is_set():
            return done
        for name, ent in list(self.loops.items()):
            if name != "supervisor" and not ent["thread"].is_alive():
                ent["restarts"] += 1
                log.error("%s loop thread is gone; starting it again (restart %d)", name, ent["restarts"])
                self._thread(name, ent["fn"])
                done.append(name)
        if self.spool.writer_running() is False:
            self.writer_restarts += 1
            log.error("spool writer thread is gone; starting it again (restart %d)", self.writer_restarts)
            self.spool.restart_writer()
            done.append("spool-writer")
        if self.mqtt is not None and self.mqtt.supervise():
            done.append("mqtt")
        if self.amqp is not None and self.amqp.supervise():
            done.append("amqp")
        for s in self.serial:
            if s.supervise():
                done.append("serial " + s.port)
        if self.smtp is not None and self.smtp.supervise():
            done.append("smtp_ingress")
        return done

    def _supervise_loop(self):
        while not self.stopping.wait(self.SUPERVISE_EVERY):
            self.supervise()

    def _spool_failed(self, where, e):
        # a spool that cannot be written (disk error, read-only file system) is logged once per
        # episode and loop, not every pass
        if where not in self._spool_trouble:
            log.error("%s: spool write failed: %s; retrying every 5 s", where, e)
        self._spool_trouble[where] = str(e)

    def _spool_works(self, where):
        if self._spool_trouble.pop(where, None) is not None:
            log.warning("%s: spool writes work again", where)

    def _relay_loop(self):
        if self.relay is None:
            self.relay = Relay(self.cfg, self.spool, self.metrics, self.clock)
            self.relay.on_notice = self.wake.set
        requeue = False
        try:
            while not self.stopping.is_set():
                try:
                    if requeue:
                        # rows left "sending" by a pass the spool could not finish go out again
                        self.spool.requeue_sending()
                        requeue = False
                    delay = self.relay.run_once()
                    self._spool_works("relay")
                    self._step_ok("relay")
                except sqlite3.Error as e:
                    requeue = True
                    self._spool_failed("relay", e)
                    delay = 5.0
                if delay > 0:
                    self.wake.wait(min(delay, 5.0))
                    self.wake.clear()
        finally:
            self.relay.close()

    def _watchdog_loop(self):
        while not self.stopping.is_set():
            self.wd_wake.wait(self.WATCHDOG_EVERY)
            self.wd_wake.clear()
            if self.stopping.is_set():
                break
            try:
                self.watchdog.check()
                self._spool_works("watchdog")
                self._step_ok("watchdog")
            except sqlite3.Error as e:
                self._spool_failed("watchdog", e)
            # however busy the boards are, at most two passes a second
            self.stopping.wait(0.5)

    def _status_loop(self):
        # what `outpost-gateway status` shows about the running process; and once an hour,
        # finished alerts older than spool.keep_done_days are dropped (their ids stop deduping)
        last_purge = 0.0
        while True:
            try:
                self.spool.set_state("status", self.status())
                now = self.clock.time()
                keep = self.cfg["spool"]["keep_done_days"]
                # hourly, or more often when what is kept is shorter (a soak compresses days)
                if now - last_purge >= (min(3600.0, keep * 86400.0 / 4) if keep else 3600.0):
                    if keep:
                        n = self.spool.purge_done(now - keep * 86400.0)
                        if n:
                            log.info("purged %d finished alerts older than %s days", n, keep)
                    self.spool.trim_readings(now)     # readings.keep_days and readings.max_rows
                    self.spool.compact()
                    last_purge = now
                self._spool_works("status")
                self._step_ok("status")
            except sqlite3.Error as e:
                self._spool_failed("status", e)
            if self.stopping.wait(self.STATUS_EVERY):
                return

    def status(self):
        return {
            "pid": os.getpid(),
            "updated": self.clock.time(),
            "mqtt": None if self.mqtt is None else {"connected": self.mqtt.connected,
                                                    "subscribed": self.mqtt.subscribed,
                                                    "error": self.mqtt.last_error,
                                                    "spool_refusing": self.mqtt.refusing},
            "amqp": None if self.amqp is None else self.amqp.status(),
            "serial": [{"port": s.port, "open": s.is_open, "error": s.last_error} for s in self.serial],
            "smtp_ingress": None if self.smtp is None else {"port": self.smtp.port,
                                                            "sessions": self.smtp.sessions},
            "fleet": None if self.fleet is None else self.fleet.status(),
            "relay_paused": None if self.relay is None else self.relay.paused,
            "spool_error": self.spool.write_error,
            "failed": self.failed(),
        }

    def gauges(self):
        now = self.clock.time()
        oldest = self.spool.oldest_pending()
        paused = 1 if (self.relay is not None and self.relay.paused) else 0
        return [
            ("spool_depth", "alerts waiting for delivery", self.spool.pending()),
            ("oldest_alert_age_seconds", "age of the oldest undelivered alert",
             0 if oldest is None else max(0.0, now - oldest)),
            ("relay_paused", "1 while the relay is paused by an AUTH/TLS failure", paused),
            ("mqtt_connected", "1 while connected to the broker",
             1 if (self.mqtt is not None and self.mqtt.connected) else 0),
            ("mqtt_subscribed", "1 while subscribed to the alert topics",
             1 if (self.mqtt is not None and self.mqtt.subscribed) else 0),
            ("amqp_consuming", "1 while consuming the RabbitMQ queue",
             1 if (self.amqp is not None and self.amqp.consuming) else 0),
            ("fleet_sessions_held", "sessions of dead peer gateways this gateway holds",
             0 if self.fleet is None else len(self.fleet.status()["holds"])),
            ("serial_ports", "serial ports configured", len(self.serial)),
            ("serial_ports_open", "serial ports open now", sum(1 for s in self.serial if s.is_open)),
            ("smtp_sessions", "LAN SMTP sessions open now", 0 if self.smtp is None else self.smtp.sessions),
            ("spool_write_failing", "1 while spool writes fail (alerts are refused, not acknowledged)",
             0 if self.spool.write_error is None else 1),
            ("paths_failed", "paths (ingress, loops) whose thread is gone or whose last step failed",
             len(self.failed())),
        ]

    def run(self):
        self.start()
        while not self.stopping.wait(0.5):
            if self.reload_requested.is_set():
                self.reload_requested.clear()
                try:
                    self.reload()
                except Exception:
                    log.exception("reload failed")
        self.stop()

    def stop(self):
        self.stopping.set()
        self.wake.set()
        self.wd_wake.set()
        log.info("stopping")
        self._stop_mqtt()
        self._stop_amqp()
        self._stop_serial()
        self._stop_smtp()
        self.spool.stop_writer()
        for t in self.threads:
            # a relay pass may be waiting for the reply to the end of a message's data
            r = self.cfg["relay"]
            t.join(timeout=max(r["timeout"], r["data_timeout"] or max(r["timeout"], 60)) + 5)
        if self.http is not None:
            self.http.stop()
        self.spool.set_state("status", None)
        log.info("stopped")

