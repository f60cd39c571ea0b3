# lane: micropython
# One alert, one email: what the board and the gateway both send for a record.
from outpost_contract import mail as alert_mail

REC = {"v": 1, "id": "freezer-3-17", "device": "freezer", "severity": "critical",
       "kind": "threshold", "subject": "freezer.temperature is -7.5 C, above -12 C",
       "ts": 1795842393, "body": "The freezer is warming.",
       "readings": {"freezer.temperature": {"value": -7.5, "unit": "C"},
                    "door": {"value": 1}}}


def test_subject_carries_prefix_and_severity_except_info():
    assert alert_mail.subject(REC) == "[outpost] CRITICAL: freezer.temperature is -7.5 C, above -12 C"
    info = dict(REC, severity="info")
    assert alert_mail.subject(info, "") == "freezer.temperature is -7.5 C, above -12 C"


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
    head = b"".join(a.chunks()).split(b"\r\n\r\n", 1)[0]
    assert b"X-Outpost-Alert-Id: freezer-3-17" in head
    assert b"Subject: [outpost] CRITICAL: freezer.temperature" in head
