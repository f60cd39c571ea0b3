# The upstream pool: relay.connections kept-open SMTP connections to the smarthost (or, with
# relay.delivery = mx, one connection per recipient domain and pass). It only sends: the relay
# plans what goes, hands a batch here, and settles each message from the on_result calls,
# which come as each message's reply arrives (before the next message's end of data goes out).
#
# send_all(batch, on_result) -> a Sent: per connection used, the range of the batch it carried
# and, when it got no answer at all (could not be opened, broke before any reply), its error.
# on_result(i, result, reply) may run on the pool's threads, at most once per message; messages
# it was never called for are left to the caller (unanswered, or refused before sending).
#
# The relay uses send_all, probe (open a connection, send nothing: is a down upstream back?),
# parallel, idle, drop and close. Tests hand it a scripted pool with the same methods
# (tests/host/scripted_upstream.py): no socket is needed to test planning and settling.
import logging

import usmtp
from usmtp.errors import SMTPConnectError, SMTPError, SMTPPermanentError, SMTPUsageError, outcome

log = logging.getLogger("outpost.relay")


def open_upstream(r, trace=None):
    # one logged-in connection to the smarthost, per the [relay] config section
    s = usmtp.SMTP(r["host"], r["port"], mode=r["mode"], cadata=r["ca_data"],
                   timeout=r["timeout"], data_timeout=r["data_timeout"],
                   insecure_skip_verify=r["insecure_skip_verify"], allow_plaintext_auth=r["allow_plaintext_auth"],
                   trace=trace)
    try:
        if r["username"] and r["oauth2_token"]:
            s.login_oauth2(r["username"], r["oauth2_token"])
        elif r["username"]:
            s.login(r["username"], r["password"])
    except BaseException:
        s.close()
        raise
    return s


def reply_text(e):
    # a usmtp reply (code, text) (or None) as one line for the log: "250 2.0.0 queued as X"
    if e is None:
        return None
    return " ".join([str(e[0])] + e[1].split("\n"))


class Sent:
    # what one send_all did, connection by connection
    __slots__ = ("ranges", "errors", "results")

    def __init__(self, n=0):
        self.ranges = []      # (start, end) of the batch, per connection used
        self.errors = []      # per connection: None, or the error when it answered nothing
        self.results = [None] * n     # per message on_result was not called for: its result

    def add(self, a, b, err):
        self.ranges.append((a, b))
        self.errors.append(err)

    @property
    def worked(self):
        return sum(1 for e in self.errors if e is None)

    def refused(self):
        return [(a, b, e) for (a, b), e in zip(self.ranges, self.errors) if e is not None]


class UpstreamPool:
    SHARE_MIN = 8         # messages a pass gives a connection before it opens one more
    LIMIT_HOLD = 300.0    # seconds the pool uses fewer connections after one was refused

    def __init__(self, r, clock, trace=None):
        self.r = r
        self.clock = clock
        self.trace = trace
        self.slots = [{"conn": None, "used": 0.0} for _ in range(r["connections"])]
        self.limit = r["connections"]
        self.limit_until = 0.0
        self._threads = None
        self.resolver = None
        if r["delivery"] == "mx":
            from . import mx
            self.resolver = mx.resolver(r["mx_resolver"])

    # -- what the relay reads ----------------------------------------------------------------
    def parallel(self):
        # how many connections a pass may use now: relay.connections, fewer for a while after
        # the upstream refused one of them (too many connections for the account)
        if self.resolver is not None:
            return 1
        if self.limit < self.r["connections"] and self.clock.time() >= self.limit_until:
            self.limit = self.r["connections"]
        return self.limit

    def idle(self, now):
        # close connections idle for relay.idle_close; -> seconds until the next one would be
        # due to close (None when none is open)
        wait = None
        for slot in self.slots:
            if slot["conn"] is None:
                continue
            left = slot["used"] + self.r["idle_close"] - now
            if left <= 0:
                self._close_slot(slot)
            else:
                wait = left if wait is None else min(wait, left)
        return wait

    def drop(self):
        # the connections are no good (AUTH or TLS refused): close them without QUIT
        for s in self.slots:
            conn, s["conn"] = s["conn"], None
            if conn is not None:
                try:
                    conn.close()
                except (SMTPError, OSError):
                    pass

    def close(self):
        for slot in self.slots:
            if slot["conn"] is not None:
                self._close_slot(slot)
        if self._threads is not None:
            self._threads.shutdown(wait=True)
            self._threads = None

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

    # -- sending -------------------------------------------------------------------------------
    def connect(self):
        return open_upstream(self.r, self.trace)

    def _open(self, slot):
        try:
            slot["conn"] = self.connect()
        except (SMTPError, OSError) as e:
            e.at_open = True       # refused before any message: the connection, not the batch
            raise

    def _send(self, slot, batch, tell):
        # -> results; a stale kept-open connection gets one fresh try, but only when nothing of
        # the batch can have been accepted on it
        reused = slot["conn"] is not None
        if slot["conn"] is None:
            self._open(slot)
        try:
            res = self._send_on(slot, batch, tell)
        except SMTPUsageError:
            # a message of the batch is unusable (refused locally, before anything was sent):
            # send them one by one so only that one fails
            if len(batch) == 1:
                raise
            res = []
            for j, item in enumerate(batch):
                try:
                    res.extend(self._send(slot, [item], lambda i, r, p, j=j: tell(j, r, p)))
                except SMTPUsageError as e:
                    res.append(e)
            return res
        except (SMTPError, OSError) as e:
            self._drop_slot(slot)
            if not reused or outcome(e) == "reconfigure" or \
                    any(r is not None for r in (getattr(e, "partial_results", None) or ())):
                raise
            self._open(slot)
            res = self._send_on(slot, batch, tell)
        slot["used"] = self.clock.time()
        return res

    def _send_on(self, slot, batch, tell):
        return slot["conn"].send_many(batch, lambda i, result, reply: tell(i, result, reply_text(reply)),
                                      self.r.get("one_in_flight", True))

    def probe(self):
        # the destination was down: one connection opened (and kept for the next batch), nothing
        # sent; raises what opening it raised
        slot = self.slots[0]
        if slot["conn"] is None:
            self._open(slot)
        slot["used"] = self.clock.time()

    def _drop_slot(self, slot):
        conn, slot["conn"] = slot["conn"], None
        if conn is not None:
            try:
                conn.close()
            except (SMTPError, OSError):
                pass

    def _send_slot(self, slot, batch, a, on_result):
        # one connection's share -> (results, error): error is set when the connection gave no
        # answer at all (it could not be opened, or broke before any reply)
        told = set()

        def tell(i, result, reply):
            told.add(i)
            on_result(a + i, result, reply)
        try:
            res = self._send(slot, batch, tell)
            err = None
        except (SMTPError, OSError) as e:
            partial = getattr(e, "partial_results", None) or [None] * len(batch)
            res = [e if r is None else r for r in partial]
            err = None if any(r is not None for r in partial) else e
        return res, err, told

    def share(self, n):
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

    def send_all(self, batch, on_result):
        # batch: [(from, [rcpt], message bytes, domain)] -> Sent; see the header
        if self.resolver is not None:
            return self._send_mx(batch, on_result)
        ranges = self.share(len(batch))
        # connections already open first: after the upstream refused some, the ones it kept
        # are the ones to use (opening others while they stay open would be refused again)
        slots = sorted(self.slots, key=lambda s: s["conn"] is None)
        items = [b[:3] for b in batch]
        if len(ranges) == 1:
            outs = [self._send_slot(slots[0], items, 0, on_result)]
        else:
            if self._threads is None:
                from concurrent.futures import ThreadPoolExecutor
                self._threads = ThreadPoolExecutor(max_workers=len(self.slots), thread_name_prefix="relay-conn")
            futs = [self._threads.submit(self._send_slot, slots[j], items[a:b], a, on_result)
                    for j, (a, b) in enumerate(ranges)]
            outs = [f.result() for f in futs]
        sent = Sent(len(batch))
        for (a, b), (res, err, told) in zip(ranges, outs):
            sent.add(a, b, err)
            for i, r in enumerate(res):
                if i not in told:
                    sent.results[a + i] = r
        refused = sent.refused()
        if refused and sent.worked:
            # some connections work and others were refused (too many connections for the
            # account, a 421 at the greeting): use fewer for a while
            if sent.worked < self.limit:
                log.warning("upstream refused %d of %d connections (%s); using %d for %d s",
                            len(refused), len(ranges), refused[0][2], sent.worked, self.LIMIT_HOLD)
            self.limit = max(1, sent.worked)
            self.limit_until = self.clock.time() + self.LIMIT_HOLD
        return sent

    # -- direct delivery (relay.delivery = mx) ---------------------------------------------------
    def _send_mx(self, batch, on_result):
        # per recipient domain, its mail exchangers in preference order; a domain that cannot
        # be reached only delays its own messages (never counted as the upstream being down)
        from . import mx
        sent = Sent(len(batch))
        sent.add(0, len(batch), None)
        by_domain = {}
        for i, item in enumerate(batch):
            by_domain.setdefault(item[1][0].rpartition("@")[2].lower(), []).append(i)
        for domain, idx in by_domain.items():
            sub = [batch[i][:3] for i in idx]
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
                sent.results[i] = r
        return sent

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
