# What every ingress does with an offered alert: check it (alert record v1, allow-list),
# route it, and hand it to the spool; the ingress acknowledges only when the spool answers
# after its commit. Bad input is refused with a reason, logged and counted, never raised: it
# is acknowledged (redelivery cannot fix it) and kept in the spool's `rejected` table with its
# first bytes. The log names each kind of refusal once a minute per source, with a count.
import logging
import time

from outpost_contract import record as alert_record
from outpost_contract.rules import address_problem

from . import config, routing
from .spool import Alert, Readings, Rejected, Seen

log = logging.getLogger("outpost.ingest")


def show(data, limit=80):
    # a printable, bounded view of untrusted bytes or text for a log line
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data[:limit * 4]).decode("utf-8", "replace")
    data = str(data)
    out = "".join(c if " " <= c < "\x7f" else "?" for c in data[:limit])
    return repr(out + ("..." if len(data) > limit else ""))


def name_problem(what, name):
    # a device name from a topic, a frame or a submission, checked against the contract
    # -> None when fine, else the reason
    try:
        alert_record.validate_name(what, name)
    except alert_record.RecordError as e:
        return str(e)
    return None


class Ingest:
    LOG_EVERY = 60.0        # seconds: one log line per source and reason, then a count

    def __init__(self, cfg, spool, metrics, clock):
        self.cfg = cfg
        self.spool = spool
        self.metrics = metrics
        self.clock = clock
        self.on_new = None      # wakes the relay
        self._full = False      # inside a spool-full episode (logged once)
        self._logged = {}       # (source, reason) -> [last logged (monotonic), refused since]

    def refuse(self, source, reason, detail, raw=None, origin=None):
        # counts, logs (rate limited) and, given the raw input, keeps it in `rejected`
        self.metrics.refuse(source, reason)
        key = (source, reason)
        now = time.monotonic()
        ent = self._logged.get(key)
        if ent is None or now - ent[0] >= self.LOG_EVERY:
            more = " (and %d more like it in the last minute)" % ent[1] if ent and ent[1] else ""
            log.warning("refused %s input%s: %s%s", source, " from " + origin if origin else "",
                        detail, more)
            self._logged[key] = [now, 0]
        else:
            ent[1] += 1
        if raw is not None:
            self.spool.submit(Rejected(source, origin, reason + ": " + detail, raw), _ignore)
        return detail

    def failed(self, source, origin, exc, raw=None, what="input"):
        # a step that raised on some input: refused for good (kept in `rejected` when raw is
        # given), logged with the input's origin; the traceback once a minute per source and
        # error type, so a hostile sender repeating it cannot flood the log
        key = (source, "trace", type(exc).__name__)
        now = time.monotonic()
        ent = self._logged.get(key)
        if ent is None or now - ent[0] >= self.LOG_EVERY:
            log.error("%s: handling %s from %s failed", source, what, origin or "?", exc_info=exc)
            self._logged[key] = [now, 0]
        return self.refuse(source, "error", "cannot handle %s: %s: %s" % (what, type(exc).__name__, exc),
                           raw, origin)

    def device_problem(self, device):
        # a device name that did not come from a checked record: the contract, then the allow-list
        why = name_problem("device", device)
        if why is None and not config.device_allowed(self.cfg, device):
            why = "device %r is not in gateway.allowed_devices" % device
        return why

    def check(self, payload, source, device=None, origin=None):
        try:
            return self._check(payload, source, device, origin)
        except Exception as e:   # a check that breaks on some input must not take the path down
            return None, self.failed(source, origin, e, payload, "a record")

    def _check(self, payload, source, device, origin):
        # -> (record dict, None) or (None, reason text)
        if len(payload) > alert_record.MAX_BYTES:
            return None, self.refuse(source, "oversize", "record is %d bytes, more than %d"
                                     % (len(payload), alert_record.MAX_BYTES), payload, origin)
        try:
            rec = alert_record.decode(payload)
        except ValueError as e:      # RecordError included; decode bounds size and nesting
            return None, self.refuse(source, "malformed", "bad alert record: " + str(e), payload, origin)
        if device is not None and rec["device"] != device:
            return None, self.refuse(source, "device-mismatch", "record device %r does not match %s"
                                     % (rec["device"], show(device)), payload, origin)
        if not config.device_allowed(self.cfg, rec["device"]):
            return None, self.refuse(source, "unknown-device", "device %r is not in gateway.allowed_devices"
                                     % rec["device"], payload, origin)
        to = rec.get("to") or []
        for a in to:
            # the record codec checked them already; the one rule again, should it ever change
            p = address_problem(a)
            if p:
                return None, self.refuse(source, "malformed", "bad alert record: to: %r %s" % (a, p),
                                         payload, origin)
        return rec, None

    def offer(self, payload, source, done, device=None, origin=None):
        # Hand one alert record (bytes) to the spool. done(result) is called once: after the
        # commit ("new", "dup", "full", "error") or at once with ("bad", reason).
        self.metrics.inc("received")
        rec, why = self.check(payload, source, device, origin)
        if rec is None:
            done("bad", why)
            return
        rcpts = routing.recipients(self.cfg, rec["device"], rec["severity"], rec.get("to"))
        op = Alert(rec["id"], rec["device"], rec["severity"], rec["kind"], rec["subject"], source,
                   bytes(payload), rcpts)
        self.spool.submit(Seen(rec["device"], self.clock.time(), None, rec["kind"] in ("heartbeat", "report")),
                          _ignore)
        self.spool.submit(op, lambda res: self._answered(res, source, op.id, done, op.device, origin))

    def _answered(self, res, source, alert_id, done, device=None, origin=None):
        # runs in the spool writer thread. A full or failing spool is logged once per episode
        # (the spool logs its write errors itself): redelivered alerts must not flood the log.
        # One line per alert taken: `grep <alert id>` shows it received, then relayed.
        if res == "new":
            log.info("alert %s received via %s%s from device %s: committed", alert_id, source,
                     " (" + origin + ")" if origin else "", device)
            self.metrics.inc("acknowledged")
            self._full = False
            if self.on_new is not None:
                self.on_new()
        elif res == "dup":
            log.info("alert %s received via %s from device %s: already in the spool (acknowledged)",
                     alert_id, source, device)
            self.metrics.inc("duplicates")
            self.metrics.inc("acknowledged")
        elif res == "full":
            self.metrics.inc("spool_full")
            if not self._full:
                log.error("spool full: refusing new alerts (first: %s alert %s); senders keep them",
                          source, alert_id)
                self._full = True
        else:
            self.metrics.inc("spool_errors")
            log.debug("spool write failed for %s alert %s", source, alert_id)
        done(res, None)

    def offer_raw(self, alert_id, device, subject, message, mail_from, rcpts, source, done):
        # a whole message (SMTP ingress): relayed as is, under an id the gateway made for it
        # (smtp_ingress.submission_id), so no submission can take over an alert's id
        self.metrics.inc("received")
        op = Alert(alert_id, device, "warning", "mail", subject, source, bytes(message), rcpts,
                   raw=True, mail_from=mail_from)
        self.spool.submit(op, lambda res: self._answered(res, source, alert_id, done, device, mail_from))

    MAX_READINGS = 32       # names in one state message

    def readings(self, device, payload, replay=False, origin=None, source="mqtt"):
        # a board's retained state (JSON {name: number}): stored for the status page's charts.
        # Not a sign of life (the broker hands over the retained one whenever we subscribe).
        try:
            import json
            d = json.loads(bytes(payload[:4096]).decode("utf-8")) if len(payload) <= 4096 else None
        except ValueError:
            d = None
        if not isinstance(d, dict):
            self.refuse(source, "bad-state", "state of %r is not a JSON object of at most 4 KB" % device,
                        payload, origin)
            return
        vals = {}
        for k, v in d.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
                continue        # text states ("on") and nulls are not charted
            if name_problem("reading", k) is None and len(vals) < self.MAX_READINGS:
                vals[k] = float(v)
        if vals:
            self.spool.submit(Readings(device, self.clock.time(), vals, replay), _ignore)

    def seen(self, device, status=None, done=None, learn=False):
        self.spool.submit(Seen(device, self.clock.time(), status, learn), done or _ignore)


def _ignore(res):
    pass
