# The app's side of the send wake (smtp_path.SmtpPath._by_wake): what it leaves for the send
# wake in mail.go, and how it reads the outcome in mail.res. The send wake itself runs on the
# real MicroPython in tests/realmp (test_board_real.py: 128k, kill -9, three crashes).
import json
import os

import pytest

from outpost import sendwake
from outpost.smtp_path import RESULT_FILE, SEND_FILE, Down, Refused, SmtpPath

REC = {"v": 1, "id": "shed-3-1", "device": "shed", "severity": "critical", "kind": "rule",
       "subject": "door is 1"}


class Net:
    def connected(self):
        return True


class Slept(Exception):
    pass


def path(root):
    cfg = {"smtp": {"host": "mail.example.org", "mode": "starttls", "insecure_skip_verify": False},
           "mail": {"sender": "shed@example.org", "to": ["me@example.org"]},
           "report": {"chart": False}}
    p = SmtpPath(cfg, Net(), lambda m: None, str(root))

    def wake():
        raise Slept()     # a board never comes back from its deep sleep
    p.wake = wake
    return p


def test_an_alert_goes_to_mail_go_and_the_board_sleeps(tmp_path):
    with pytest.raises(Slept):
        path(tmp_path).send(REC, "t,v\n1,2\n", 10)
    with open(tmp_path / SEND_FILE, "rb") as f:
        assert f.readline() == b"shed-3-1 0\n"     # the id, and what it sheds (nothing)
        rec = json.loads(f.read())
    assert rec["id"] == "shed-3-1" and rec["x_csv"] == "t,v\n1,2\n"


def test_a_report_that_sheds_its_csv_goes_without_it(tmp_path):
    # shed 2 (a report that kept failing): the SMTP step gets the record without its CSV
    with pytest.raises(Slept):
        path(tmp_path).send(dict(REC, kind="report"), "t,v\n1,2\n", 10, None, 2)
    with open(tmp_path / SEND_FILE, "rb") as f:
        assert f.readline() == b"shed-3-1 2\n"
        assert "x_csv" not in json.loads(f.read())


def test_sent_calls_sent_and_clears_the_result(tmp_path):
    (tmp_path / RESULT_FILE).write_text("shed-3-1 sent")
    calls = []
    path(tmp_path).send(REC, None, 10, lambda: calls.append(1))
    assert calls == [1] and not (tmp_path / RESULT_FILE).exists()
    assert not (tmp_path / SEND_FILE).exists()


def test_refused_and_down_come_back_as_the_path_raises_them(tmp_path):
    (tmp_path / RESULT_FILE).write_text("shed-3-1 refused 550 no such user")
    with pytest.raises(Refused, match="550 no such user"):
        path(tmp_path).send(REC, None, 10, lambda: pytest.fail("not sent"))
    (tmp_path / RESULT_FILE).write_text("shed-3-1 down out of memory")
    with pytest.raises(Down, match="out of memory"):
        path(tmp_path).send(REC, None, 10)
    assert not (tmp_path / RESULT_FILE).exists()


def test_another_alerts_result_is_dropped_and_this_one_sent_in_a_new_wake(tmp_path):
    (tmp_path / RESULT_FILE).write_text("shed-2-9 sent")
    with pytest.raises(Slept):
        path(tmp_path).send(REC, None, 10, lambda: pytest.fail("not this alert"))
    assert not (tmp_path / RESULT_FILE).exists()
    assert (tmp_path / SEND_FILE).read_bytes().startswith(b"shed-3-1 0\n")


def test_no_send_wake_due_is_a_no_op(tmp_path):
    assert sendwake.run(str(tmp_path)) is False
    assert os.listdir(tmp_path) == []


class PowerCut(BaseException):
    pass


def test_a_power_cut_while_composing_never_leaves_a_message_to_send_cut_short(tmp_path, monkeypatch):
    # mail.out is what a retry sends as composed: written whole under another name, then
    # renamed. A cut while writing (the board soak once sent an empty message and took its
    # 250 for the alert) leaves nothing that claims to be this alert's message.
    from outpost_contract import mail
    from outpost.smtp_path import MAIL_FILE
    real = mail.message

    class Cut:
        def __init__(self, msg):
            self.msg = msg

        def recipients(self):
            return self.msg.recipients()

        def chunks(self, *a):
            for i, c in enumerate(self.msg.chunks(*a)):
                if i == 1:
                    raise PowerCut()
                yield c
    monkeypatch.setattr(mail, "message", lambda *a: Cut(real(*a)))
    p = path(tmp_path)
    with pytest.raises(PowerCut):
        p._compose(REC, None)
    assert not (tmp_path / MAIL_FILE).exists()
    monkeypatch.setattr(mail, "message", real)
    assert p._compose(REC, None) == ["me@example.org"]
    body = b"".join(p._body())
    assert b"Message-ID: <shed-3-1@example.org>" in body and b"door is 1" in body
    assert body.endswith(b"\r\n")


REPORT = dict(REC, kind="report", subject="shed report", body="report\n")
CSV = "time_utc,door\r\n2026-11-28T05:00:00Z,0\r\n2026-11-28T05:05:00Z,1\r\n"


def report_path(root):
    p = path(root)
    p.chart = True
    return p


def test_a_report_is_composed_with_its_charts_read_back_from_flash(tmp_path):
    # the charts go to flash first (mail.out.c0...), the writer reads them back; once the
    # message is written they are gone
    p = report_path(tmp_path)
    assert p._compose(REPORT, CSV) == ["me@example.org"]
    import email
    import email.policy
    m = email.message_from_bytes(b"".join(p._body()), policy=email.policy.default)
    kinds = [x.get_content_type() for x in m.walk()]
    assert kinds == ["multipart/mixed", "multipart/alternative", "text/plain",
                     "multipart/related", "text/html", "image/png", "text/csv"], kinds
    png = [x for x in m.walk() if x.get_content_type() == "image/png"][0].get_content()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(os.listdir(tmp_path)) == ["mail.out"]


def test_charts_that_run_out_of_memory_leave_the_report_without_them(tmp_path, monkeypatch):
    # a MemoryError while the charts are drawn: the report is written at once without them,
    # and no chart file stays on flash
    from outpost import chart

    def short(csv, base):
        with open(base + ".c0", "wb") as f:
            f.write(b"\x89PNG half")
        raise MemoryError()
    monkeypatch.setattr(chart, "write", short)
    logged = []
    p = report_path(tmp_path)
    p.log = logged.append
    assert p._compose(REPORT, CSV) == ["me@example.org"]
    import email
    import email.policy
    m = email.message_from_bytes(b"".join(p._body()), policy=email.policy.default)
    assert [x.get_content_type() for x in m.walk()] == ["multipart/mixed", "text/plain", "text/csv"]
    assert logged == ["smtp: out of memory writing the report's charts; it goes without them"]
    assert sorted(os.listdir(tmp_path)) == ["mail.out"]


def test_the_smtp_step_builds_its_tls_context_first_or_leaves_it_to_the_client(tmp_path):
    # sendwake._tls: the context the client will use, built before anything else of the step
    # (on a board the heap is least split then); none for a plain connection, and none when it
    # cannot be built yet (a bad CA here): the client builds it then and says what is wrong
    from peers.certs import TestCA
    smtp = {"mode": "starttls", "ca": TestCA().ca_pem.decode(), "insecure_skip_verify": False}
    ctx = sendwake._tls(smtp)
    assert ctx is not None and hasattr(ctx, "wrap_socket")
    assert sendwake._tls(dict(smtp, mode="plain")) is None
    assert sendwake._tls(dict(smtp, ca="-----BEGIN CERTIFICATE-----\nnot a cert")) is None
    p = path(tmp_path)
    assert p.context is None        # the app's own path builds none ahead


def test_a_failure_after_the_250_never_undoes_sent(tmp_path, monkeypatch):
    # mail.res says "sent" the moment the 250 comes; anything failing after it (memory for a
    # log line, say) must not turn it into "down", which would send the alert a second time
    with open(tmp_path / SEND_FILE, "wb") as f:
        f.write(b"shed-3-1 0\n" + json.dumps(REC).encode())

    def late(root, rid, payload, cfg, feed, shed, done):
        sendwake._result(root, rid, "sent")
        done.append(1)
        raise MemoryError()
    monkeypatch.setattr(sendwake, "_send", late)
    assert sendwake.step(str(tmp_path), {}) is True
    with open(tmp_path / RESULT_FILE) as f:
        assert f.read() == "shed-3-1 sent"


def test_a_report_that_kept_failing_says_what_it_leaves_out(tmp_path):
    import email
    import email.policy
    for shed, said, kinds in ((1, "goes without its charts", ["multipart/mixed", "text/plain", "text/csv"]),
                              (2, "goes as plain text", ["text/plain"])):
        logged = []
        p = report_path(tmp_path)
        p.log = logged.append
        p._forget()
        p._compose(REPORT, CSV if shed < 2 else None, shed)
        assert logged == ["smtp: shed-3-1, a report that kept failing, " + said]
        m = email.message_from_bytes(b"".join(p._body()), policy=email.policy.default)
        assert [x.get_content_type() for x in m.walk()] == kinds
