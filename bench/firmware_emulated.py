"""Emulated board figures (printed, never asserted):

    .venv/bin/python bench/firmware_emulated.py

1. how much board time the emulated board runs per real second (30 s samples, no network)
2. alert latency in board time: from the sample that crossed the limit to the 250 of a local
   aiosmtpd (implicit TLS), and the real time that send took
"""
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "boards", "emulated"), os.path.join(ROOT, "firmware"),
                os.path.join(ROOT, "lib"), os.path.join(ROOT, "tests"),
                os.path.join(ROOT, "tests", "firmware")]

from emu_fixtures import RISE, base_config  # noqa: E402
from emulator.harness import EmulatedBoard  # noqa: E402
from peers.smtpd import MailServer  # noqa: E402


def main():
    cfg = base_config()
    cfg["rules"] = []
    b = EmulatedBoard(cfg, sensors={"freezer.temperature": -18.0}, flash_dir=tempfile.mkdtemp(),
                      start=1795842000)
    b.start()
    t = time.perf_counter()
    b.run(24 * 3600)
    dt = time.perf_counter() - t
    b.close()
    print("emulated board: 24 h of board time (2880 samples) in %.2f s real: %.0f board-hours per real second"
          % (dt, 24 / dt))

    with MailServer(tls="implicit") as srv:
        b = EmulatedBoard(base_config(mail=srv), sensors=RISE, flash_dir=tempfile.mkdtemp(), start=1795842000)
        b.start()
        t = time.perf_counter()
        b.run(1200)
        srv.wait_for(1)
        real = time.perf_counter() - t
        alert = [l for l in b.lines if "alert shed-1-1" in l][0]
        sent = [l for l in b.lines if "sent shed-1-1" in l][0]
        b.close()
    ts = lambda line: time.mktime(time.strptime(line[1:21], "%Y-%m-%dT%H:%M:%SZ"))
    print("alert latency (board time): crossing sample at %s, 250 at %s: %.0f s"
          % (alert[12:20], sent[12:20], ts(sent) - ts(alert)))
    print("real time for 20 min of board time including one TLS SMTP send: %.2f s" % real)


if __name__ == "__main__":
    main()
