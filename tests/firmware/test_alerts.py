# Alert ids, records, the outbox payload and the email a record becomes.
import email
import email.policy
import os

from outpost_contract import record as alert_record
import pytest

from outpost import alerts

import chart_case  # noqa: E402 (tests/firmware: the report's email as the SMTP step composes it)


def test_boot_counter_survives_and_counts(tmp_path):
    p = str(tmp_path / "boot.count")
    from outpost import startup
    assert startup.read_counter(p) == 0
    assert [startup.bump_boot_counter(p) for _ in range(3)] == [1, 2, 3]
    assert open(p).read() == "3" and not os.path.exists(p + ".tmp")
    open(p, "w").write("garbage")
    assert startup.bump_boot_counter(p) == 1   # unreadable counts as never booted


def test_ids_are_device_boot_seq():
    ids = alerts.Ids("shed", 7)
    assert [ids.next(), ids.next()] == ["shed-7-1", "shed-7-2"]
    resumed = alerts.Ids("shed", 7, seq=2)    # after deep sleep, from RTC memory
    assert resumed.next() == "shed-7-3"


EVENT = {"kind": "threshold", "severity": "critical", "subject": "freezer.temperature is -5 C, above -12 C",
         "body": "Rule: x\n", "readings": {"freezer.temperature": {"value": -5.0, "unit": "C"}}}


def test_record_and_payload_round_trip():
    rec = alerts.make_record("shed", "shed-1-1", EVENT, 1795842750)
    assert alert_record.decode(alert_record.encode(rec)) == rec
    assert "ts" not in alerts.make_record("shed", "shed-1-1", EVENT, 0)
    payload = alerts.to_payload(rec, "time_utc,a\r\n")
    back, gateway_bytes, csv = alerts.from_payload(payload)
    assert back == rec and csv == "time_utc,a\r\n"
    assert b"x_csv" not in gateway_bytes and alert_record.decode(gateway_bytes) == rec


def test_gateway_record_carries_the_csv_in_the_body_when_it_fits():
    rec = alerts.make_record("shed", "shed-1-2", dict(EVENT, kind="report", severity="info"), 1)
    small = alert_record.decode(alerts.gateway_record(rec, "time_utc,a\r\nx,1\r\n"))
    assert small["body"].endswith("--- samples (CSV) ---\ntime_utc,a\r\nx,1\r\n")
    big = alert_record.decode(alerts.gateway_record(rec, "x" * 20000))
    assert big["body"] == rec["body"]


def test_email_from_record():
    rec = alerts.make_record("shed", "shed-1-3", EVENT, 1795842750)
    mail = {"sender": "Shed <shed@example.org>", "to": ["me@example.org"], "subject_prefix": "[outpost] "}
    m = chart_case.message(rec, "time_utc,a\r\n2026-11-28T05:00:00Z,1\r\n", mail)
    assert m.recipients() == ["me@example.org"]
    p = email.message_from_bytes(b"".join(m.chunks()), policy=email.policy.default)
    assert p["Message-ID"] == "<shed-1-3@example.org>"
    assert p["Subject"] == "[outpost] shed: freezer.temperature is -5 C, above -12 C"
    assert p["X-Outpost-Alert-Id"] == "shed-1-3"
    assert p["Date"].datetime.timestamp() == 1795842750
    att = list(p.iter_attachments())[0]
    assert att.get_filename() == "shed-2026-11-28.csv"
    assert att.get_content() == "time_utc,a\r\n2026-11-28T05:00:00Z,1\r\n"


def test_record_to_overrides_the_config_recipients():
    rec = alerts.make_record("shed", "shed-1-4", EVENT, 0, to=["ops@example.org"])
    m = chart_case.message(rec, None, {"sender": "shed@example.org", "to": ["me@example.org"]})
    assert m.recipients() == ["ops@example.org"]


def test_bad_event_is_refused_by_the_record_codec():
    with pytest.raises(alert_record.RecordError):
        alerts.to_payload(alerts.make_record("shed", "shed-1-5", dict(EVENT, severity="panic"), 0))


def test_a_payload_without_csv_is_forwarded_as_journalled():
    rec = alerts.make_record("d", "d-1-1", {"severity": "warning", "kind": "threshold",
                                            "subject": "s"}, 1790000000)
    payload = alerts.to_payload(rec)
    got, data, csv = alerts.from_payload(payload)
    assert data is payload and csv is None and got["id"] == "d-1-1"
    with_csv = alerts.to_payload(rec, "a,b\n1,2\n")
    got, data, csv = alerts.from_payload(with_csv)
    assert csv == "a,b\n1,2\n" and b"x_csv" not in data and got["id"] == "d-1-1"
