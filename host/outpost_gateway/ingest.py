# What every ingress does with an offered alert: check it (alert record v1, allow-list),
# route it, and hand it to the spool; the ingress acknowledges only when the spool answers
# after its commit. Bad input is refused with a reason, logged and counted, never raised.
import logging

from outpost_contract import record as alert_record
from outpost_contract.rules import address_problem

from . import config, routing
from .spool import Alert, Seen

log = logging.getLogger("outpost.ingest")


class Ingest:
    def __init__(self, cfg, spool, metrics, clock):
        self.cfg = cfg
        self.spool = spool
        self.metrics = metrics
        self.clock = clock
        self.on_new = None      # wakes the relay
        self._full = False      # inside a spool-full episode (logged once)

    def refuse(self, source, reason, detail):
        self.metrics.refuse(source, reason)
        log.warning("refused %s input: %s", source, detail)
        return detail

    def check(self, payload, source, device=None):
        # -> (record dict, None) or (None, reason text)
        if len(payload) > alert_record.MAX_BYTES:
            return None, self.refuse(source, "oversize", "record is %d bytes, more than %d"
                                     % (len(payload), alert_record.MAX_BYTES))
        try:
            rec = alert_record.decode(payload)
        except alert_record.RecordError as e:
            return None, self.refuse(source, "malformed", "bad alert record: " + str(e))
        except ValueError as e:
            return None, self.refuse(source, "malformed", "bad alert record: " + str(e))
        if device is not None and rec["device"] != device:
            return None, self.refuse(source, "device-mismatch", "record device %r does not match %r"
                                     % (rec["device"], device))
        if not config.device_allowed(self.cfg, rec["device"]):
            return None, self.refuse(source, "unknown-device", "device %r is not in gateway.allowed_devices"
                                     % rec["device"])
        to = rec.get("to") or []
        for a in to:
            # the record codec checked them already; the one rule again, should it ever change
            p = address_problem(a)
            if p:
                return None, self.refuse(source, "malformed", "bad alert record: to: %r %s" % (a, p))
        return rec, None

    def offer(self, payload, source, done, device=None):
        # Hand one alert record (bytes) to the spool. done(result) is called once: after the
        # commit ("new", "dup", "full", "error") or at once with ("bad", reason).
        self.metrics.inc("received")
        rec, why = self.check(payload, source, device)
        if rec is None:
            done("bad", why)
            return
        rcpts = routing.recipients(self.cfg, rec["device"], rec["severity"], rec.get("to"))
        op = Alert(rec["id"], rec["device"], rec["severity"], rec["kind"], rec["subject"], source,
                   bytes(payload), rcpts)
        self.spool.submit(Seen(rec["device"], self.clock.time(), None, rec["kind"] in ("heartbeat", "report")),
                          _ignore)
        self.spool.submit(op, lambda res: self._answered(res, source, op.id, done))

    def _answered(self, res, source, alert_id, done):
        # runs in the spool writer thread. A full or failing spool is logged once per episode
        # (the spool logs its write errors itself): redelivered alerts must not flood the log
        if res == "new":
            self.metrics.inc("acknowledged")
            self._full = False
            if self.on_new is not None:
                self.on_new()
        elif res == "dup":
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
        # a whole message (SMTP ingress): relayed as is, deduplicated by its Message-ID
        self.metrics.inc("received")
        op = Alert(alert_id, device, "warning", "mail", subject, source, bytes(message), rcpts,
                   raw=True, mail_from=mail_from)
        self.spool.submit(op, lambda res: self._answered(res, source, alert_id, done))

    def seen(self, device, status=None, done=None, learn=False):
        self.spool.submit(Seen(device, self.clock.time(), status, learn), done or _ignore)


def _ignore(res):
    pass
