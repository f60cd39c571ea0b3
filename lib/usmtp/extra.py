# The usmtp.SMTP calls that one message does not make (SMTP.__getattr__ finds them here on
# first use), and what the client does with a connection that broke (salvage); send_many
# is in batch.py, data_begin/data_write/data_end in stream.py.


def attr(smtp, name):
    if name == "is_tls":
        return bool(smtp._core and smtp._core.secure)
    if name == "esmtp_features":
        return dict(smtp._core.ext) if smtp._core else {}
    f = globals().get("x_" + name)
    if f is None:
        # the rest of the API has modules of its own: send_many (batch), data_* (stream)
        m = "batch" if name == "send_many" else "stream" if name[:5] == "data_" else None
        f = m and getattr(__import__("usmtp." + m, None, None, ["_"]), name, None)
        if f is None:
            raise AttributeError(name)
    return lambda *a, **k: f(smtp, *a, **k)


def _do(smtp, op):
    smtp._run(op)
    return smtp._core.last or (0, "")


def x_ehlo(smtp, name=None):
    core = smtp._live()
    if name:
        core.name = name
    return _do(smtp, core.op_hello())


x_helo = x_ehlo


def x_has_extn(smtp, name):
    return name.upper() in smtp.esmtp_features


def x_starttls(smtp):
    """Upgrade to TLS now (a "plain" or "opportunistic" connection); an encrypted one stays."""
    core = smtp._live()
    if not core.secure:
        mode = core.mode
        core.mode = "starttls"
        try:
            from usmtp.core import SMTPUsageError
            if core.state != 3:
                raise SMTPUsageError("not in state ready")
            smtp._run(_stls(core))
        finally:
            core.mode = mode
        smtp._starttls(None)
    return smtp._core.last or (0, "")


def _stls(core):
    # op_open's STARTTLS step for a session that is already open
    r = yield from core.reply(3)
    if r[0] != 220:
        from usmtp.moreerrors import SMTPTLSError
        raise SMTPTLSError("STARTTLS refused: %d %s" % r)
    if core.inb:
        from usmtp.errors import SMTPProtocolError
        core.inb = bytearray()
        raise SMTPProtocolError("data after the STARTTLS reply (injection?)")


def x_login_oauth2(smtp, user, token, defer=False):
    """AUTH XOAUTH2 with an OAuth 2 bearer token (Gmail, Microsoft 365)."""
    return _do(smtp, smtp._live().op_auth(user, token, True, "XOAUTH2", defer))


def x_send_message(smtp, message):
    """Send a usmtp.writer.Message to its own recipients (Bcc included, never shown)."""
    sender = message.sender
    if isinstance(sender, tuple):
        sender = sender[1]
    return smtp.sendmail(sender, message.recipients(), message)


def x_noop(smtp):
    return _do(smtp, smtp._live().op_simple(10))


def x_rset(smtp):
    return _do(smtp, smtp._live().op_simple(9))


def no_tls(r):
    # core.op_open in mode "starttls": STARTTLS not offered (r None), or refused (its reply r)
    from usmtp.moreerrors import SMTPTLSError
    raise SMTPTLSError("STARTTLS refused: %d %s" % r if r else
                       "server offers no STARTTLS (required)")


def helo(core):
    # core.op_hello's fallback: HELO when the server does not know EHLO
    core.cmd(2, core.name)
    yield 0
    r = core.got[-1]
    if r[0] != 250:
        raise core.fail(r, "HELO")


def salvage(smtp, core):
    # SMTP._drop when the connection broke: replies the server sent before that may still be
    # readable, and a 250 it gave must count (the message is not sent a second time)
    from usmtp.errors import SMTPError
    for _ in range(64):
        try:
            d = smtp._io(None, 0.2)
        except OSError:
            break
        if not d:
            break
        core.receive_data(d)
    try:
        while core.pend:
            r = core.next_reply()
            if r is None:
                break
            core.dispatch(r)
    except SMTPError:
        pass
