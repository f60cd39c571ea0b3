# The relay: takes due deliveries from the spool and sends them upstream through usmtp, a
# pipelined batch per connection, and keeps the connection for the next batch.
#
# Outcomes are decided in one place, classify():
#   2xx                          -> done
#   4xx, timeouts, network errors -> retry later, per-message exponential backoff with jitter,
#                                   dead once older than relay.lifetime
#   5xx                          -> dead letter with the server's reply; the owner is told
#   AUTH or TLS failure          -> pause the whole relay, tell the owner once, probe again
#                                   after relay.pause_retry; messages are not charged an attempt
# A destination that failed to connect is left alone until its own backoff has passed.
#
# A digest is recorded in the spool (message and members) in the same commit that marks its
# members "sending", so every retry sends the same bytes; the rate window's send times go into
# that commit too, so a restart does not reset the limit.
#
# Every message of a batch is settled by what the upstream said about it: a timeout or a lost
# connection mid-batch still settles the messages already answered (usmtp's partial_results),
# only the unanswered ones are retried, and a refusal at any step settles that message alone.
#
# Time comes from the injected clock: run_once() does one pass and returns how long to wait.
import hashlib
import logging
import random

import usmtp
from outpost_contract.rules import backoff
from usmtp.errors import (SMTPConnectError, SMTPError, SMTPPermanentError, SMTPRecipientsRefused,
                          SMTPUsageError, outcome)

from . import compose, routing

log = logging.getLogger("outpost.relay")

RATE_WINDOW = 3600.0
REQUEUE = object()      # a message whose connection was refused: out again next pass, uncharged


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


def open_upstream(r, trace=None):
    # one logged-in connection to the smarthost, per the [relay] config section
    s = usmtp.SMTP(r["host"], r["port"], mode=r["mode"], cadata=r["ca_data"],
                   timeout=r["timeout"], data_timeout=r["data_timeout"],
                   insecure_skip_verify=r["insecure_skip_verify"], allow_plaintext_auth=r["allow_plaintext_auth"], trace=trace)
    try:
        if r["username"] and r["oauth2_token"]:
            s.login_oauth2(r["username"], r["oauth2_token"])
        elif r["username"]:
            s.login(r["username"], r["password"])
    except BaseException:
        s.close()
        raise
    return s


class Relay:
    SHARE_MIN = 8         # messages a pass gives a connection before it opens one more
    LIMIT_HOLD = 300.0    # seconds the relay uses fewer connections after one was refused

    def __init__(self, cfg, spool, metrics, clock, rand=random.random, trace=None):
        self.cfg = cfg
        self.r = cfg["relay"]
        self.spool = spool
        self.metrics = metrics
        self.clock = clock
        self.rand = rand
        self.trace = trace
        self.slots = [{"conn": None, "used": 0.0} for _ in range(self.r["connections"])]
        self._pool = None
        self.limit = self.r["connections"]
        self.limit_until = 0.0
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
        self._setup_helpers()

    def _setup_helpers(self):
        self.signer = None
        if self.r["dkim_key_file"]:
            from .dkim_sign import Signer
            self.signer = Signer(self.r["dkim_selector"], self.r["dkim_domain"], self.r["dkim_key_file"])
        self.resolver = None
        if self.r["delivery"] == "mx":
            from . import mx
            self.resolver = mx.resolver(self.r["mx_resolver"])

    # -- reload ----------------------------------------------------------------------------
    def reconfigure(self, cfg):
        # from another thread (SIGHUP): taken at the start of the next pass
        self._pending_cfg = cfg

    def _apply_config(self):
        cfg, self._pending_cfg = self._pending_cfg, None
        self.close()                     # the connections were opened with the old settings
        self.cfg = cfg
        self.r = cfg["relay"]
        self.slots = [{"conn": None, "used": 0.0} for _ in range(self.r["connections"])]
        self.limit = self.r["connections"]
        self.limit_until = 0.0
        self._setup_helpers()
        # a paused or backed-off relay tries the new settings at once
        self.pause_until = 0.0
        self.down_until = 0.0
        log.info("relay: new settings taken (%s:%s, %d connection%s)%s", self.r["host"], self.r["port"],
                 self.r["connections"], "" if self.r["connections"] == 1 else "s",
                 "; paused relay tries again now" if self.paused else "")

    # -- connections -----------------------------------------------------------------------
    # relay.connections slots, each holding one kept-open connection. A pass shares its
    # messages out among them (a message goes to exactly one slot), so each connection
    # pipelines its own batch while the others wait for their replies.
    def connect(self):
        return open_upstream(self.r, self.trace)

    def parallel(self):
        # how many connections a pass may use now: relay.connections, fewer for a while after
        # the upstream refused one of them (too many connections for the account)
        if self.limit < self.r["connections"] and self.clock.time() >= self.limit_until:
            self.limit = self.r["connections"]
        return self.limit

    def close(self):
        for slot in self.slots:
            if slot["conn"] is not None:
                self._close_slot(slot)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _drop(self, slot=None):
        for s in (self.slots if slot is None else [slot]):
            conn, s["conn"] = s["conn"], None
            if conn is not None:
                try:
                    conn.close()
                except (SMTPError, OSError):
                    pass

    def _open(self, slot):
        try:
            slot["conn"] = self.connect()
        except (SMTPError, OSError) as e:
            e.at_open = True       # refused before any message: the connection, not the batch
            raise

    def _send(self, slot, batch, now):
        # -> (results, upstream replies); a stale kept-open connection gets one fresh try, but
        # only when nothing of the batch can have been accepted on it
        reused = slot["conn"] is not None
        if slot["conn"] is None:
            self._open(slot)
        try:
            res = slot["conn"].send_many(batch)
        except SMTPUsageError:
            # a message of the batch is unusable (refused locally, before anything was sent):
            # send them one by one so only that one fails
            if len(batch) == 1:
                raise
            res, replies = [], []
            for item in batch:
                try:
                    r1, p1 = self._send(slot, [item], now)
                    res.extend(r1)
                    replies.extend(p1)
                except SMTPUsageError as e:
                    res.append(e)
                    replies.append(None)
            return res, replies
        except (SMTPError, OSError) as e:
            self._drop(slot)
            if not reused or outcome(e) == "reconfigure" or \
                    any(r is not None for r in (getattr(e, "partial_results", None) or ())):
                raise
            self._open(slot)
            res = slot["conn"].send_many(batch)
        slot["used"] = now
        ends = getattr(slot["conn"], "last_replies", None) or ()
        replies = [None if e is None else " ".join([str(e.code)] + ([e.enhanced] if e.enhanced else []) + list(e.lines))
                   for e in ends]
        return res, replies + [None] * (len(res) - len(replies))

    def _send_slot(self, slot, batch, now):
        # one connection's share of a pass -> (results, replies, error): error is set when the
        # connection gave no answer at all (it could not be opened, or broke before any reply)
        try:
            res, replies = self._send(slot, batch, now)
            return res, replies, None
        except (SMTPError, OSError) as e:
            partial = getattr(e, "partial_results", None) or [None] * len(batch)
            res = [e if r is None else r for r in partial]
            return res, [None] * len(batch), (None if any(r is not None for r in partial) else e)

    def _share(self, n):
        # -> index ranges, one per connection used: one connection for a handful, more as the
        # pass grows (each opening costs round trips), never more than parallel()
        k = max(1, min(self.parallel(), (n + self.SHARE_MIN - 1) // self.SHARE_MIN))
        size, extra = divmod(n, k)
        out, i = [], 0
        for j in range(k):
            m = size + (1 if j < extra else 0)
            out.append((i, i + m))
            i += m
        return out

    def _send_all(self, batch, now):
        # -> per message (result, reply), and the errors of connections that answered nothing
        ranges = self._share(len(batch))
        # connections already open first: after the upstream refused some, the ones it kept
        # are the ones to use (opening others while they stay open would be refused again)
        slots = sorted(self.slots, key=lambda s: s["conn"] is None)
        if len(ranges) == 1:
            outs = [self._send_slot(slots[0], batch, now)]
        else:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor
                self._pool = ThreadPoolExecutor(max_workers=len(self.slots), thread_name_prefix="relay-conn")
            futs = [self._pool.submit(self._send_slot, slots[j], batch[a:b], now)
                    for j, (a, b) in enumerate(ranges)]
            outs = [f.result() for f in futs]
        return ranges, outs

    def _sign(self, msg):
        # -> the message as bytes: a batch keeps each message's bytes until it is settled, so
        # a retry (on a fresh connection, or in a later pass) sends exactly the same message
        data = msg if isinstance(msg, bytes) else b"".join(msg)
        if self.signer is None:
            return data
        return self.signer.sign(data)

    def _send_mx(self, batch):
        # direct delivery: per recipient domain, its mail exchangers in preference order; a
        # domain that cannot be reached only delays its own messages
        from . import mx
        results = [None] * len(batch)
        by_domain = {}
        for i, item in enumerate(batch):
            by_domain.setdefault(item[1][0].rpartition("@")[2].lower(), []).append(i)
        for domain, idx in by_domain.items():
            sub = [batch[i] for i in idx]
            try:
                res = self._deliver_domain(domain, sub, mx)
            except mx.NoMailDomain as e:
                res = [SMTPPermanentError(550, str(e))] * len(sub)
            except mx.LookupFailed as e:
                res = [SMTPConnectError(str(e))] * len(sub)
            except (SMTPError, OSError) as e:
                partial = getattr(e, "partial_results", None) or [None] * len(sub)
                res = [e if p is None else p for p in partial]
            for i, r in zip(idx, res):
                results[i] = r
        return results

    def _deliver_domain(self, domain, sub, mx):
        r = self.r
        last = None
        for host in mx.mail_hosts(domain, self.resolver):
            try:
                ip = mx.address(host, self.resolver)
                s = usmtp.SMTP(ip, r["port"] or 25, mode=r["mode"], cadata=r["ca_data"],
                               server_hostname=host, timeout=r["timeout"], data_timeout=r["data_timeout"],
                               insecure_skip_verify=r["insecure_skip_verify"], trace=self.trace)
            except (SMTPConnectError, mx.LookupFailed) as e:
                last = e          # that exchanger is unreachable: try the next one
                continue
            try:
                return s.send_many(sub)
            finally:
                try:
                    s.quit()
                except (SMTPError, OSError):
                    s.close()
        raise last if last is not None else mx.LookupFailed("no mail host for " + domain)

    # -- one pass --------------------------------------------------------------------------
    def run_once(self):
        if self._pending_cfg is not None:
            self._apply_config()
        now = self.clock.time()
        if self.paused and now < self.pause_until:
            return self.pause_until - now
        if now < self.down_until:
            return self.down_until - now
        self._new_sends = []
        self._new_digests = []
        units = self._plan(now)
        if not units:
            for slot in self.slots:
                if slot["conn"] is not None and now - slot["used"] >= self.r["idle_close"]:
                    self._close_slot(slot)
            nd = self.spool.next_due()
            wait = 60.0 if nd is None else max(0.0, nd - now)
            for slot in self.slots:
                if slot["conn"] is not None:
                    wait = min(wait, max(0.0, slot["used"] + self.r["idle_close"] - now))
            return wait
        keys = [(row["alert_id"], row["rcpt"]) for u in units for row in u[1]]
        self.spool.set_status(keys, "sending", now, sends=self._new_sends, digests=self._new_digests,
                              window=RATE_WINDOW)
        batch = [(u[2][0], [u[1][0]["rcpt"]], self._sign(u[2][1])) for u in units]
        if self.resolver is not None:
            self._settle(units, self._send_mx(batch), now, None)
            return 0.0
        ranges, outs = self._send_all(batch, now)
        results, replies, refused, worked = [], [], [], 0
        for (a, b), (res, rep, err) in zip(ranges, outs):
            results.extend(res)
            replies.extend(rep)
            if err is None:
                worked += 1
            else:
                refused.append((a, b, err))
        failed_connect = None
        if refused and not worked:
            # no connection got an answer: the destination itself is down (backed off as a whole)
            failed_connect = refused[0][2]
        elif refused:
            # some connections work and others were refused (too many connections for the
            # account, a 421 at the greeting): their messages go out again at once on the
            # working ones, uncharged, and the relay uses fewer connections for a while
            for a, b, err in refused:
                if getattr(err, "at_open", False) and outcome(err) != "reconfigure":
                    results[a:b] = [REQUEUE] * (b - a)
            if worked < self.limit:
                log.warning("upstream refused %d of %d connections (%s); using %d for %d s",
                            len(refused), len(ranges), refused[0][2], worked, self.LIMIT_HOLD)
            self.limit = max(1, worked)
            self.limit_until = now + self.LIMIT_HOLD
        if failed_connect is None:
            self.down_count = 0
        self._settle(units, results, now, failed_connect, replies)
        return 0.0

    def _close_slot(self, slot):
        conn, slot["conn"] = slot["conn"], None
        try:
            conn.quit()
        except (SMTPError, OSError):
            pass
        try:
            conn.close()
        except (SMTPError, OSError):
            pass

    def _plan(self, now):
        # -> list of (kind, rows, (from, msg, message_id)); digests first, then single alerts
        # relay.batch per connection: a pass fills every connection it may use
        batch = self.r["batch"] * (1 if self.resolver is not None else self.parallel())
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
                units.append(("digest", rows, (sender, msg, mid)))
        for rcpt, n in self.spool.ready_count_by_rcpt(now).items():
            if n >= threshold and len(units) < batch:
                rows = self.spool.due_for(rcpt, now, 1000)
                rows, old = self._split_expired(rows, now)
                expired.extend(old)
                if rows:
                    f, chunks, mid = compose.digest_for(rcpt, rows, sender, now)
                    msg = b"".join(chunks)
                    self._new_digests.append((mid, rcpt, msg, [(r["alert_id"], r["rcpt"]) for r in rows]))
                    units.append(("digest", rows, (f, msg, mid)))
                digested.add(rcpt)
        held = []
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
                held.append(row)
                continue
            try:
                f, msg, mid = compose.message_for(row, sender)
            except (SMTPError, ValueError) as e:
                # a message that cannot be written will never go out: dead now, not a loop
                unwritable.append((row, str(e)))
                continue
            units.append(("single", [row], (f, msg, mid)))
            self._count_send(row["rcpt"], now)
        for u in units:
            if u[0] == "digest":
                self._count_send(u[1][0]["rcpt"], now)
        out = []
        for row in expired:
            out.append((row["alert_id"], row["rcpt"], "dead", row["attempts"], now,
                        "lifetime of %ds exceeded" % self.r["lifetime"], None, None))
        for row, err in unwritable:
            out.append((row["alert_id"], row["rcpt"], "dead", row["attempts"], now,
                        "cannot write the message: " + err, None, None))
        for row in held:
            # over the recipient's rate: wait for the window; a growing pile becomes a digest
            out.append((row["alert_id"], row["rcpt"], "ready", row["attempts"], self._rate_free(row["rcpt"], now),
                        "held by rate limit", None, None))
        if out:
            self.spool.finish(out, now)
            self.metrics.inc("dead", len(expired) + len(unwritable))
        for row, err in unwritable:
            self._dead_notice(row, None, "cannot write the message: " + err, now)
        for row in expired:
            self._dead_notice(row, None, "lifetime of %ds exceeded" % self.r["lifetime"], now)
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

    def _settle(self, units, results, now, failed_connect, replies=None):
        out = []
        pause = None
        dead_rows = []
        sent = 0
        replies = replies or [None] * len(units)
        pause_err = None
        for (kind, rows, (f, msg, mid)), res, reply in zip(units, results, replies):
            if res is REQUEUE:
                for row in rows:
                    out.append((row["alert_id"], row["rcpt"], "ready", row["attempts"], now,
                                "connection refused; sent again on another", None, None))
                continue
            outcome, code, text = classify(res)
            for row in rows:
                if outcome == "done":
                    out.append((row["alert_id"], row["rcpt"], "done", row["attempts"] + 1, now, None, code,
                                mid if kind == "digest" else None))
                    sent += 1
                    log.info("alert %s relayed to %s%s: %s", row["alert_id"], row["rcpt"],
                             " in digest " + mid if kind == "digest" else "", reply or code)
                    continue
                if outcome != "pause":
                    log.info("alert %s to %s %s: %s", row["alert_id"], row["rcpt"],
                             "deferred" if outcome == "retry" else "refused", text)
                if outcome == "pause":
                    pause = text
                    pause_err = res
                    out.append((row["alert_id"], row["rcpt"], "ready", row["attempts"], now, text, code, None))
                elif outcome == "retry":
                    att = row["attempts"] + 1
                    nxt = now + backoff(att, self.r["backoff_base"], self.r["backoff_factor"],
                                        self.r["backoff_max"], self.r["jitter"], self.rand)
                    if nxt - row["received"] > self.r["lifetime"]:
                        out.append((row["alert_id"], row["rcpt"], "dead", att, now,
                                    "lifetime exceeded; last error: " + text, code, None))
                        dead_rows.append((row, code, text))
                    else:
                        out.append((row["alert_id"], row["rcpt"], "ready", att, nxt, text, code, None))
                        self.metrics.inc("retried")
                else:
                    out.append((row["alert_id"], row["rcpt"], "dead", row["attempts"] + 1, now, text, code, None))
                    dead_rows.append((row, code, text))
            if outcome == "done" and kind == "digest":
                self.metrics.inc("digests")
        self.spool.finish(out, now)
        self.metrics.inc("relayed", sent)
        if dead_rows:
            self.metrics.inc("dead", len(dead_rows))
        if failed_connect is not None and pause is None:
            # the destination itself is down: back off as a whole, not message by message
            self.down_count += 1
            self.down_until = now + backoff(self.down_count, min(self.r["backoff_base"], 10.0), 2.0,
                                            self.r["backoff_max"], self.r["jitter"], self.rand)
            self._result(now, "upstream unreachable: %s" % failed_connect)
        elif pause is not None:
            self._pause(now, pause, pause_err)
        else:
            if self.paused:
                self._resume(now)
            self._result(now, "sent %d, deferred or dead %d" % (sent, len(out) - sent))
        for row, code, text in dead_rows:
            self._dead_notice(row, code, text, now)

    def _result(self, now, text):
        self.last_result = {"at": now, "result": text}
        self.spool.set_state("relay_last_result", self.last_result)

    # -- pause, notices --------------------------------------------------------------------
    def _pause(self, now, text, err=None):
        self._drop()
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
            self.notify(compose.safe_id("gateway-paused-%d" % now), "critical",
                        "Outpost gateway cannot send mail: " + compose.one_line(text, 120),
                        "The gateway's upstream refused authentication or TLS:\n\n  %s\n\n%s"
                        "Alerts are kept in the spool and will go out once this is fixed.\n"
                        "The gateway probes again every %d seconds, and at once when its config is\n"
                        "reloaded (systemctl reload outpost-gateway, or SIGHUP).\n"
                        % (text, (hint + "\n\n") if hint else "", self.r["pause_retry"]), now)

    def _resume(self, now):
        since = self.paused["since"]
        self.paused = None
        self.spool.set_state("relay_paused", None)
        log.info("relay resumed")
        self.notify(compose.safe_id("gateway-resumed-%d" % now), "warning",
                    "Outpost gateway sends mail again",
                    "Mail had been paused since %s (%s); the held alerts are going out now.\n"
                    % (compose._when(since), "authentication or TLS failure"), now)

    def _dead_notice(self, row, code, text, now):
        if row["kind"] in ("dead-letter", "relay-paused"):
            return     # never notify about a failed notice: no loops
        key = hashlib.sha1((row["alert_id"] + "\n" + row["rcpt"]).encode("utf-8", "surrogatepass")).hexdigest()[:12]
        self.notify(compose.safe_id("gateway-dead-" + key), "warning",
                    "Outpost could not deliver an alert to " + row["rcpt"],
                    "The upstream refused alert %s for %s for good:\n\n  %s\n\n"
                    "Subject: %s\nDevice: %s\n\nIt is in the dead-letter table: "
                    "outpost-gateway queue dead / queue retry %s\n"
                    % (row["alert_id"], row["rcpt"], text, row["subject"], row["device"], row["alert_id"]),
                    now, kind="dead-letter", exclude=row["rcpt"])

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
