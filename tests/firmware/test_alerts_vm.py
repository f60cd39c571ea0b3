# lane: micropython
# The board writes its alert records without the record codec (outpost/alerts.py): on
# MicroPython too, the bytes are the codec's and the codec reads them back.
from outpost import alerts
from outpost_contract import record

EVENT = {"kind": "threshold", "severity": "critical", "subject": "freezer -5 C (above -12 C)",
         "body": "Rule: x\n", "readings": {"freezer.temperature": {"value": -5.0, "unit": "C"},
                                           "door": {"value": 1}}}


def test_same_bytes_as_the_codec():
    for ev, ts in ((EVENT, 1795842750),
                   (dict(EVENT, subject="Gefrierschrank \u00fcber -12 \u00b0C \u2014 \U0001f9ca",
                         body="Temp\u00e9rature\t\"q\" \\ b\n"), 0),
                   (dict(EVENT, state="resolved", closes="shed-1-1"), 7),
                   (dict(EVENT, repeats="shed-1-1"), 7)):
        rec = alerts.make_record("shed", "shed-1-2", ev, ts, to=["a@example.org"])
        assert alerts.encode(rec) == record.encode(rec)
        assert record.decode(alerts.encode(rec)) == rec


def test_payload_round_trip_with_a_csv():
    rec = alerts.make_record("shed", "shed-1-3", dict(EVENT, kind="report", severity="info"), 1)
    got, data, csv = alerts.from_payload(alerts.to_payload(rec, "t,a\r\n1,2\r\n"))
    assert got == rec and csv == "t,a\r\n1,2\r\n" and data == record.encode(rec)
