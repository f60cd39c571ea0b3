# lane: micropython
# The report and its schedule as pure functions of readings and injected times.
from outpost import clock, report

T0 = 1795824000  # 2026-11-28T00:00:00Z


def test_iso_and_civil():
    assert clock.iso(0) == "1970-01-01T00:00:00Z"
    assert clock.iso(T0) == "2026-11-28T00:00:00Z"
    assert clock.iso(951782400) == "2000-02-29T00:00:00Z"
    assert clock.iso(T0 + 86399) == "2026-11-28T23:59:59Z"
    assert clock.iso(4107542400) == "2100-03-01T00:00:00Z"


def test_stats_min_mean_max_and_missing():
    rep = report.new(T0, 60)
    vals = [-18.0, -17.0, None, -16.0]
    for i in range(len(vals)):
        report.add(rep, {"t": (vals[i], "C"), "door": (i % 2, "")}, T0 + i * 30, 100)
    n, total, lo, hi, missing, unit = rep["stats"]["t"]
    assert (n, lo, hi, missing, unit) == (3, -18.0, -16.0, 1, "C")
    assert total / n == -17.0
    subj, body = report.summary(rep, "shed", T0 + 3600, {"outbox dropped": 2})
    assert subj == "shed report 2026-11-28"
    assert "t: min -18.00 mean -17.00 max -16.00 C (3 samples, 1 missing)" in body
    assert "door: min 0 mean 0.50 max 1 (4 samples, 0 missing)" in body
    assert "outbox dropped: 2" in body


def test_csv_rows_every_interval_and_parse():
    rep = report.new(T0, 60)
    for i in range(10):
        report.add(rep, {"a": (float(i), "C")}, T0 + i * 30, 100)
    text = report.csv_text(rep)
    lines = text.split("\r\n")
    assert lines[0] == "time_utc,a"
    assert lines[1] == "2026-11-28T00:00:00Z,0.00"
    assert lines[2] == "2026-11-28T00:01:00Z,2.00"
    assert len(lines) == 1 + 5 + 1 and lines[-1] == ""


def test_csv_column_added_later_and_missing_cells():
    rep = report.new(T0, 1)
    report.add(rep, {"a": (1, "")}, T0, 10)
    report.add(rep, {"a": (None, ""), "b": (2.5, "V")}, T0 + 1, 10)
    lines = report.csv_text(rep).split("\r\n")
    assert lines[0] == "time_utc,a,b"
    assert lines[1] == "2026-11-28T00:00:00Z,1,"
    assert lines[2] == "2026-11-28T00:00:01Z,,2.50"


def test_row_buffer_halves_resolution_when_full():
    rep = report.new(T0, 10)
    for i in range(100):
        report.add(rep, {"a": (i, "")}, T0 + i * 10, 16)
    rows = rep["rows"]
    assert len(rows) <= 16
    assert rows[0] == "%d,0" % T0  # the start of the period is kept, a row as its CSV text
    assert int(rows[-1].split(",")[0]) >= T0 + 800
    assert rep["every"] >= 40


def test_daily_schedule():
    at = 7 * 60
    assert report.next_due(T0, at, 0, 0, None) == T0 + 7 * 3600
    assert report.next_due(T0 + 7 * 3600, at, 0, 0, None) == T0 + 86400 + 7 * 3600
    assert report.next_due(T0 + 7 * 3600 - 1, at, 0, 0, None) == T0 + 7 * 3600
    # UTC+2: 07:00 local is 05:00 UTC
    assert report.next_due(T0, at, 120, 0, None) == T0 + 5 * 3600
    # UTC-5 at 23:00 UTC on the 27th is 18:00 local on the 27th: next 07:00 local = 12:00 UTC on the 28th
    assert report.next_due(T0 - 3600, at, -300, 0, None) == T0 + 12 * 3600


def test_periodic_schedule_and_none():
    assert report.next_due(T0, 0, 0, 3600, None) == T0 + 3600
    assert report.next_due(T0 + 10, 0, 0, 3600, T0) == T0 + 3600
    assert report.next_due(T0 + 9000, 0, 0, 3600, T0) == T0 + 9000
    assert report.next_due(T0, None, 0, 0, None) is None


def test_rows_from_an_older_firmware_in_rtc_memory_still_make_the_csv():
    rep = report.new(T0, 1)
    report.add(rep, {"a": (1, "")}, T0, 10)
    rep["rows"].insert(0, [T0 - 1, None])
    report.add(rep, {"a": (2.5, ""), "b": (3, "")}, T0 + 1, 10)
    assert report.csv_text(rep).split("\r\n")[1:4] == [
        "2026-11-27T23:59:59Z,,", "2026-11-28T00:00:00Z,1,", "2026-11-28T00:00:01Z,2.50,3"]
