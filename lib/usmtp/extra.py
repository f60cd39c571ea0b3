# The usmtp.SMTP calls that one message does not make: each is the SMTP method of the same
# name, found here on first use (SMTP.__getattr__, core.lazy), so a board that sends one alert
# never loads them. send_many is in batch.py, data_write in stream.py. Here too: what the
# client does with a connection that broke (salvage).


def ehlo(smtp, name=None):
    core = smtp._live()
    if name:
        core.local_hostname = name
    return smtp._do(core.op_hello())


helo = ehlo


def has_extn(smtp, name):
    return name.upper() in smtp.esmtp_features


def starttls(smtp):
    """Upgrade to TLS now (for mode "plain"/"opportunistic" connections). Already encrypted
    connections are left as they are."""
    if not smtp._live().secure and smtp._run(smtp._core.op_starttls(True)) == "starttls":
        smtp._starttls(None, smtp.server_hostname or smtp.host)
    return smtp._reply()


def login_oauth2(smtp, user, token, defer=False):
    """AUTH XOAUTH2 with an OAuth 2 bearer token (Gmail, Microsoft 365)."""
    return smtp._do(smtp._live().op_auth(user, token, True, "XOAUTH2", defer))


def send_message(smtp, message):
    """Send a usmtp.writer.Message to its own recipients (Bcc included, never shown)."""
    sender = message.sender
    if isinstance(sender, tuple):
        sender = sender[1]
    return smtp.sendmail(sender, message.recipients(), message)


def data_begin(smtp, from_addr, to_addrs):
    """Start a message whose body the caller writes piece by piece with data_write() and
    ends with data_end(). Returns the refused-recipients dict (usmtp.stream)."""
    tx = smtp._live().make_tx(from_addr, to_addrs, None)
    return smtp._run(smtp._core.op_begin_data(tx))


def data_end(smtp):
    """Finish the message; returns the server's (code, text) for it."""
    return smtp._do(smtp._core.op_end_data())


def noop(smtp):
    return smtp._do(smtp._live().op_simple("NOOP"))


def rset(smtp):
    return smtp._do(smtp._live().op_simple("RSET"))


def salvage(smtp, core):
    # SMTP._run when the connection broke: replies the server sent before that may still be
    # readable, and a 250 it gave must count (the message is not sent a second time)
    from usmtp.errors import SMTPError
    for _ in range(64):
        try:
            data = smtp._read(0.2)
        except OSError:     # SMTPError too
            break
        if not data:
            break
        core.receive_data(data)
    # dispatch the complete replies that did arrive, so what the server said about a
    # message still counts
    try:
        while core._pending:
            r = core.next_reply()
            if r is None:
                break
            core._dispatch(r)
    except SMTPError:
        pass
