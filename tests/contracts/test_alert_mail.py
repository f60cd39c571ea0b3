# lane: micropython
# One alert, one email: what the board and the gateway both send for a record.
from outpost_contract import mail as alert_mail

REC = {"v": 1, "id": "freezer-3-17", "device": "freezer", "severity": "critical",
       "kind": "threshold", "subject": "freezer.temperature is -7.5 C, above -12 C",
       "ts": 1795842393, "body": "The freezer is warming.",
       "readings": {"freezer.temperature": {"value": -7.5, "unit": "C"},
                    "door": {"value": 1}}}


def head_of(rec, sender="freezer@outpost.example"):
    # the header block of the alert email made for rec
    m = alert_mail.message(rec, sender, ["me@example.org"])
    return b"".join(m.chunks()).split(b"\r\n\r\n", 1)[0]


def threads_under_the_firing(follow_up, header, body_line):
    # a follow-up (resolved, reminder) answers the firing alert's mail, and says what it is
    head = head_of(follow_up)
    assert b"In-Reply-To: <freezer-3-17@outpost.example>" in head
    assert b"References: <freezer-3-17@outpost.example>" in head
    assert header in head
    assert body_line in alert_mail.body(follow_up)


def test_subject_is_prefix_device_and_what_happened():
    assert alert_mail.subject(REC, "[outpost] ") == "[outpost] freezer: freezer.temperature is -7.5 C, above -12 C"
    info = dict(REC, severity="info", device="freezer-shed", subject="door open")
    assert alert_mail.subject(info, "") == "freezer-shed: door open"
    # a subject that already names its device is not prefixed twice
    rep = dict(REC, subject="freezer report 2026-11-28")
    assert alert_mail.subject(rep, "") == "freezer report 2026-11-28"
    assert alert_mail.subject(dict(REC, subject="freezer: x"), "") == "freezer: x"
    assert alert_mail.subject(dict(REC, subject="freezers x"), "") == "freezer: freezers x"


def test_resolved_mail_threads_under_its_firing():
    threads_under_the_firing(
        dict(REC, id="freezer-3-18", state="resolved", closes="freezer-3-17",
             subject="freezer.temperature back to -14 °C after 6 h (worst -6.2 °C)"),
        b"X-Outpost-State: resolved", "State:    resolved, closes freezer-3-17\n")
    head = head_of(REC)
    assert b"In-Reply-To" not in head and b"X-Outpost-State: firing" in head


def test_body_lists_readings_and_identity():
    b = alert_mail.body(REC)
    assert b.startswith("The freezer is warming.\n\nReadings:\n")
    assert "  door: 1\n" in b and "  freezer.temperature: -7.5 C\n" in b
    assert "Alert id: freezer-3-17\n" in b and "Device:   freezer\n" in b
    assert "Made:     2026-11-28T05:06:33Z" in b
    assert "clock not set" in alert_mail.body(dict(REC, ts=0))


def test_message_is_identical_for_the_same_record():
    a = alert_mail.message(REC, "Freezer <freezer@outpost.example>", ["me@example.org"])
    b = alert_mail.message(REC, "freezer@outpost.example", ["me@example.org"])
    assert a.message_id == b.message_id == "<freezer-3-17@outpost.example>"
    head = head_of(REC, "Freezer <freezer@outpost.example>")
    assert b"X-Outpost-Alert-Id: freezer-3-17" in head
    assert b"Subject: freezer: freezer.temperature" in head


def test_a_reminder_threads_under_its_firing():
    threads_under_the_firing(
        dict(REC, id="freezer-3-19", state="firing", repeats="freezer-3-17",
             subject="freezer.temperature -6 °C (above -12 °C), for 4 h"),
        b"Message-ID: <freezer-3-19@outpost.example>", "State:    still firing, reminds of freezer-3-17\n")
