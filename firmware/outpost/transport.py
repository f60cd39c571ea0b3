# The transport chain: direct SMTP, MQTT to the gateway, serial to the gateway, in the configured
# order, all inside one time budget. The outbox (the caller) keeps whatever did not get through.
#
# A path raises Down for an outage (try the next path; retry later) and Refused for a permanent
# answer about this message (a 5xx): that is not an outage, so no other path is tried and the
# record is marked dead instead of going round again. Chain.send turns anything else a path
# raises (a MemoryError above all) into Down, so no alert can reset the board.
#
# A path calls sent() the moment its peer took the message (the 250, the PUBACK, the ACK): the
# caller marks the record done then, not one round trip later after QUIT.
# The serial path is outpost/serial_path.py, the MQTT path outpost/mqtt_path.py, the SMTP path
# outpost/smtp_hop.py (the app's side) and outpost/smtp_path.py: each loads only when used.
import gc

from outpost import Down, Refused, unload  # noqa: F401 (a path raises these; see outpost/__init__.py)


class Chain:
    # paths: the path objects, in order. Or their names, with make(name) giving each path when
    # the chain reaches it (None: not configured) and drop(name, path) taking it back after its
    # attempt: on a board the path that failed leaves the heap to the next one.
    # mono: a callable giving monotonic seconds (the app's clock.Mono)
    def __init__(self, paths, budget, log, mono, feed=None, make=None, drop=None):
        self.paths = paths
        self.budget = budget
        self.log = log
        self.mono = mono
        self.feed = feed or (lambda: None)
        self.make = make
        self.drop = drop

    def send(self, rec, csv, timeouts, sent=None, data=None, shed=0, payload=None):
        """Try each enabled path in order within the budget. sent() is called the moment a
        peer took the message; data is the record's bytes for the gateway paths; shed (SMTP):
        what a report leaves out after failed attempts (1: its charts, 2: its CSV too);
        payload (SMTP): the record as the outbox holds it.
        Returns ("sent", path) | ("dead", reason) | ("down", reasons), whatever a path raises."""
        start = self.mono()
        reasons = []
        for p in self.paths:
            name = p
            if self.make is not None:
                try:
                    p = self.make(name)
                except MemoryError:
                    p = None
                    gc.collect()
                    reasons.append(name + ": out of memory")
                    self.log("path " + reasons[-1])
                if p is None:
                    continue
            try:
                r = self._try(p, start, reasons, rec, csv, timeouts, sent, data, shed, payload)
            finally:
                p = None if self.drop is None else self._drop(name, p)
            if r is False:
                break
            if r is not None:
                return r
        if not reasons:
            reasons.append("no path configured")
        return ("down", reasons)

    def _drop(self, name, p):
        # a path's modules leave the heap after its attempt; unloading takes a little heap
        # too: without it they stay until the round ends, which is no reason to fail it
        try:
            self.drop(name, p)
        except MemoryError:
            gc.collect()

    def _try(self, p, start, reasons, rec, csv, timeouts, sent, data, shed, payload):
        # one path's attempt: its outcome; None (reasons says why) to try the next; False
        # when the budget is spent
        if not p.enabled():
            return None
        left = self.budget - (self.mono() - start)
        if left < 1:
            reasons.append(p.name + ": no time left in the budget")
            return False
        self.feed()
        why = None
        try:
            kw = {}
            if p.name == "smtp":
                if sent is not None:
                    kw["sent"] = sent       # called on the 250, before QUIT
                if shed:
                    kw["shed"] = shed
                if payload is not None:
                    kw["payload"] = payload
            elif data is not None:
                kw["data"] = data
            p.send(rec, csv, min(timeouts.get(p.name, 10), left), **kw)
            if sent is not None and p.name != "smtp":
                sent()
            return ("sent", p.name)
        except Refused as e:
            return ("dead", p.name + ": " + str(e))
        except Down as e:
            why = str(e)
        except MemoryError:
            why = "out of memory"
        except Exception as e:   # a bug or a surprise in a path: an outage, never a reset
            why = (e.__class__.__name__ + " " + str(e)).strip()
        gc.collect()
        reasons.append(p.name + ": " + why)
        self.log("path " + reasons[-1])
        return None
