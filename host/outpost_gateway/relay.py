# The relay: plans what is due in the spool, hands it to the upstream pool (upstream.py) in
# batches, and settles each message on its own reply.
#
# Outcomes are decided in one place, classify():
#   2xx                          -> done
#   4xx, timeouts, network errors -> retry later, per-message exponential backoff with jitter,
#                                   dead once older than relay.lifetime
#   5xx                          -> dead letter with the server's reply; the owner is told
#   AUTH or TLS failure          -> pause the whole relay, tell the owner once, probe again
#                                   after relay.pause_retry; messages are not charged an attempt
# and built in one place, _outcome(); a planned message is a Unit, never a positional tuple.
#
# Settling: each message's outcome is written as its reply arrives (Spool.settle: the writer's
# group commit, waited for), before the next message's end of data goes out on that
# connection, so a crash sends again at most the message whose reply was in flight on each
# connection. Its backoff counts from that reply, not from the start of the pass, so a retry
# always waits at least its backoff, whatever else the connection did meanwhile.
#
# The upstream as a whole: when no connection of a pass got an answer (connect error, 421,
# timeout before any reply), the destination is down: the messages of that pass are charged and
# marked as waiting on the upstream, and the relay only probes it (opens a connection, sends
# nothing) every relay.probe_every seconds. When the upstream answers again (a probe connects, or any
# message gets its 250), everything waiting on it is due at once, oldest first.
#
# A digest is recorded in the spool (message and members) in the same commit that marks its
# members "sending", so every retry sends the same bytes; the rate window's send times go into
# that commit too, so a restart does not reset the limit.
#
# Time comes from the injected clock: run_once() does one pass and returns how long to wait.
import hashlib
import logging
import random
import sqlite3
import threading

from outpost_contract.rules import backoff
from usmtp.errors import SMTPConnectError, SMTPError, SMTPRecipientsRefused, SMTPTimeout, outcome

from . import compose, routing
from .spool import Outcome
from .upstream import UpstreamPool, open_upstream  # noqa: F401 (open_upstream: the CLI's test-relay)

log = logging.getLogger("outpost.relay")

RATE_WINDOW = 3600.0
UPSTREAM = "upstream"     # the cause of a wait that held every message


def classify(result):
    # result: the refused-recipients dict of one message, or the SMTPError it raised
    # -> (outcome, code, text), outcome in done | retry | dead | pause
    if isinstance(result, dict):
        if not result:
            return "done", 250, ""
        code, text = next(iter(result.values()))
        return ("retry" if 400 <= code < 500 else "dead"), code, str(code) + " " + str(text)
    answer = outcome(result)        # usmtp's one classification; the gateway's meaning below
    if answer == "reconfigure":
        return "pause", getattr(result, "code", None), str(result)
    code = getattr(result, "code", None)
    text = str(result)
    if isinstance(result, SMTPRecipientsRefused) and result.recipients:
        # one recipient per message: its own reply is the server's words
        code, t = next(iter(result.recipients.values()))
        text = str(code) + " " + str(t)
    return ("retry" if answer == "retry" else "dead"), code, text


def held_everything(result):
    # a failure of the connection, not of this message: every message would have met it
    if isinstance(result, SMTPError):      # (an OSError too: usmtp's errors subclass it)
        return isinstance(result, (SMTPConnectError, SMTPTimeout)) or getattr(result, "code", None) == 421
    return isinstance(result, OSError)


class Unit:
    # one message the relay sends: a single alert to one recipient, or a digest of several
    __slots__ = ("kind", "rows", "sender", "message", "mid", "settled")

    def __init__(self, kind, rows, sender, message, mid):
        self.kind = kind            # "single" | "digest"
        self.rows = rows            # the spool's delivery rows it carries (one recipient)
        self.sender = sender        # envelope from
        self.message = message      # bytes, or chunks until signed
        self.mid = mid
        self.settled = False

    @property
    def rcpt(self):
        return self.rows[0]["rcpt"]


class Relay:
    def __init__(self, cfg, spool, metrics, clock, rand=random.random, trace=None, upstream=None):
        self.cfg = cfg
        self._own_pool = upstream is None
        self.r = cfg["relay"]
        self.spool = spool
        self.metrics = metrics
        self.clock = clock
        self.rand = rand
        self.trace = trace
        self.pool = upstream if upstream is not None else UpstreamPool(self.r, clock, trace)
        self.down_until = 0.0
        self.down_count = 0
        self.paused = spool.get_state("relay_paused")     # survives a restart: notify once
        self.pause_until = 0.0
        self.last_result = spool.get_state("relay_last_result")
        # rcpt -> send times within the last hour (rate limit); kept in the spool too, so a
        # restart (or a crash loop) does not start the window afresh
        self.sent = spool.recent_sends(clock.time() - RATE_WINDOW)
        self._new_sends = []     # send times of this pass, committed with the "sending" mark
        self._new_digests = []   # digests composed in this pass, recorded in that same commit
        self.on_notice = None
        self._pending_cfg = None
        # when a row was last marked waiting on the upstream (None: none since the last
        # release); at start, rows a previous run marked may be waiting
        self._last_mark = clock.time()
        self._lock = threading.Lock()     # the pass's tallies, settled from the pool's threads
        self._setup_helpers()

    def _setup_helpers(self):
        self.signer = None
        if self.r["dkim_key_file"]:
            from .dkim_sign import Signer
            self.signer = Signer(self.r["dkim_selector"], self.r["dkim_domain"], self.r["dkim_key_file"])

    @property
    def r(self):
        return self._r

    @r.setter
    def r(self, value):
        # the [relay] section; the relay's own pool sends with the same one
        self._r = value
        pool = getattr(self, "pool", None)
        if pool is not None and self._own_pool:
            pool.r = value

    # the pool's view, for callers that look (status, tests)
    def parallel(self):
        return self.pool.parallel()

    @property
    def LIMIT_HOLD(self):
        return self.pool.LIMIT_HOLD

    # -- reload ----------------------------------------------------------------------------
    def reconfigure(self, cfg):
        # from another thread (SIGHUP): taken at the start of the next pass
        self._pending_cfg = cfg

    def _apply_config(self):
        cfg, self._pending_cfg = self._pending_cfg, None
        self.close()                     # the connections were opened with the old settings
        self.cfg = cfg
        self.r = cfg["relay"]
        if self._own_pool:
            self.pool = UpstreamPool(self.r, self.clock, self.trace)
        self._setup_helpers()
        # a paused or backed-off relay tries the new settings at once
        self.pause_until = 0.0
        self.down_until = 0.0
        log.info("relay: new settings taken (%s:%s, %d connection%s)%s", self.r["host"], self.r["port"],
                 self.r["connections"], "" if self.r["connections"] == 1 else "s",
                 "; paused relay tries again now" if self.paused else "")

    def close(self):
        self.pool.close()

    def _sign(self, msg):
        # -> the message as bytes: a batch keeps each message's bytes until it is settled, so
        # a retry (on a fresh connection, or in a later pass) sends exactly the same message
        data = msg if isinstance(msg, bytes) else b"".join(msg)
        if self.signer is None:
            return data
        return self.signer.sign(data)

    # -- one pass --------------------------------------------------------------------------
    def run_once(self):
        if self._pending_cfg is not None:
            self._apply_config()
        now = self.clock.time()
        if self.paused and now < self.pause_until:
            return self.pause_until - now
        if now < self.down_until:
            return self.down_until - now
        if self.down_count and not self._probe(now):
            return max(0.0, self.down_until - now)
        self._new_sends = []
        self._new_digests = []
        units = self._plan(now)
        if not units:
            idle = self.pool.idle(now)
            nd = self.spool.next_due()
            wait = 60.0 if nd is None else max(0.0, nd - now)
            return wait if idle is None else min(wait, idle)
        keys = [(row["alert_id"], row["rcpt"]) for u in units for row in u.rows]
        self.spool.set_status(keys, "sending", now, sends=self._new_sends, digests=self._new_digests,
                              window=RATE_WINDOW)
        for u in units:
            u.message = self._sign(u.message)
        self._send(units)
        return 0.0

    def _probe(self, now):
        # the destination was down: open a connection (nothing is sent on it). -> True when
        # it answers, and then everything waiting on it is due now, oldest first
        try:
            self.pool.probe()
        except (SMTPError, OSError) as e:
            if outcome(e) == "reconfigure":
                self._pause(now, str(e), e)
                return False
            now = self.clock.time()
            self._down(now, e)
            self._expire(now, self.down_until, "lifetime exceeded; last error: %s" % e)
            return False
        self._upstream_back(self.clock.time())
        return True

    def _expire(self, now, until, why):
        # alerts waiting on a down upstream whose lifetime ends before the next probe: dead now
        # (the owner's notice goes out once the upstream answers)
        rows = [r for r in self.spool.due(now, 10 * self.r["batch"])
                if until - r["received"] > self.r["lifetime"]]
        if not rows:
            return
        self.spool.finish([self._outcome(r, "dead", now, charge=False, error=why) for r in rows], now)
        self.metrics.inc("dead", len(rows))
        for r in rows:
            self._dead_notice(r, None, why, now)

    def _upstream_back(self, at):
        # what failed on the upstream as a whole before `at` (when it answered) goes now; a
        # failure after that (a 421 later in the same pass) still waits its backoff
        mark = self._last_mark
        if mark is None and not self.down_count:
            return          # nothing marked waiting on it since the last release: no write
        if mark is not None and mark < at:
            self._last_mark = None
        n = self.spool.release(UPSTREAM, at)
        if self.down_count or n:
            log.info("upstream answers again; %d deliveries waiting on it go now, oldest first", n)
        self.down_count = 0
        self.down_until = 0.0

    def _down(self, now, err):
        # no connection got an answer: back off as a whole, not message by message
        self.down_count += 1
        # a probe sends nothing and the alerts waiting are not charged by it: probe often
        # (relay.probe_every), so the queue goes within that long of the upstream's return
        self.down_until = now + backoff(self.down_count, min(self.r["backoff_base"],
                                                             self.r["probe_every"]), 2.0,
                                        self.r["probe_every"], self.r["jitter"], self.rand)
        self._result(now, "upstream unreachable: %s" % err)

    def _send(self, units):
        tally = {"sent": 0, "dead": [], "pause": None, "to_write": [], "first_ok": None}
        batch = [(u.sender, [u.rcpt], u.message) for u in units]

        def on_result(i, result, reply):
            self._settle(units[i], result, reply, tally, durable=True)
        sent = self.pool.send_all(batch, on_result)
        now = self.clock.time()
        refused = sent.refused()
        whole = bool(refused) and not sent.worked and not tally["sent"]
        if refused and not whole:
            # some connections work and others were refused at opening (too many connections
            # for the account, a 421 at the greeting): their messages go out again at once on
            # the working ones, uncharged
            for a, b, err in refused:
                if getattr(err, "at_open", False) and outcome(err) != "reconfigure":
                    for u in units[a:b]:
                        if not u.settled:
                            u.settled = True
                            tally["to_write"].extend(
                                self._outcome(row, "ready", now, charge=False,
                                              error="connection refused; sent again on another")
                                for row in u.rows)
        for i, u in enumerate(units):
            if not u.settled:
                self._settle(u, sent.results[i], None, tally, durable=False)
        if tally["to_write"]:
            self.spool.finish(tally["to_write"], now)
        self.metrics.inc("relayed", tally["sent"])
        if tally["dead"]:
            self.metrics.inc("dead", len(tally["dead"]))
        if tally["pause"] is not None:
            self._pause(now, *tally["pause"])
        elif whole:
            self._down(now, refused[0][2])
        else:
            if self.paused:
                self._resume(now)
            if tally["sent"]:
                # a delivery went through: whatever waited on the upstream goes now
                self._upstream_back(tally["first_ok"])
            self._result(now, "sent %d, deferred or dead %d" % (tally["sent"], len(units) - tally["sent"]))
        for row, code, text in tally["dead"]:
            self._dead_notice(row, code, text, now)

    # -- settling ----------------------------------------------------------------------------
    def _outcome(self, row, status, now, charge=True, next_at=None, error=None, code=None, via=None,
                 cause=None):
        # the one place an Outcome is built: charge counts an attempt
        return Outcome(row["alert_id"], row["rcpt"], status, row["attempts"] + (1 if charge else 0),
                       now if next_at is None else next_at, error, code, via, cause)

    def _decide(self, u, result, now, tally):
        # -> the Outcomes of one unit from what the upstream said about it
        verdict, code, text = classify(result)
        cause = UPSTREAM if held_everything(result) else None
        out = []
        for row in u.rows:
            if verdict == "done":
                out.append(self._outcome(row, "done", now, code=code,
                                         via=u.mid if u.kind == "digest" else None))
            elif verdict == "pause":
                out.append(self._outcome(row, "ready", now, charge=False, error=text, code=code))
            elif verdict == "retry":
                att = row["attempts"] + 1
                nxt = now + backoff(att, self.r["backoff_base"], self.r["backoff_factor"],
                                    self.r["backoff_max"], self.r["jitter"], self.rand)
                if nxt - row["received"] > self.r["lifetime"]:
                    out.append(self._outcome(row, "dead", now, error="lifetime exceeded; last error: " + text,
                                             code=code))
                else:
                    if cause is not None:
                        with self._lock:
                            self._last_mark = max(self._last_mark or now, now)
                    out.append(self._outcome(row, "ready", now, next_at=nxt, error=text, code=code,
                                             cause=cause))
            else:
                out.append(self._outcome(row, "dead", now, error=text, code=code))
        return verdict, code, text, out

    def _settle(self, u, result, reply, tally, durable):
        # one message's outcome, at the time its reply came; durable: written before returning
        # (called on the connection's thread, before its next message's end of data)
        now = self.clock.time()
        verdict, code, text, out = self._decide(u, result, now, tally)
        u.settled = True
        for row, o in zip(u.rows, out):
            if verdict == "done":
                log.info("alert %s relayed to %s%s: %s", row["alert_id"], row["rcpt"],
                         " in digest " + u.mid if u.kind == "digest" else "", reply or code)
            elif verdict != "pause":
                log.info("alert %s to %s %s: %s", row["alert_id"], row["rcpt"],
                         "refused" if o.status == "dead" else "deferred", text)
        with self._lock:
            if verdict == "done":
                tally["sent"] += len(u.rows)
                if tally["first_ok"] is None:
                    tally["first_ok"] = now
                if u.kind == "digest":
                    self.metrics.inc("digests")
            elif verdict == "pause":
                tally["pause"] = (text, result)
            for row, o in zip(u.rows, out):
                if o.status == "dead":
                    tally["dead"].append((row, code, o.error))
                elif o.status == "ready" and verdict == "retry":
                    self.metrics.inc("retried")
        if not durable:
            with self._lock:
                tally["to_write"].extend(out)
            return
        try:
            self.spool.settle(out, now)
        except sqlite3.Error:
            # written again with the pass's end (and if that fails too, the relay loop
            # requeues; at worst the message goes twice, never lost)
            with self._lock:
                tally["to_write"].extend(out)

    # -- planning ------------------------------------------------------------------------------
    def _plan(self, now):
        # -> [Unit]; digests first, then single alerts; relay.batch per connection: a pass
        # fills every connection it may use
        batch = self.r["batch"] * self.pool.parallel()
        sender = self.r["sender"]
        threshold = self.cfg["digest"]["threshold"]
        units = []
        digested = set()
        expired = []
        # a digest already attempted is sent again as it was recorded: same Message-ID, same
        # content, the same members (alerts that came since are not folded into it)
        for mid, rcpt, msg, rows in self.spool.pending_digests(now):
            if len(units) >= batch:
                break
            rows, old = self._split_expired(rows, now)
            expired.extend(old)
            if rows:
                units.append(Unit("digest", rows, sender, msg, mid))
        for rcpt, n in self.spool.ready_count_by_rcpt(now).items():
            if n >= threshold and len(units) < batch:
                rows = self.spool.due_for(rcpt, now, 1000)
                rows, old = self._split_expired(rows, now)
                expired.extend(old)
                if rows:
                    f, chunks, mid = compose.digest_for(rcpt, rows, sender, now)
                    msg = b"".join(chunks)
                    self._new_digests.append((mid, rcpt, msg, [(r["alert_id"], r["rcpt"]) for r in rows]))
                    units.append(Unit("digest", rows, f, msg, mid))
                digested.add(rcpt)
        out = []
        unwritable = []
        for row in self.spool.due(now, batch * 2):
            if len(units) >= batch:
                break
            if row["rcpt"] in digested and not row["critical"] and not row["raw"]:
                continue
            if now - row["received"] > self.r["lifetime"]:
                expired.append(row)
                continue
            if not row["critical"] and not self._rate_ok(row["rcpt"], now) and \
                    not self._closes_sent(row):
                # over the recipient's rate: wait for the window; a growing pile becomes a digest
                out.append(self._outcome(row, "ready", now, charge=False, next_at=self._rate_free(row["rcpt"], now),
                                         error="held by rate limit"))
                continue
            try:
                f, msg, mid = compose.message_for(row, sender)
            except (SMTPError, ValueError) as e:
                # a message that cannot be written will never go out: dead now, not a loop
                unwritable.append((row, "cannot write the message: " + str(e)))
                continue
            units.append(Unit("single", [row], f, msg, mid))
            self._count_send(row["rcpt"], now)
        for u in units:
            if u.kind == "digest":
                self._count_send(u.rcpt, now)
        lost = [(row, "lifetime of %ds exceeded" % self.r["lifetime"]) for row in expired] + unwritable
        for row, why in lost:
            out.append(self._outcome(row, "dead", now, charge=False, error=why))
        if out:
            self.spool.finish(out, now)
            self.metrics.inc("dead", len(lost))
        for row, why in lost:
            self._dead_notice(row, None, why, now)
        return units

    def _split_expired(self, rows, now):
        keep, old = [], []
        for r in rows:
            (old if now - r["received"] > self.r["lifetime"] else keep).append(r)
        return keep, old

    def _closes_sent(self, row):
        # a resolved alert whose firing this recipient got: the all-clear is never held back
        closes = compose.closes_of(row)
        return closes is not None and self.spool.delivered(closes, row["rcpt"])

    def _window(self, rcpt, now):
        # send times are kept oldest first: drop the expired ones from the front (a backlog of
        # thousands for one recipient must not cost a scan of all of them per message)
        w = self.sent.setdefault(rcpt, [])
        i = 0
        while i < len(w) and now - w[i] >= RATE_WINDOW:
            i += 1
        if i:
            del w[:i]
        return w

    def _rate_ok(self, rcpt, now):
        lim = self.cfg["digest"]["rate_per_hour"]
        return lim == 0 or len(self._window(rcpt, now)) < lim

    def _rate_free(self, rcpt, now):
        w = self._window(rcpt, now)
        return (w[0] + RATE_WINDOW) if w else now

    def _count_send(self, rcpt, now):
        if not self.cfg["digest"]["rate_per_hour"]:
            return          # no limit, nothing to remember
        self._window(rcpt, now).append(now)
        self._new_sends.append((rcpt, now))

    def _result(self, now, text):
        self.last_result = {"at": now, "result": text}
        self.spool.set_state("relay_last_result", self.last_result)

    # -- pause, notices --------------------------------------------------------------------
    def _pause(self, now, text, err=None):
        self.pool.drop()
        self.pause_until = now + self.r["pause_retry"]
        self._result(now, "paused: " + text)
        if self.paused and self.paused.get("reason") != text:
            # status shows the failure of now (after a reload, a different one), not the first
            log.error("relay still paused, now: %s", text)
            self.paused = dict(self.paused, reason=text)
            self.spool.set_state("relay_paused", self.paused)
        if not self.paused:
            from .hints import explain
            hint = explain(err, self.r) if err is not None else ""
            self.paused = {"since": now, "reason": text}
            self.spool.set_state("relay_paused", self.paused)
            log.error("relay paused (authentication or TLS failure): %s%s", text, " -- " + hint if hint else "")
            subject, body = compose.paused_notice(text, hint, self.r["pause_retry"])
            self.notify(compose.safe_id("gateway-paused-%d" % now), "critical", subject, body, now)

    def _resume(self, now):
        since = self.paused["since"]
        self.paused = None
        self.spool.set_state("relay_paused", None)
        log.info("relay resumed")
        subject, body = compose.resumed_notice(since)
        self.notify(compose.safe_id("gateway-resumed-%d" % now), "warning", subject, body, now)

    def _dead_notice(self, row, code, text, now):
        if row["kind"] in ("dead-letter", "relay-paused"):
            return     # never notify about a failed notice: no loops
        key = hashlib.sha1((row["alert_id"] + "\n" + row["rcpt"]).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        subject, body = compose.dead_notice(row, text)
        self.notify(compose.safe_id("gateway-dead-" + key), "warning", subject, body, now,
                    kind="dead-letter", exclude=row["rcpt"])

    def notify(self, alert_id, severity, subject, body, now, kind="relay-paused", exclude=None):
        ro = self.cfg["routing"]
        rcpts = [ro["owner"]] if ro["owner"] else routing.recipients(self.cfg, "gateway", severity)
        rcpts = [a for a in rcpts if a != exclude]
        if not rcpts:
            return
        try:
            a = compose.gateway_alert(alert_id, kind, severity, subject, body, rcpts, now)
        except Exception:   # gateway_alert cleans what it is given; this is the last resort
            log.exception("could not compose the notice %r", subject[:80])
            return
        self.spool.write([a])
        if self.on_notice is not None:
            self.on_notice()
