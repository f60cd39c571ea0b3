# Several messages in one pipelined batch (usmtp.SMTP.send_many, the gateway's relay), and
# what a batch broken off by a timeout or a lost connection settled. Loaded only when a batch
# is sent: a board sends one message at a time.
#
# Each message is one core.tx(); its replies are core.got[first:end], from its first reply to
# whatever was queued after it (an RSET, or the next message).
from usmtp.core import sized
from usmtp.errors import SMTPError, SMTPUsageError

BIG = 1 << 30


def settled(core, m, t, end):
    """The replies so far decide message m (transaction t): it was answered at the end of its
    data, or refused at some step. Only a message not settled when a batch breaks off is
    worth sending again."""
    b, au, bd = t
    r = core.got[b:end]
    to = m[1]
    n = au + 1 + len(to)
    if not r:
        return False
    if au and r[0][0] != 235 or len(r) > au and r[au][0] != 250:
        return True
    if len(r) >= n and not core.sendable(r[au:], to):
        return True
    if bd:
        for x in r[n:]:
            if x[0] != 250:
                return True
        return len(core.got) > bd
    return len(r) > n and r[n][0] != 354 or len(r) > n + 1


def _unhook(core):
    # the core's own dispatch and poll again (op_send_many wrapped them)
    for a in ("hear", "dispatch", "poll"):
        try:
            delattr(core, a)
        except (AttributeError, KeyError):
            pass


def send_many(smtp, items, on_settled=None, one_end=True):
    """Several messages in one pipelined batch: items of (from_addr, to_addrs, msg). Returns,
    per message, its refused dict or the SMTPError that refused it. on_settled(i, result,
    reply), if given, is called as each message's reply arrives (its result, and the reply
    (code, text) that settled it), so the caller can record it before the next message goes
    out (one_end=False: a CHUNKING batch goes in one burst); messages refused before sending
    are only in the returned list. When the batch breaks off (a timeout, a lost connection, a
    421) the error carries .partial_results: per message, the outcome the replies settled, or
    None. Only those are worth sending again; give messages as bytes if you may (a generator
    is used up by the first attempt)."""
    core = smtp._live()
    try:
        return smtp._run(op_send_many(core, items, on_settled, one_end))
    except BaseException as e:
        h = getattr(core, "hear", None)
        if h:
            h(e)    # broken off: what the replies so far settled (after the client's salvage)
        raise
    finally:
        _unhook(core)
        core.one_end = False
        # the server's last word on each message (a reply, or None), for a caller that logs it
        smtp.last_replies = getattr(core, "lasts", None)


def op_send_many(core, items, on_settled=None, one_end=True):
    # the core's operation for send_many (above)
    core.need(3)
    ms = []
    res = []
    for it in items:
        msg, size, eight = sized(it[2])
        if size is None and len(it) > 3:
            size = it[3]
        e = None
        try:
            env = core.envelope(it[0], it[1], size)
        except SMTPError as x:
            if isinstance(x, SMTPUsageError) and "SMTPUTF8" not in str(x):
                raise       # a bad address: the caller's mistake, not this message's fate
            env = None
            e = x           # over the server's SIZE, or SMTPUTF8 it lacks: this message only
        ms.append((env, msg, size, eight))
        res.append(e)
    ts = [None] * len(ms)
    ends = [BIG] * len(ms)
    told = [False] * len(ms)
    core.lasts = [None] * len(ms)

    def hear(r):
        if isinstance(r, BaseException):
            # the batch broke off: what the replies so far settled, None for the rest
            # (again after the client salvaged replies that arrived before the break)
            if isinstance(r, SMTPError):
                out = []
                for i in range(len(ms)):
                    t = ts[i]
                    if t is not None and settled(core, ms[i][0], t, ends[i]):
                        out.append(core.verdict(ms[i][0], t, 1, ends[i]))
                    else:
                        out.append(res[i])
                try:
                    r.partial_results = out
                except AttributeError:
                    pass        # MicroPython: a built-in exception takes no attributes
            return
        if on_settled is None:
            return
        for i in range(len(ms)):
            t = ts[i]
            if t is not None and not told[i] and settled(core, ms[i][0], t, ends[i]):
                told[i] = True
                on_settled(i, core.verdict(ms[i][0], t, 1, ends[i]), r)

    # the one-message core has no hooks: this batch wraps its dispatch (each reply heard as
    # the core kept it) and its poll (an error that breaks the batch off)
    d = core.dispatch
    p = core.poll

    def dispatch(r):
        d(r)
        hear(core.got[-1])

    def poll():
        try:
            return p()
        except SMTPError as e:
            hear(e)
            raise

    core.hear = hear
    core.dispatch = dispatch
    core.poll = poll
    core.one_end = on_settled is not None and one_end
    yield from _op(core, ms, ts, ends)
    _unhook(core)
    core.one_end = False
    bad = None      # a refused deferred AUTH: no later message went out unauthenticated
    g = core.got
    for i in range(len(ms)):
        t = ts[i]
        if t is not None:
            b, au, bd = t
            if au and g[b][0] != 235:
                bad = g[b]
            res[i] = core.verdict(ms[i][0], t, 1, ends[i])
            n = b + au + 1 + len(ms[i][0][1])
            if isinstance(res[i], dict):
                core.lasts[i] = g[bd] if bd else g[n + 1]
        elif res[i] is None and bad is not None:
            from usmtp.moreerrors import SMTPAuthError, detail
            c, x, txt = detail(bad)
            res[i] = SMTPAuthError(c, txt, x, "AUTH")
    return res


def _op(core, ms, ts, ends):
    pipe = core.has("PIPELINING")
    prev = None
    failed = False
    for i in range(len(ms)):
        m = ms[i]
        if m[0] is None:
            continue
        if prev is not None:
            if ends[prev] == BIG:
                ends[prev] = len(core.got) + len(core.pend)
            if pipe:
                # the previous transaction may have failed half-open; RSET costs no round trip
                core.cmd(9)
        # known before its replies can come (a BDAT LAST's place is known once it is queued)
        ts[i] = (len(core.got) + len(core.pend), 1 if core.auth else 0,
                 BIG if core.has("CHUNKING") else 0)
        t = yield from core.tx(m[0], m[1], m[2], m[3])
        ts[i] = t
        prev = i
        yield 0 if not pipe or t[1] else 100
        if t[1] and core.got[t[0]][0] != 235:
            break               # a refused AUTH: no message goes out unauthenticated
        if not pipe:
            failed = not isinstance(core.verdict(m[0], t, 1, len(core.got)), dict)
            if failed:
                ends[i] = len(core.got)
                yield from core.reply(9)
    yield 0
    if prev is not None and ends[prev] == BIG:
        ends[prev] = len(core.got)
        failed = not isinstance(core.verdict(ms[prev][0], ts[prev], 1, ends[prev]), dict)
    if core.state != 0 and (core.state != 3 or failed and pipe):
        yield from core.reply(9)
