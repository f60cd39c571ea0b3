# A message body the caller writes piece by piece (usmtp.SMTP.data_begin/data_write/data_end,
# the shape uMail scripts expect): MAIL, RCPT and DATA up to the 354 (core.op_send without a
# body), then the caller's pieces through core.fix, then the end of data. Loaded only by a
# caller that uses it.
from usmtp.core import fix, tail
from usmtp.errors import SMTPUsageError


def data_begin(smtp, from_addr, to_addrs):
    """Start a message whose body the caller writes with data_write() and ends with
    data_end(). Returns the refused-recipients dict."""
    return smtp._run(op_begin_data(smtp._live(), from_addr, to_addrs))


def data_write(smtp, chunk):
    """One piece of the body: it goes out now."""
    write_data(smtp._live(), chunk)
    core = smtp._core
    while True:
        out = core.data_to_send()
        if not out:
            return
        smtp._io(out, smtp.timeout)


def data_end(smtp):
    """Finish the message; returns the server's (code, text) for it."""
    smtp._run(op_end_data(smtp._live()))
    return smtp._core.last


# the core's side: MAIL, RCPT and DATA up to the 354; the pieces; the end of data

def op_begin_data(core, sender, rcpts):
    refused = yield from core.op_send(sender, rcpts, None)
    core.st = [True, False, refused]    # fix()'s state, and what begin answered
    return refused


def _open(core):
    if core.state != 6 or getattr(core, "st", None) is None:
        raise SMTPUsageError("no DATA transaction open (data_begin)")
    return core.st


def write_data(core, chunk):
    out = fix(chunk, _open(core), True)
    if out:
        core.q.append(out)


def op_end_data(core):
    st = _open(core)
    core.st = None
    core.q.append(tail(st, True))
    core.pend.append(8)
    if core.trace:
        core.trace("C: .")
    yield 0
    r = core.got[-1]
    if r[0] != 250:
        from usmtp.moreerrors import SMTPDataError, detail
        c, e, t = detail(r)
        raise SMTPDataError(c, t, e, "end of data")
    return st[2]
