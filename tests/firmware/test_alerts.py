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
    assert alerts.read_counter(p) == 0
    assert [alerts.bump_boot_counter(p) for _ in range(3)] == [1, 2, 3]
    assert open(p).read() == "3" and not os.path.exists(p + ".tmp")
    open(p, "w").write("garbage")
    assert alerts.bump_boot_counter(p) == 1   # unreadable counts as never booted


def test_ids_are_device_boot_seq():
    assert [alerts.make_id("shed", 7, n) for n in (1, 2)] == ["shed-7-1", "shed-7-2"]
    assert alerts.make_id("shed", 7, 3) == alert_record.make_id("shed", 7, 3)


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


def test_a_bad_record_is_refused_by_the_codec_where_it_enters_the_gateway():
    # the board writes what its config (checked at deploy) and its rules give, without the
    # codec's checks; the gateway decodes every record with them and names the bad key
    data = alerts.to_payload(alerts.make_record("shed", "shed-1-5", dict(EVENT, severity="panic"), 0))
    with pytest.raises(alert_record.RecordError) as e:
        alert_record.decode(data)
    assert e.value.key == "severity"


def test_a_payload_without_csv_is_forwarded_as_journalled():
    rec = alerts.make_record("d", "d-1-1", {"severity": "warning", "kind": "threshold",
                                            "subject": "s"}, 1790000000)
    payload = alerts.to_payload(rec)
    got, data, csv = alerts.from_payload(payload)
    assert data is payload and csv is None and got["id"] == "d-1-1"
    with_csv = alerts.to_payload(rec, "a,b\n1,2\n")
    got, data, csv = alerts.from_payload(with_csv)
    assert csv == "a,b\n1,2\n" and b"x_csv" not in data and got["id"] == "d-1-1"


RECORDS = [
    ("shed", "shed-1-1", EVENT, 1795842750),
    ("shed", "shed-1-2", dict(EVENT, subject="Gefrierschrank \u00fcber -12 \u00b0C \u2014 \U0001f9ca",
                             body="Temp\u00e9rature\t\"quoted\" \\ back\n"), 0),
    ("shed", "shed-1-3", dict(EVENT, state="resolved", closes="shed-1-1", readings={
        "b": {"value": 1, "unit": "%"}, "a": {"value": -0.5}}), 7),
    ("shed", "shed-1-4", dict(EVENT, repeats="shed-1-1", state="firing"), 7),
]


def test_the_board_writes_the_record_codecs_bytes():
    # alerts.encode stands in for the codec on the board: same bytes, and the codec takes them
    for device, rid, ev, ts in RECORDS:
        rec = alerts.make_record(device, rid, ev, ts, to=["a@example.org"])
        assert alerts.encode(rec) == alert_record.encode(rec)
        assert alert_record.decode(alerts.encode(rec)) == rec


def test_the_board_keeps_the_records_bounds():
    rec = alerts.make_record("shed", "shed-1-5", dict(EVENT, subject="a\r\nb\x1b" + "x" * 300,
                                                      body="\u00e9" * 20000), 1)
    assert rec["subject"] == "a  b " + "x" * 195
    assert len(rec["body"].encode()) <= alert_record.MAX_BODY
    assert alert_record.decode(alerts.encode(rec)) == rec


def test_a_journalled_record_reads_back_with_one_parse():
    rec = alerts.make_record("shed", "shed-1-6", EVENT, 1)
    data = alerts.to_payload(rec)
    assert alerts.from_payload(data) == (rec, data, None)
    with pytest.raises(ValueError):
        alerts.from_payload(b"[1]")
