# LAN SMTP ingress with a real client (smtplib) over STARTTLS with a trustme certificate:
# never an open relay, AUTH required as configured, size limit, 250 only after commit,
# duplicates by envelope and content under the gateway's own id, and the message relayed
# upstream unchanged.
import smtplib

import pytest

from gateway_helpers import make_cfg, wait_for
from outpost_gateway.clock import ManualClock
from outpost_gateway.ingest import Ingest
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.smtp_ingress import SmtpIngress
from outpost_gateway.spool import Spool
from peers.certs import TestCA
from peers.smtpd import MailServer

MSG = (b"From: board@lan.example\r\nTo: me@example.org\r\nSubject: frost warning\r\n"
       b"Message-ID: <greenhouse-3-7@lan.example>\r\nX-Outpost-Device: greenhouse\r\n\r\n"
       b"It is -2 C in the greenhouse.\r\n")


@pytest.fixture(scope="module")
def ca():
    return TestCA()


@pytest.fixture
def gw(tmp_path, ca):
    files = ca.write_files(str(tmp_path), "127.0.0.1")
    cfg = make_cfg(tmp_path, smtp_ingress={
        "enabled": True, "port": 0, "tls_cert": files["cert"], "tls_key": files["key"],
        "accounts": [{"user": "board", "password": "board-pw"}], "allowed_domains": ["example.org"],
        "max_size": 4096})
    spool = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    spool.start_writer()
    m = Metrics()
    si = SmtpIngress(cfg, Ingest(cfg, spool, m, ManualClock()))
    si.start()
    yield si, spool, m, cfg
    si.stop()
    spool.close()


def client(si, ca, tls=True, login=True):
    c = smtplib.SMTP("127.0.0.1", si.port, timeout=20)
    c.ehlo()
    if tls:
        ctx = ca.client_context()
        c.starttls(context=ctx)
        c.ehlo()
    if login:
        c.login("board", "board-pw")
    return c


def only_alert(spool):
    # the id the gateway gave the one submitted message ("smtp:" + digest, never its Message-ID)
    ids = sorted(set(r["id"] for r in spool.list()))
    assert len(ids) == 1 and ids[0].startswith("smtp:")
    return spool.show(ids[0])


def test_accepted_only_after_commit(gw, ca):
    si, spool, m, cfg = gw
    c = client(si, ca)
    assert c.sendmail("board@lan.example", ["me@example.org"], MSG) == {}
    # the 250 has been received: the message must already be in the spool
    a = only_alert(spool)
    assert a is not None and a["raw"] == 1 and a["device"] == "greenhouse"
    assert bytes(a["payload"]).endswith(b"It is -2 C in the greenhouse.\r\n")
    # the same message again: acknowledged, not stored twice
    assert c.sendmail("board@lan.example", ["me@example.org"], MSG) == {}
    assert spool.counts()["alerts"] == 1 and m.c["duplicates"] == 1
    c.quit()


def test_the_same_text_without_a_message_id_is_two_events(gw, ca):
    # a script's "Subject: pump down" on two days: nothing marks the second as a resend, so it
    # must not be taken as a duplicate (acknowledged, never mailed)
    si, spool, m, cfg = gw
    text = b"From: cron@lan.example\r\nSubject: pump down\r\n\r\nThe pump is down.\r\n"
    for _ in range(2):
        c = client(si, ca)
        assert c.sendmail("cron@lan.example", ["me@example.org"], text) == {}
        c.quit()
    assert spool.counts()["alerts"] == 2 and m.c["duplicates"] == 0


def test_relay_to_outside_domain_refused(gw, ca):
    si, spool, m, cfg = gw
    c = client(si, ca)
    with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
        c.sendmail("board@lan.example", ["victim@elsewhere.example"], MSG)
    code, text = ei.value.recipients["victim@elsewhere.example"]
    assert code == 550 and b"Relaying denied" in text
    # a mixed envelope: only the served domain is accepted
    refused = c.sendmail("board@lan.example", ["me@example.org", "x@evil.example"], MSG)
    assert list(refused) == ["x@evil.example"]
    a = only_alert(spool)
    assert [d["rcpt"] for d in a["deliveries"]] == ["me@example.org"]
    c.quit()


def test_auth_required(gw, ca):
    si, spool, m, cfg = gw
    c = client(si, ca, login=False)
    with pytest.raises(smtplib.SMTPSenderRefused) as ei:
        c.sendmail("board@lan.example", ["me@example.org"], MSG)
    assert ei.value.smtp_code == 530
    with pytest.raises(smtplib.SMTPAuthenticationError):
        c.login("board", "wrong")
    c.close()
    assert spool.counts()["alerts"] == 0


def test_starttls_required_before_anything(gw, ca):
    si, spool, m, cfg = gw
    c = client(si, ca, tls=False, login=False)
    code, text = c.mail("board@lan.example")
    assert code == 530 and b"STARTTLS" in text
    c.close()


def test_size_limit(gw, ca):
    si, spool, m, cfg = gw
    c = client(si, ca)
    big = MSG + b"x" * 5000 + b"\r\n"
    with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as ei:
        c.sendmail("board@lan.example", ["me@example.org"], big)
    assert ei.value.smtp_code == 552
    c.close()


def test_allow_listed_network_needs_no_auth(tmp_path, ca):
    cfg = make_cfg(tmp_path, smtp_ingress={"enabled": True, "port": 0, "require_tls": False,
                                           "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]})
    spool = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    spool.start_writer()
    si = SmtpIngress(cfg, Ingest(cfg, spool, Metrics(), ManualClock()))
    si.start()
    try:
        c = smtplib.SMTP("127.0.0.1", si.port, timeout=20)
        assert c.sendmail("board@lan.example", ["me@example.org"], MSG) == {}
        c.quit()
        assert spool.counts()["alerts"] == 1
    finally:
        si.stop()
        spool.close()


def test_submitted_message_relayed_unchanged(gw, ca, tmp_path):
    si, spool, m, cfg = gw
    c = client(si, ca)
    c.sendmail("board@lan.example", ["me@example.org"], MSG)
    c.quit()
    with MailServer() as up:
        relay_cfg = make_cfg(tmp_path, relay={"port": up.port, "mode": "plain"})
        relay = Relay(relay_cfg, spool, Metrics(), ManualClock())
        relay.run_once()
        got = up.wait_for(1)[0]
        relay.close()
    assert got.mail_from == "board@lan.example" and got.rcpt_tos == ["me@example.org"]
    assert got.data == MSG


def test_open_sessions_counted_once_through_starttls(gw, ca):
    si, spool, m, cfg = gw
    assert si.sessions == 0
    c1 = client(si, ca)                       # STARTTLS restarts the session on the same connection
    c2 = client(si, ca, tls=False, login=False)
    try:
        assert wait_for(lambda: si.sessions == 2)
    finally:
        c1.quit()
        c2.quit()
    assert wait_for(lambda: si.sessions == 0)


def _greeting(port, src="127.0.0.1"):
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=20, source_address=(src, 0))
    return s, s.makefile("rb").readline()


def test_session_limits_in_total_per_client_and_near_the_file_limit(tmp_path, monkeypatch):
    from outpost_gateway import smtp_ingress
    cfg = make_cfg(tmp_path, smtp_ingress={"enabled": True, "port": 0, "require_tls": False,
                                           "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"],
                                           "max_sessions": 5, "max_sessions_per_client": 2})
    spool = Spool(str(tmp_path / "s.db"), ManualClock()).open()
    spool.start_writer()
    m = Metrics()
    si = SmtpIngress(cfg, Ingest(cfg, spool, m, ManualClock()))
    si.start()
    held = []
    try:
        for _ in range(2):
            s, g = _greeting(si.port)
            held.append(s)
            assert g.startswith(b"220")
        s, g = _greeting(si.port)
        assert g.startswith(b"421 4.3.2 Too many sessions from 127.0.0.1 (2)")
        s.close()
        for src in ("127.0.0.2", "127.0.0.3", "127.0.0.3"):
            s, g = _greeting(si.port, src)
            held.append(s)
            assert g.startswith(b"220")
        s, g = _greeting(si.port, "127.0.0.4")
        assert g.startswith(b"421 4.3.2 Too many sessions (5)")
        s.close()
        assert wait_for(lambda: si.sessions == 5)
        for s in held:
            s.close()
        held = []
        assert wait_for(lambda: si.sessions == 0 and not si.per_client)
        # near the open-file limit new sessions are refused first, so the spool keeps its files
        monkeypatch.setattr(smtp_ingress, "fd_headroom", lambda: smtp_ingress.FD_RESERVE - 1)
        s, g = _greeting(si.port)
        assert g.startswith(b"421 4.3.2 Too many open files")
        s.close()
        assert m.refusals[("smtp", "busy")] == 3
    finally:
        for s in held:
            s.close()
        si.stop()
        spool.close()


def test_real_fd_headroom_is_measured():
    from outpost_gateway.smtp_ingress import fd_headroom
    import resource
    room = fd_headroom()
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    assert room is None or 0 < room < soft


def test_plain_path_fast_parse_agrees_with_aiosmtpd():
    # the fast path for MAIL/RCPT addresses gives exactly what aiosmtpd's parser gives, and
    # leaves everything unusual to it
    from aiosmtpd.smtp import SMTP as AioSMTP
    from outpost_gateway.smtp_ingress import plain_path
    class NoLimit:
        local_part_limit = 0

    def parse(_, arg):
        return AioSMTP._getaddr(NoLimit(), arg)
    cases = ["<a@b.org>", "<me@example.org> SIZE=1024 BODY=8BITMIME", " <x.y+tag@mail.example.org>",
             "<first.last=x@example.org>", "<a@b>", "<x-y_z@h-1.example>",
             "<a@b.org>   SIZE=10  ", "<a@b.org>\tSIZE=10"]
    for arg in cases:
        assert plain_path(arg) is not None, arg
        assert plain_path(arg) == parse(None, arg), arg
    odd = ["<>", "a@b.org", "<a..b@c.org>", "<.a@b.org>", "<a.@b.org>", '<"x@y"@b.org>', "<a%b@c.org>",
           "<a!b@c.org>", "<@r.org:a@b.org>", "<a@b..org>", "<a@-b.org>", "<a@b.org.>", "<a b@c.org>",
           "<a@b.org", "<ä@b.org>", "<a@[127.0.0.1]>",
           "<a@b.org> (comment) SIZE=1"]
    for arg in odd:
        assert plain_path(arg) is None, arg
