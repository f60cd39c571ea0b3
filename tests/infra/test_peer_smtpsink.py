"""tests/peers/smtpsink.py: Postfix smtp-sink accepts mail, advertises PIPELINING, reports what it got."""
import smtplib

import pytest

from peers.smtpsink import SmtpSink
from peers.wire import Wire

pytestmark = pytest.mark.peers


def test_smtplib_mail_arrives_unstuffed_with_envelope():
    body = b"Subject: sink\r\n\r\n.starts with a dot\r\nend\r\n"
    with SmtpSink() as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as c:
            c.ehlo()
            assert c.has_extn("pipelining")
            assert c.sendmail("a@example.org", ["b@example.org", "c@example.org"], body) == {}
        (msg,) = sink.wait_for(1)
        assert msg.mail_from == "a@example.org"
        assert msg.rcpt_tos == ["b@example.org", "c@example.org"]
        assert msg.data == body
        (session,) = sink.sessions()
        assert [l.split(" ", 1)[0].upper() for l in session] == ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", ".", "QUIT"]


def test_pipelined_group_in_one_write_gets_every_reply():
    with SmtpSink() as sink:
        with Wire(sink.host, sink.port) as w:
            assert w.reply()[0] == 220
            assert "PIPELINING" in w.command("EHLO me")[1]
            w.send(b"MAIL FROM:<a@x>\r\nRCPT TO:<b@y>\r\nRCPT TO:<c@y>\r\nDATA\r\n")
            assert [code for code, _ in w.replies(4)] == [250, 250, 250, 354]
            w.send(b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n")
            assert [code for code, _ in w.replies(2)] == [250, 221]
        (msg,) = sink.wait_for(1)
        assert msg.rcpt_tos == ["b@y", "c@y"] and msg.data == b"Subject: p\r\n\r\nx\r\n"


def test_flags_pass_through():
    with SmtpSink(flags=["-r", "RCPT"]) as sink:       # soft-reject every RCPT
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as c:
            with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
                c.sendmail("a@x", ["b@y"], b"x\r\n")
        assert e.value.recipients["b@y"][0] == 450
