# A message body the caller writes piece by piece (usmtp.SMTP.data_begin/data_write/data_end,
# the shape uMail scripts expect), for the core: MAIL, RCPT and DATA up to the 354, then the
# caller's pieces dot-stuffed, then the end of data. Loaded only by a caller that uses it: each
# function here is the method of the same name of ClientCore (op_begin_data, write_data,
# op_end_data) or of usmtp.SMTP (data_write), which finds it on first use (core.lazy).

from usmtp.core import RCPT_OK, DataStuffer, precheck, transaction
from usmtp.errors import SMTPDataError, SMTPError, SMTPUsageError


def op_begin_data(core, tx):
    core._need("ready")
    precheck(core, tx)
    if tx.error is None:
        yield from transaction(core, tx, False)
        yield 0
    if tx.data is not None and tx.data.code == 354 and tx.accepted():
        refused = {}
        for a in tx.rcpts:
            if tx.rcpt[a].code not in RCPT_OK:
                refused[a] = (tx.rcpt[a].code, tx.rcpt[a].text)
        core._open_tx = tx
        core._stuffer = DataStuffer()
        return refused
    err = None
    try:
        tx.outcome()
        err = SMTPDataError(0, "the server did not accept DATA", None, "DATA")
    except SMTPError as e:
        err = e
    if tx.data is not None and tx.data.code == 354:
        core._raw(b".\r\n")
        core._pending.append(("EOD", None, tx))
        yield 0
    if core.state != "closed" and tx.error is None:
        yield from core._rset()
    raise err


def write_data(core, chunk):
    if core.state != "data" or getattr(core, "_open_tx", None) is None:
        raise SMTPUsageError("write_data() outside a DATA transaction")
    out = core._stuffer.feed(chunk)
    if out:
        core._raw(out)


def op_end_data(core):
    if core.state != "data" or getattr(core, "_open_tx", None) is None:
        raise SMTPUsageError("end of data outside a DATA transaction")
    tx = core._open_tx
    core._open_tx = None
    core._raw(core._stuffer.end())
    core._stuffer = None
    core._pending.append(("EOD", None, tx))
    if core.trace:
        core.trace("C: .")
    yield 0
    return tx.outcome()


def data_write(smtp, chunk):
    # usmtp.SMTP.data_write: the piece goes out now
    smtp._live().write_data(chunk)
    core = smtp._core
    while True:
        out = core.data_to_send()
        if not out:
            return
        try:
            smtp._write(out, smtp.timeout)
        except SMTPError:
            smtp.close()
            raise
