"""tests/peers/smtpd.py: the aiosmtpd test server behaves like a real submission server."""
import base64
import json
import smtplib
import ssl
import time

import pytest

from peers.certs import TestCA
from peers.smtpd import MailServer
from peers.wire import Wire

MSG = b"Subject: hi\r\n\r\n.a line that starts with a dot\r\n.\r\nlast\r\n"


def client_ctx(srv):
    return ssl.create_default_context(cadata=srv.ca_pem.decode("ascii"))


def test_implicit_tls_with_auth_plain():
    with MailServer(tls="implicit", auth_users={"alice": "s3cret"}) as srv:
        with smtplib.SMTP_SSL("localhost", srv.port, context=client_ctx(srv), timeout=10) as c:
            c.login("alice", "s3cret")
            assert c.sendmail("alice@example.org", ["bob@example.org"], MSG) == {}
        (msg,) = srv.wait_for(1)
        assert msg.mail_from == "alice@example.org"
        assert msg.rcpt_tos == ["bob@example.org"]
        assert msg.data == MSG              # unstuffed, CRLF kept, nothing added
        assert msg.via == "DATA" and msg.tls and msg.auth_user == "alice"
        (conn,) = srv.connections
        assert conn.tls and conn.verbs[:2] == ["EHLO", "AUTH"]
        assert "s3cret" not in " ".join(conn.commands)
        assert base64.b64encode(b"\0alice\0s3cret").decode() not in " ".join(conn.commands)


def test_implicit_tls_refuses_a_client_with_another_ca():
    with MailServer(tls="implicit") as srv:
        other = ssl.create_default_context(cadata=TestCA().ca_pem.decode("ascii"))
        with pytest.raises(ssl.SSLCertVerificationError):
            smtplib.SMTP_SSL("localhost", srv.port, context=other, timeout=10)


def test_starttls_required_then_auth_login():
    with MailServer(tls="starttls", auth_users={"alice": "pw"}, auth_required=True) as srv:
        with smtplib.SMTP("localhost", srv.port, timeout=10) as c:
            c.ehlo()
            assert c.has_extn("starttls")
            assert not c.has_extn("auth")                   # no AUTH over plaintext
            code, _ = c.docmd("MAIL", "FROM:<a@x>")
            assert code == 530                              # STARTTLS first
            c.starttls(context=client_ctx(srv))
            c.ehlo()
            assert "LOGIN" in c.esmtp_features["auth"]
            code, _ = c.docmd("MAIL", "FROM:<a@x>")
            assert code == 530                              # AUTH required
            with pytest.raises(smtplib.SMTPAuthenticationError):
                c.login("alice", "wrong")
            c.user, c.password = "alice", "pw"
            code, _ = c.auth("LOGIN", c.auth_login)
            assert code == 235
            c.sendmail("a@x", ["b@y"], b"Subject: s\r\n\r\nbody\r\n")
        (msg,) = srv.wait_for(1)
        assert msg.tls and msg.auth_user == "alice"
        (conn,) = srv.connections
        assert conn.verbs[:5] == ["EHLO", "MAIL", "STARTTLS", "EHLO", "MAIL"]
        assert conn.verbs.count("AUTH") == 3        # smtplib tried PLAIN then LOGIN, then our LOGIN
        assert conn.verbs[5:9] == ["AUTH", "AUTH", "AUTH", "MAIL"]   # answers to 334 are not logged
        assert not any("cHc=" in c or "d3Jvbmc=" in c for c in conn.commands)


def test_auth_refused_over_plaintext_unless_allowed():
    with MailServer(auth_users={"alice": "pw"}) as srv:
        with Wire(srv.host, srv.port) as w:
            w.reply()
            code, lines = w.command("EHLO me")
            assert not any(l.startswith("AUTH") for l in lines)
            assert w.command("AUTH PLAIN " + base64.b64encode(b"\0alice\0pw").decode())[0] == 538
    with MailServer(auth_users={"alice": "pw"}, auth_require_tls=False) as srv:
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.login("alice", "pw")
        assert srv.connections[0].auth_user == "alice"


def test_xoauth2_token_accepted_and_failure_answered_like_gmail():
    token_ok = base64.b64encode(b"user=alice\x01auth=Bearer tok-123\x01\x01").decode()
    token_bad = base64.b64encode(b"user=alice\x01auth=Bearer expired\x01\x01").decode()
    with MailServer(tls="implicit", auth_users={"alice": "tok-123"}) as srv:
        ctx = client_ctx(srv)
        with Wire(srv.host, srv.port, ssl_context=ctx, server_hostname="localhost") as w:
            w.reply()
            assert "AUTH LOGIN PLAIN XOAUTH2" in w.command("EHLO me")[1]
            code, (challenge,) = w.command("AUTH XOAUTH2 " + token_bad)
            assert code == 334
            assert json.loads(base64.b64decode(challenge))["status"] == "401"
            assert w.command("")[0] == 535
            assert w.command("AUTH XOAUTH2 " + token_ok)[0] == 235
        assert srv.connections[-1].auth_user == "alice"


def test_auth_mechanisms_can_be_limited():
    with MailServer(tls="implicit", auth_users={"u": "p"}, auth_mechanisms=("LOGIN",)) as srv:
        with smtplib.SMTP_SSL("localhost", srv.port, context=client_ctx(srv), timeout=10) as c:
            c.ehlo()
            assert c.esmtp_features["auth"].split() == ["LOGIN"]


def test_reply_hooks_refuse_recipient_sender_and_data():
    with MailServer() as srv:
        srv.rcpt_reply["nobody@example.org"] = "550 5.1.1 no such user"
        srv.mail_reply = ["451 4.3.0 try again later", None]
        srv.data_reply = ["554 5.6.0 rejected", None]
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            with pytest.raises(smtplib.SMTPSenderRefused) as e:
                c.sendmail("a@x", ["b@y"], b"one\r\n")
            assert e.value.smtp_code == 451
            with pytest.raises(smtplib.SMTPDataError) as e:
                c.sendmail("a@x", ["b@y"], b"two\r\n")
            assert e.value.smtp_code == 554
            refused = c.sendmail("a@x", ["b@y", "nobody@example.org"], b"three\r\n")
            assert refused == {"nobody@example.org": (550, b"5.1.1 no such user")}
        (msg,) = srv.wait_for(1)
        assert msg.data == b"three\r\n" and msg.rcpt_tos == ["b@y"]
        (conn,) = srv.connections
        assert conn.verbs.count("MAIL") == 3 and len(conn.messages) == 1


def test_ehlo_refused_client_falls_back_to_helo():
    with MailServer() as srv:
        srv.ehlo_reply = "502 5.5.1 EHLO not here"
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.sendmail("a@x", ["b@y"], b"x\r\n")
            assert not c.does_esmtp
        assert srv.wait_for(1)[0].data == b"x\r\n"
        assert srv.connections[0].verbs[:2] == ["EHLO", "HELO"]


def test_ehlo_keywords_added_and_removed():
    with MailServer(ehlo_extra=["ENHANCEDSTATUSCODES"], ehlo_remove=["SMTPUTF8", "8BITMIME"]) as srv:
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            c.ehlo()
            assert c.has_extn("enhancedstatuscodes")
            assert not c.has_extn("smtputf8") and not c.has_extn("8bitmime")
            assert not c.has_extn("pipelining") and not c.has_extn("chunking")


def test_greeting_can_be_scripted():
    with MailServer(greeting="554 5.3.2 not accepting mail") as srv:
        with Wire(srv.host, srv.port) as w:
            assert w.reply() == (554, ["5.3.2 not accepting mail"])


def test_delay_holds_every_reply():
    with MailServer() as srv:
        srv.delay = 0.3
        t0 = time.monotonic()
        with Wire(srv.host, srv.port) as w:
            w.reply()
            w.command("NOOP")
        elapsed = time.monotonic() - t0
        print("two replies with delay 0.3 s took %.2f s" % elapsed)
        assert elapsed >= 0.6          # a lower bound: the server sleeps before each reply


def test_down_refuses_connections_and_up_listens_on_the_same_port():
    with MailServer() as srv:
        port = srv.port
        srv.down()
        assert not srv.is_up
        with pytest.raises(OSError):
            smtplib.SMTP(srv.host, port, timeout=5)
        srv.up()
        assert srv.port == port
        with smtplib.SMTP(srv.host, port, timeout=10) as c:
            c.sendmail("a@x", ["b@y"], b"after restart\r\n")
        assert srv.wait_for(1)[0].data == b"after restart\r\n"


def test_down_drops_an_open_connection():
    with MailServer() as srv:
        with Wire(srv.host, srv.port) as w:
            w.reply()
            srv.down()
            with pytest.raises((ConnectionError, OSError)):
                w.command("NOOP")
                w.command("NOOP")


def test_three_messages_on_one_connection_are_one_connection():
    with MailServer() as srv:
        with smtplib.SMTP(srv.host, srv.port, timeout=10) as c:
            for i in range(3):
                c.sendmail("a@x", ["b@y"], b"n%d\r\n" % i)
        assert [m.data for m in srv.wait_for(3)] == [b"n0\r\n", b"n1\r\n", b"n2\r\n"]
        (conn,) = srv.connections
        assert len(conn.messages) == 3


def test_wait_for_times_out_with_a_clear_error():
    with MailServer() as srv:
        with pytest.raises(TimeoutError) as e:
            srv.wait_for(1, timeout=0.2)
        assert "0 of 1" in str(e.value)


def test_bad_tls_mode_refused():
    with pytest.raises(ValueError) as e:
        MailServer(tls="ssl")
    assert "tls" in str(e.value)


# ---- CHUNKING / BDAT (RFC 3030) over a raw socket


def ehlo(w):
    w.reply()
    code, lines = w.command("EHLO client.example")
    assert code == 250
    return lines


def test_bdat_chunks_then_last():
    with MailServer(chunking=True) as srv:
        with Wire(srv.host, srv.port) as w:
            lines = ehlo(w)
            assert "CHUNKING" in lines and "PIPELINING" in lines
            assert w.command("MAIL FROM:<a@x>")[0] == 250
            assert w.command("RCPT TO:<b@y>")[0] == 250
            w.send(b"BDAT 9\r\nSubject: ")
            assert w.reply() == (250, ["2.0.0 9 octets received"])
            body = b"x\r\n\r\n.\r\nQUIT\r\n"          # a lone dot and a command: just data in BDAT
            w.send(b"BDAT %d\r\n" % len(body) + body)
            assert w.reply()[0] == 250
            w.send(b"BDAT 0 LAST\r\n")
            assert w.reply()[0] == 250
            assert w.command("QUIT")[0] == 221
        (msg,) = srv.wait_for(1)
        assert msg.data == b"Subject: x\r\n\r\n.\r\nQUIT\r\n"
        assert msg.via == "BDAT" and msg.chunk_sizes == [9, len(body), 0]
        assert srv.connections[0].verbs == ["EHLO", "MAIL", "RCPT", "BDAT", "BDAT", "BDAT", "QUIT"]


def test_bdat_pipelined_with_mail_and_rcpt_in_one_write():
    with MailServer(chunking=True) as srv:
        with Wire(srv.host, srv.port) as w:
            ehlo(w)
            data = b"Subject: p\r\n\r\nhello\r\n"
            w.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nBDAT %d LAST\r\n" % len(data) + data
                   + b"MAIL FROM:<a@x>\r\nRCPT TO:<d@y>\r\nBDAT 3 LAST\r\nabc")
            codes = [code for code, _ in w.replies(7)]
            assert codes == [250] * 7
        first, second = srv.wait_for(2)
        assert first.data == data and first.rcpt_tos == ["b@y", "c@y"]
        assert second.data == b"abc" and second.rcpt_tos == ["d@y"]


def test_bdat_without_rcpt_is_503_and_its_octets_are_skipped():
    with MailServer(chunking=True) as srv:
        with Wire(srv.host, srv.port) as w:
            ehlo(w)
            w.send(b"BDAT 6 LAST\r\nNOOP\r\n")          # the octets look like a command
            assert w.reply()[0] == 503
            assert w.command("MAIL FROM:<a@x>")[0] == 250
            w.send(b"BDAT 2 LAST\r\nhi")                # MAIL but no RCPT
            assert w.reply()[0] == 503
            assert w.command("NOOP")[0] == 250          # still in step
        assert srv.messages == []


def test_data_after_bdat_is_503_and_rset_clears():
    with MailServer(chunking=True) as srv:
        with Wire(srv.host, srv.port) as w:
            ehlo(w)
            w.command("MAIL FROM:<a@x>")
            w.command("RCPT TO:<b@y>")
            w.send(b"BDAT 5\r\nfirst")
            assert w.reply()[0] == 250
            assert w.command("DATA")[0] == 503
            assert w.command("RSET")[0] == 250
            w.send(b"BDAT 1 LAST\r\nx")
            assert w.reply()[0] == 503                  # RSET ended the transaction
            w.command("MAIL FROM:<a@x>")
            w.command("RCPT TO:<b@y>")
            w.send(b"BDAT 6 LAST\r\nsecond")
            assert w.reply()[0] == 250
        (msg,) = srv.wait_for(1)
        assert msg.data == b"second"


def test_bdat_syntax_errors_and_size_limit():
    with MailServer(chunking=True, data_size_limit=10) as srv:
        with Wire(srv.host, srv.port) as w:
            ehlo(w)
            assert w.command("BDAT")[0] == 501
            assert w.command("BDAT x LAST")[0] == 501
            assert w.command("BDAT 1 FIRST")[0] == 501
            w.command("MAIL FROM:<a@x>")
            w.command("RCPT TO:<b@y>")
            w.send(b"BDAT 11 LAST\r\n" + b"z" * 11)
            assert w.reply()[0] == 552
            assert w.command("NOOP")[0] == 250
        assert srv.messages == []


def test_bdat_not_offered_without_chunking():
    with MailServer() as srv:
        with Wire(srv.host, srv.port) as w:
            assert "CHUNKING" not in ehlo(w)
            assert w.command("BDAT 0 LAST")[0] == 500


def test_bdat_needs_auth_when_required():
    with MailServer(tls="implicit", chunking=True, auth_users={"u": "p"}, auth_required=True) as srv:
        ctx = client_ctx(srv)
        with Wire(srv.host, srv.port, ssl_context=ctx, server_hostname="localhost") as w:
            ehlo(w)
            w.send(b"BDAT 2 LAST\r\nhi")
            assert w.reply()[0] == 530
            assert w.command("AUTH PLAIN " + base64.b64encode(b"\0u\0p").decode())[0] == 235
            assert w.command("MAIL FROM:<a@x>")[0] == 250
