# usmtp.SMTP against real servers on loopback: aiosmtpd with trustme certificates (implicit TLS,
# STARTTLS, AUTH), the CHUNKING server from tests/peers, and Postfix's smtp-sink.
import email
import email.policy
import io
import smtplib

import pytest

import usmtp
from peers.certs import TestCA
from peers.smtpd import MailServer
from usmtp.errors import (SMTPAuthError, SMTPRecipientsRefused, SMTPTimeout, SMTPTLSError,
                          SMTPUsageError)
from usmtp.writer import Message

BODY = b"Subject: hello\r\n\r\nline one\r\n.\r\n..\r\n.starts with a dot\r\nlast\r\n"


@pytest.fixture(scope="module")
def ca():
    return TestCA()


def test_implicit_tls_on_an_arbitrary_port(ca):
    with MailServer(tls="implicit", ca=ca) as srv:
        with usmtp.SMTP("localhost", srv.port, mode="tls", cadata=ca.ca_pem) as s:
            assert s.is_tls
            assert s.sendmail("a@example.com", ["b@example.com"], BODY) == {}
        assert srv.wait_for(1)
        m = srv.messages[0]
        assert m.mail_from == "a@example.com" and m.rcpt_tos == ["b@example.com"]
        assert m.data == BODY


def test_connect_returns_the_greeting_in_every_mode(ca):
    # as smtplib's connect(): the server's 220, also when STARTTLS and a second EHLO follow
    for tls, mode in (("implicit", "tls"), ("starttls", "starttls"), ("none", "plain")):
        with MailServer(tls=tls, ca=ca) as srv:
            s = usmtp.SMTP(mode=mode, cadata=ca.ca_pem)
            code, text = s.connect("localhost", srv.port)
            assert code == 220 and (code, text) == s.greeting, (mode, code, text)
            assert s.sendmail("a@example.com", ["b@example.com"], BODY) == {}
            s.quit()


def test_starttls_and_auth_with_each_mechanism(ca):
    with MailServer(tls="starttls", ca=ca, auth_users={"user": "pw"}, auth_required=True) as srv:
        for mech in ("PLAIN", "LOGIN"):
            with usmtp.SMTP("localhost", srv.port, mode="starttls", cadata=ca.ca_pem) as s:
                assert s.is_tls
                assert s.login("user", "pw", mechanism=mech)[0] == 235
                s.sendmail("a@example.com", "b@example.com", BODY)
        with usmtp.SMTP("localhost", srv.port, mode="starttls", cadata=ca.ca_pem) as s:
            assert s.login_oauth2("user", "pw")[0] == 235
            s.sendmail("a@example.com", "b@example.com", BODY)
        with usmtp.SMTP("localhost", srv.port, mode="starttls", cadata=ca.ca_pem) as s:
            with pytest.raises(SMTPAuthError) as ei:
                s.login("user", "wrong")
            assert ei.value.code == 535
        assert srv.wait_for(3)
        assert [m.data for m in srv.messages] == [BODY] * 3


def test_ca_as_der_bytes_works(ca):
    import ssl
    der = ssl.PEM_cert_to_DER_cert(ca.ca_pem.decode())
    with MailServer(tls="implicit", ca=ca) as srv:
        with usmtp.SMTP("localhost", srv.port, mode="tls", cadata=der) as s:
            s.noop()


def test_wrong_ca_is_refused(ca):
    other = TestCA()
    with MailServer(tls="implicit", ca=ca) as srv:
        with pytest.raises(SMTPTLSError) as ei:
            usmtp.SMTP("localhost", srv.port, mode="tls", cadata=other.ca_pem)
        assert "certificate" in str(ei.value).lower()
    with MailServer(tls="starttls", ca=ca) as srv:
        with pytest.raises(SMTPTLSError):
            usmtp.SMTP("localhost", srv.port, mode="starttls", cadata=other.ca_pem)
        assert srv.messages == []


def test_wrong_hostname_is_refused(ca):
    with MailServer(tls="implicit", ca=ca) as srv:
        with pytest.raises(SMTPTLSError) as ei:
            usmtp.SMTP("127.0.0.1", srv.port, mode="tls", cadata=ca.ca_pem,
                       server_hostname="mail.example.org")
        assert "mail.example.org" in str(ei.value) or "hostname" in str(ei.value).lower()


def test_insecure_skip_verify_is_explicit(ca):
    other = TestCA()
    with MailServer(tls="implicit", ca=ca) as srv:
        with usmtp.SMTP("localhost", srv.port, mode="tls", cadata=other.ca_pem,
                        insecure_skip_verify=True) as s:
            s.noop()


def test_starttls_required_but_missing_is_refused_before_anything_is_sent():
    with MailServer(tls="none") as srv:
        with pytest.raises(SMTPTLSError) as ei:
            usmtp.SMTP("localhost", srv.port, mode="starttls")
        assert "STARTTLS" in str(ei.value)
        assert srv.messages == []


def test_auth_refused_over_plaintext_unless_allowed():
    with MailServer(tls="none", auth_users={"user": "pw"}, auth_require_tls=False) as srv:
        seen = []
        with usmtp.SMTP("127.0.0.1", srv.port, mode="plain", trace=seen.append) as s:
            with pytest.raises(SMTPUsageError) as ei:
                s.login("user", "pw")
            assert "unencrypted" in str(ei.value)
        assert not any("AUTH" in line for line in seen if line.startswith("C:"))
        with usmtp.SMTP("127.0.0.1", srv.port, mode="plain", allow_plaintext_auth=True) as s:
            assert s.login("user", "pw")[0] == 235


def test_three_messages_on_one_connection_and_dot_lines_intact():
    with MailServer() as srv:
        with usmtp.SMTP("127.0.0.1", srv.port, mode="plain") as s:
            for i in range(3):
                body = b"Subject: %d\r\n\r\n.\r\n" % i + b".\r\n" * i + b"end\r\n"
                assert s.sendmail("a@example.com", ["b@example.com"], body) == {}
        assert srv.wait_for(3)
        for i, m in enumerate(srv.messages):
            assert m.data == b"Subject: %d\r\n\r\n.\r\n" % i + b".\r\n" * i + b"end\r\n"


def test_writer_message_arrives_as_written_and_like_smtplib(ca):
    csv = b"time,temp\r\n" + b"".join(b"%d,%d.5\r\n" % (i, i) for i in range(2000))
    jpeg = bytes(range(256)) * 800

    def build():
        m = Message("Freezer <freezer@outpost.example>", ["owner@example.com"],
                    "Alarm: freezer at \u22129.5 \u00b0C", body="It is warm.\n.\nReally.\n",
                    cc=["second@example.com"], bcc=["hidden@example.com"], date=1795869703,
                    message_id="<freezer-3-17@outpost.example>")
        m.attach("readings.csv", io.BytesIO(csv), "text/csv")
        m.attach("door.jpg", io.BytesIO(jpeg), "image/jpeg")
        return m

    with MailServer(tls="starttls", ca=ca) as srv:
        m = build()
        with usmtp.SMTP("localhost", srv.port, mode="starttls", cadata=ca.ca_pem) as s:
            assert s.send_message(m) == {}
        ref = b"".join(m.chunks())      # the writer can run again (a retry) with the same bytes
        c = smtplib.SMTP("localhost", srv.port)
        c.starttls(context=ca.client_context())
        c.sendmail("freezer@outpost.example",
                   ["owner@example.com", "second@example.com", "hidden@example.com"], ref)
        c.quit()
        assert srv.wait_for(2)
    ours, theirs = srv.messages[0], srv.messages[1]
    assert ours.rcpt_tos == ["owner@example.com", "second@example.com", "hidden@example.com"]
    msg = email.message_from_bytes(ours.data, policy=email.policy.default)
    assert msg["Subject"] == "Alarm: freezer at \u22129.5 \u00b0C"
    assert msg["Message-ID"] == "<freezer-3-17@outpost.example>"
    assert msg["Bcc"] is None and "hidden" not in ours.data.decode()
    # (CPython's parser keeps the CRLF of the wire inside decoded quoted-printable text)
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == "It is warm.\n.\nReally.\n"
    atts = {p.get_filename(): p.get_payload(decode=True) for p in msg.iter_attachments()}
    assert atts == {"readings.csv": csv, "door.jpg": jpeg}
    # smtplib's copy of the same bytes arrives with the same body, bit for bit
    ob = email.message_from_bytes(ours.data, policy=email.policy.default)
    tb = email.message_from_bytes(theirs.data, policy=email.policy.default)
    assert ob.get_body(("plain",)).get_content() == tb.get_body(("plain",)).get_content()
    assert ours.data == theirs.data == ref


def test_partial_and_total_recipient_refusal_keeps_connection_usable():
    with MailServer() as srv:
        srv.rcpt_reply["nobody@example.com"] = "550 5.1.1 no such user"
        srv.rcpt_reply["full@example.com"] = "452 4.2.2 mailbox full"
        with usmtp.SMTP("127.0.0.1", srv.port, mode="plain") as s:
            refused = s.sendmail("a@example.com", ["b@example.com", "nobody@example.com"], BODY)
            assert refused == {"nobody@example.com": (550, "no such user")}
            with pytest.raises(SMTPRecipientsRefused) as ei:
                s.sendmail("a@example.com", ["nobody@example.com", "full@example.com"], BODY)
            assert set(ei.value.recipients) == {"nobody@example.com", "full@example.com"}
            assert s.sendmail("a@example.com", ["c@example.com"], BODY) == {}
        assert srv.wait_for(2)
        assert [m.rcpt_tos for m in srv.messages] == [["b@example.com"], ["c@example.com"]]


def test_slow_server_times_out():
    with MailServer() as srv:
        srv.delay = 3
        with pytest.raises(SMTPTimeout):
            usmtp.SMTP("127.0.0.1", srv.port, mode="plain", timeout=0.5)


def test_chunking_server_gets_bdat_unstuffed_and_pipelined():
    with MailServer(chunking=True) as srv:
        seen = []
        with usmtp.SMTP("127.0.0.1", srv.port, mode="plain", trace=seen.append) as s:
            assert s.has_extn("CHUNKING") and s.has_extn("PIPELINING")
            assert s.sendmail("a@example.com", ["b@example.com", "c@example.com"], BODY) == {}
            big = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n.\r\n") * 400
            assert s.sendmail("a@example.com", ["b@example.com"], big) == {}
            res = s.send_many([("a@example.com", ["b@example.com"], b"Subject: %d\r\n\r\n.\r\n" % i)
                               for i in range(20)])
            assert res == [{}] * 20
        assert srv.wait_for(22)
        assert srv.messages[0].data == BODY and srv.messages[1].data == big
        assert [m.data for m in srv.messages[2:]] == [b"Subject: %d\r\n\r\n.\r\n" % i
                                                       for i in range(20)]
        assert any(line.startswith("C: BDAT") for line in seen)
        assert not any(line == "C: DATA" for line in seen)


def test_pipelining_against_postfix_smtp_sink():
    from peers.smtpsink import SmtpSink
    with SmtpSink() as sink:
        seen = []
        with usmtp.SMTP("127.0.0.1", sink.port, mode="plain", chunking=False,
                        trace=seen.append) as s:
            assert s.has_extn("PIPELINING")
            refused = s.sendmail("a@example.com", ["b@example.com", "c@example.com"], BODY)
            assert refused == {}
            res = s.send_many([("a@example.com", ["b@example.com"], BODY)] * 5)
            assert res == [{}] * 5
        assert "C: DATA" in seen


def test_umail_script_runs_unchanged(ca, tmp_path, monkeypatch):
    import umail
    monkeypatch.setattr(umail, "CA_FILE", str(tmp_path / "ca.pem"))
    (tmp_path / "ca.pem").write_bytes(ca.ca_pem)
    with MailServer(tls="starttls", ca=ca, auth_users={"me@example.com": "pw"},
                    auth_required=True) as srv:
        smtp = umail.SMTP("localhost", srv.port, username="me@example.com", password="pw")
        smtp.to("someone@example.com")
        smtp.write("Subject: hi\r\n\r\n")
        smtp.write(".\r\nchunk one\r\n")
        code, text = smtp.send("chunk two")
        smtp.quit()
        assert code == 250
        assert srv.wait_for(1)
        assert srv.messages[0].data == b"Subject: hi\r\n\r\n.\r\nchunk one\r\nchunk two\r\n"
        assert srv.messages[0].mail_from == "me@example.com"


def test_use_before_connect_and_after_quit_is_a_clear_error():
    s = usmtp.SMTP()
    for call in (lambda: s.sendmail("a@x", ["b@y"], b"x"), s.noop, lambda: s.login("u", "p")):
        with pytest.raises(SMTPUsageError) as ei:
            call()
        assert "not connected" in str(ei.value)
    with MailServer() as srv:
        s = usmtp.SMTP("127.0.0.1", srv.port, mode="plain")
        assert s.quit()[0] == 221
        with pytest.raises(SMTPUsageError):
            s.noop()


def test_connection_refused_and_server_hanging_up():
    from usmtp.errors import SMTPConnectError
    from peers.ports import free_port
    with pytest.raises(SMTPConnectError) as ei:
        usmtp.SMTP("127.0.0.1", free_port(), mode="plain", timeout=2)
    assert "cannot connect" in str(ei.value)


def test_server_dropping_the_connection_is_a_transient_connect_error():
    from usmtp.errors import SMTPConnectError, is_transient
    with MailServer() as srv:
        s = usmtp.SMTP("127.0.0.1", srv.port, mode="plain", timeout=5)
        srv.down()
        with pytest.raises((SMTPConnectError, SMTPTimeout)) as ei:
            s.sendmail("a@example.com", ["b@example.com"], BODY)
        assert is_transient(ei.value)
        with pytest.raises(SMTPConnectError) as ei:
            s.noop()        # the dead connection was closed, not left half-open
        assert is_transient(ei.value)


def test_opportunistic_upgrades_when_offered_and_verifies(ca):
    with MailServer(tls="starttls", ca=ca) as srv:
        with usmtp.SMTP("localhost", srv.port, mode="opportunistic", cadata=ca.ca_pem) as s:
            assert s.is_tls
            s.sendmail("a@example.com", ["b@example.com"], BODY)
        with pytest.raises(SMTPTLSError):
            usmtp.SMTP("localhost", srv.port, mode="opportunistic", cadata=TestCA().ca_pem)
    with MailServer(tls="none") as srv:
        with usmtp.SMTP("localhost", srv.port, mode="opportunistic", cadata=ca.ca_pem) as s:
            assert not s.is_tls
            s.sendmail("a@example.com", ["b@example.com"], BODY)


def test_a_context_built_earlier_is_the_one_used(ca):
    # SMTP(context=): a board builds its TLS context first thing in its SMTP step; the context
    # given decides what is trusted (cadata is not read), with the hostname still checked
    from usmtp.context import client_context
    with MailServer(tls="starttls", ca=ca, auth_users={"user": "pw"}, auth_required=True) as srv:
        ctx = client_context(ca.ca_pem)
        with usmtp.SMTP("localhost", srv.port, mode="starttls", context=ctx,
                        cadata=TestCA().ca_pem) as s:
            assert s.is_tls
            s.login("user", "pw", defer=True)
            assert s.sendmail("a@example.com", "b@example.com", BODY) == {}
        assert srv.wait_for(1)[0].auth_user == "user"
        # a context trusting another CA is refused, whatever cadata says
        with pytest.raises(SMTPTLSError):
            usmtp.SMTP("localhost", srv.port, mode="starttls", cadata=ca.ca_pem,
                       context=client_context(TestCA().ca_pem))
        with pytest.raises(SMTPTLSError):
            usmtp.SMTP("127.0.0.1", srv.port,
                       mode="starttls", context=ctx, server_hostname="other.example")


def test_calls_beyond_one_message_load_on_first_use_and_are_the_same_calls(ca):
    # ehlo, noop, rset, send_message, ... live in usmtp.extra (SMTP.__getattr__): they answer
    # as methods, and a name usmtp does not have is an AttributeError, not an import
    import sys
    with MailServer(tls="starttls", ca=ca) as srv:
        with usmtp.SMTP("localhost", srv.port, mode="starttls", cadata=ca.ca_pem) as s:
            assert s.noop()[0] == 250 and s.rset()[0] == 250
            assert s.ehlo()[0] == 250 and s.has_extn("starttls") is False
            assert s.starttls()[0] == 250       # already encrypted: left as it is
            m = Message("a@example.com", ["b@example.com"], "hi", "body\n")
            assert s.send_message(m) == {}
            assert "usmtp.extra" in sys.modules
            with pytest.raises(AttributeError):
                s.no_such_call
            with pytest.raises(AttributeError):
                s._private
            assert not hasattr(s, "send_mnay")
        assert srv.wait_for(1)


def test_a_handshake_out_of_memory_is_an_outage_not_a_tls_fault(ca):
    # on a board the handshake's allocations can fail: that is a MemoryError (outcome "retry",
    # tried again later), never an SMTPTLSError that tells the owner to check the setup
    from usmtp.errors import outcome

    class Short:
        def wrap_socket(self, sock, server_hostname=None):
            raise MemoryError("memory allocation failed, allocating 520 bytes")
    with MailServer(tls="starttls", ca=ca) as srv:
        with pytest.raises(MemoryError) as ei:
            usmtp.SMTP("localhost", srv.port, mode="starttls", context=Short())
        assert outcome(ei.value) == "retry"
