# A message body the caller writes piece by piece (usmtp.SMTP.data_begin/data_write/data_end,
# the shape uMail scripts expect): MAIL, RCPT and DATA up to the 354 (core.op_send without a
# body), then the caller's pieces through core.fix, then the end of data. Loaded only by a
# caller that uses it.
from usmtp.core import fix, tail
from usmtp.errors import SMTPUsageError


def data_begin(smtp, from_addr, to_addrs):
    """Start a message whose body the caller writes with data_write() and ends with
    data_end(). Returns the refused-recipients dict."""
    core = smtp._live()
    refused = smtp._run(core.op_send(from_addr, to_addrs, None))
    core.st = [True, False]
    return refused


def _open(core):
    if core.state != 6 or getattr(core, "st", None) is None:
        raise SMTPUsageError("no DATA transaction open (data_begin)")
    return core.st


def data_write(smtp, chunk):
    """One piece of the body: it goes out now."""
    core = smtp._live()
    out = fix(chunk, _open(core), True)
    if out:
        smtp._io(out, smtp.timeout)


def data_end(smtp):
    """Finish the message; returns the server's (code, text) for it."""
    core = smtp._live()
    st = _open(core)
    core.st = None
    core.q.append(tail(st, True))
    core.pend.append(8)
    if core.trace:
        core.trace("C: .")
    smtp._run(_end(core))
    return core.last


def _end(core):
    yield 0
    r = core.got[-1]
    if r[0] != 250:
        from usmtp.moreerrors import SMTPDataError, detail
        c, e, t = detail(r)
        raise SMTPDataError(c, t, e, "end of data")
