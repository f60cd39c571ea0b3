# Several messages in one pipelined batch for the core (core.op_send_many, usmtp.SMTP.send_many,
# the gateway's relay), and what a batch broken off by a timeout or a lost connection settled.
# Loaded only when a batch is sent: a board sends one message at a time.

from usmtp.errors import SMTPAuthError, SMTPError
from usmtp.core import precheck, transaction


def settled(tx):
    """The server's replies so far decide this message: it was answered at the end of its
    data, or refused at some step (AUTH, MAIL, every RCPT, DATA, a BDAT chunk). A message not
    settled when a batch breaks off is the only kind worth sending again."""
    if tx.end is not None or tx.error is not None or tx.bdat_err is not None:
        return True
    if tx.auth is not None and tx.auth.code != 235:
        return True
    if tx.mail is not None and tx.mail.code != 250:
        return True
    if tx.rcpts and len(tx.rcpt) == len(tx.rcpts) and not tx.accepted():
        return True
    return tx.data is not None and tx.data.code != 354


def partial(txs):
    # per message of a broken batch: its outcome when the server's replies settled it,
    # None when it is still unanswered (only those may be sent again)
    out = []
    for tx in txs:
        try:
            out.append(tx.outcome() if settled(tx) else None)
        except SMTPError as e:
            out.append(e)
    return out


def partial_results(core):
    """core.partial_results(): after a batch broke off (a timeout, a lost connection), the
    outcome of every message the server had answered, None for the rest; None when no batch
    was running."""
    if core._batch is None:
        return None
    out = partial(core._batch)
    core._batch = None
    return out


def _ok(tx):
    try:
        tx.outcome()
        return True
    except SMTPError:
        return False


def _watch(tx, i, on_settled):
    # tell the caller about message i as soon as its replies settle it, not when the batch
    # ends: a caller that records it then re-sends after a crash at most the message whose
    # reply was still on its way
    heard = tx.on_reply

    def hear(cmd, key, r):
        heard(cmd, key, r)
        if not tx.told and settled(tx):
            tx.told = True
            try:
                res = tx.outcome()
            except SMTPError as e:
                res = e
            on_settled(i, res, r)
    tx.told = False
    tx.on_reply = hear


def op_send_many(core, txs, on_settled=None, one_end=True):
    core._need("ready")
    core._batch = txs
    # with on_settled, one message's end of data in flight at a time (CHUNKING included):
    # the previous one is answered and settled before the next can be accepted
    core.one_end = on_settled is not None and one_end
    if on_settled is not None:
        for i in range(len(txs)):
            _watch(txs[i], i, on_settled)
    try:
        return (yield from _send_many(core, txs))
    finally:
        core.one_end = False


def _send_many(core, txs):
    first = True
    for tx in txs:
        precheck(core, tx)
        if tx.error is not None:
            continue
        if core.pipelining:
            if not first:
                # the previous transaction may have failed half-open; RSET costs no round trip
                core._send("RSET")
            yield from transaction(core, tx)
            if tx.auth is not None and tx.auth.code != 235:
                # a refused AUTH: no message of the batch goes out unauthenticated
                for t in txs:
                    if t is not tx and t.mail is None and t.error is None:
                        t.error = SMTPAuthError(tx.auth.code, tx.auth.text,
                                                tx.auth.enhanced, "AUTH")
                break
        else:
            yield from transaction(core, tx)
            yield 0
            if not _ok(tx):
                yield from core._rset()
        first = False
    yield 0
    results = []
    last_failed = False
    bad_auth = None
    for tx in txs:
        if tx.auth is not None and tx.auth.code != 235:
            bad_auth = tx.auth
        try:
            results.append(tx.outcome())
            last_failed = False
        except SMTPError as e:
            if bad_auth is not None and tx.auth is None and tx.mail is not None and \
                    tx.mail.code != 250:
                # a deferred AUTH rode with an earlier message: its refusal sank this MAIL
                e = SMTPAuthError(bad_auth.code, bad_auth.text, bad_auth.enhanced, "AUTH")
            results.append(e)
            last_failed = tx.error is None
    core._batch = None
    # a failed message may have left the server inside a transaction even when a later
    # message of the batch was refused before sending (last_failed is then False)
    if core.state != "closed" and (core.state != "ready" or (last_failed and core.pipelining)):
        yield from core._rset()
    return results


def send_many(smtp, items, on_settled=None, one_end=True):
    # usmtp.SMTP.send_many (found on first use: core.lazy): several messages in one pipelined
    # batch, items of (from_addr, to_addrs, msg). Returns, per message, its refused dict or the
    # SMTPError that refused it. on_settled(i, result, reply), if given, is called as each
    # message's reply arrives (its refused dict or its SMTPError, and the Reply that settled
    # it), so the caller can record it before the next message goes out (one_end=False: a
    # CHUNKING batch still goes in one burst); messages refused before sending are only in
    # the returned list. When the batch breaks off (a timeout, a lost connection, a 421)
    # the error carries .partial_results: per message, the outcome the server's replies
    # settled, or None where it gave none. Only those are worth sending again; give messages
    # as bytes if you may (a generator is used up by the first attempt).
    from usmtp.client import _size_and_8bit
    core = smtp._live()
    txs = []
    for it in items:
        size, eight, msg = _size_and_8bit(it[2])
        txs.append(core.make_tx(it[0], it[1], msg, size, eight))
    try:
        return smtp._run(core.op_send_many(txs, on_settled, one_end))
    finally:
        # the server's last word on each message (a Reply, or None), for a caller that logs
        # it; the replies only, so no message's bytes are kept past the call
        smtp.last_replies = [t.end for t in txs]


def settle(core, e):
    # e.partial_results: per message, its outcome, None for the unanswered ones
    if getattr(e, "partial_results", None) is not None:
        return
    res = partial_results(core)
    if res is not None:
        try:
            e.partial_results = res
        except AttributeError:
            pass        # MicroPython: a built-in exception takes no attributes
