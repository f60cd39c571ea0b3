"""The whole wake on the real MicroPython unix port (printed, never asserted): the smallest
-X heapsize in which the unchanged firmware, deployed as .mpy, mails its report over STARTTLS
with AUTH to a local aiosmtpd, with the charts (report.chart on) and without them.

    .venv/bin/python bench/chart_wake_heap.py

The report covers 3 sensors for a few seconds (the chart's buffers are fixed-size; a longer
day only lengthens the CSV, which the board holds either way). 4 KB steps.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "realmp")]
from peers.smtpd import MailServer  # noqa: E402
from realboard import RealBoard  # noqa: E402


def config(srv, chart):
    return {
        "device": "unix1",
        "wifi": {"ssid": "host", "password": "x"},
        "sensors": [{"name": n, "type": "digital", "pin": p}
                    for n, p in (("door", 27), ("float", 26), ("lid", 25))],
        "smtp": {"host": "127.0.0.1", "port": srv.port, "mode": "starttls", "username": "board",
                 "password": "s3cret", "ca": srv.ca_pem.decode(), "server_hostname": "localhost",
                 "timeout": 10},
        "mail": {"sender": "unix1@example.org", "to": ["me@example.org"]},
        "transport": {"order": ["smtp"], "budget": 40, "retry_min": 2, "retry_max": 4},
        "sample_every": 1,
        "report": {"at": "", "every": 6, "csv_every": 1, "chart": chart},
        "watchdog": 60,
    }


def mails_at(tmp, srv, chart, kb):
    path = os.path.join(tmp, "%s-%d" % (chart, kb))
    os.makedirs(path)
    import pathlib
    before = len(srv.messages)
    with RealBoard(pathlib.Path(path), config(srv, chart), heapsize="%dk" % kb) as b:
        b.start()
        try:
            b.wait_for("sent unix1-1-1 via smtp", timeout=40)
        except AssertionError:
            return False
    if len(srv.messages) <= before:
        return False
    # with charts asked for, only a mail that carries them counts (a board short of heap
    # sends the report again without them)
    return not chart or b"image/png" in srv.messages[-1].data


def smallest(tmp, srv, chart, lo=64, hi=512):
    if not mails_at(tmp, srv, chart, hi):
        return None
    while hi - lo > 4:
        mid = (lo + hi) // 2 // 4 * 4
        if mails_at(tmp, srv, chart, mid):
            hi = mid
        else:
            lo = mid
    return hi


def main():
    import tempfile
    with tempfile.TemporaryDirectory() as tmp, \
            MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True) as srv:
        print("real MicroPython unix port (64-bit), boot.py -> main.py -> report over STARTTLS + AUTH")
        for chart in (False, True):
            kb = smallest(tmp, srv, chart)
            print("smallest heap that mails the report %-15s %s" % (
                "with charts:" if chart else "without charts:", "%d KB" % kb if kb else "> 512 KB"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
