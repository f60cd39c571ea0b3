#!/usr/bin/env python3
"""Run the unchanged Outpost firmware on the emulated board and watch what it does.

    python3 boards/emulated/run.py --config FILE [--sensors SCRIPT] [--flash DIR] [--speed N]

--config   a Python file defining CONFIG = {...}, like firmware/config_local.py
--sensors  a .json table or a .py file with value(name, t) (see emulator/script.py)
--flash    the board's flash directory (boot counter, outbox journal), kept between runs;
           default build/emulated-flash (git-ignored)
--speed    world seconds per real second (60: an hour in a minute); 0: as fast as possible
--for      stop after this many world seconds (default: run until Ctrl-C)
           At the end (or Ctrl-C) the board's MQTT connection is closed with a DISCONNECT: the
           retained status stays `online` and a gateway notices the board by its overdue
           heartbeat, as it would notice a board whose power failed. (A real broker would add
           the Last Will 1.5 keepalives later; an exiting process cannot wait for that, and its
           bare socket close would make the broker publish the Will at once.)
--start    world start time, UTC "YYYY-MM-DDTHH:MM:SSZ" (default 2026-11-28T05:00:00Z)
--wifi-off FROM-TO  the access point is down between these world seconds (repeatable)
--uart ID=URL       wire a UART to a pyserial URL, e.g. 1=/dev/pts/5 or 1=loop://
--test-alert        instead of the app: one test alert through each configured path in turn,
                    each path's result and the SMTP dialogue printed (secrets redacted), as
                    `make test-alert` does on a real board; exit status 0 when every configured
                    path sent it
"""
import argparse
import calendar
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
for p in (os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware"), HERE):
    if p not in sys.path:
        sys.path.insert(0, p)

from emulator.harness import EmulatedBoard  # noqa: E402


def parse_start(s):
    try:
        return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        raise SystemExit("--start: expected YYYY-MM-DDTHH:MM:SSZ, got " + repr(s))


def parse_span(s):
    a, sep, b = s.partition("-")
    try:
        return float(a), float(b)
    except ValueError:
        raise SystemExit("--wifi-off: expected FROM-TO in seconds, got " + repr(s))


def parse_uart(s):
    uid, sep, url = s.partition("=")
    if not sep or not uid.isdigit() or not url:
        raise SystemExit("--uart: expected ID=URL, got " + repr(s))
    return int(uid), url


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run the Outpost firmware on the emulated board.")
    ap.add_argument("--config", required=True)
    ap.add_argument("--sensors")
    ap.add_argument("--flash", default=os.path.join("build", "emulated-flash"))
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--for", dest="duration", type=float)
    ap.add_argument("--start", default="2026-11-28T05:00:00Z")
    ap.add_argument("--wifi-off", action="append", default=[])
    ap.add_argument("--uart", action="append", default=[])
    ap.add_argument("--test-alert", action="store_true")
    a = ap.parse_args(argv)
    if a.speed < 0:
        raise SystemExit("--speed: must be >= 0")
    if not os.path.exists(a.config):
        raise SystemExit("--config: no such file " + a.config)
    if a.test_alert:
        return test_alert(a)
    board = EmulatedBoard(a.config, sensors=a.sensors, flash_dir=a.flash, start=parse_start(a.start),
                          speed=a.speed or 1.0, instant=(a.speed == 0),
                          uart_urls=dict(parse_uart(u) for u in a.uart),
                          out=lambda line: print(line, flush=True))
    board.wifi_off = [parse_span(s) for s in a.wifi_off]
    chunk = 600.0
    left = a.duration
    try:
        board.start()
        while left is None or left > 0:
            step = chunk if left is None else min(chunk, left)
            board.run(step, timeout=(step / a.speed + 120) if a.speed else 600)
            if left is not None:
                left -= step
    except KeyboardInterrupt:
        print("stopped")
    finally:
        board.close(hang_up=True)
    return 0


def test_alert(a):
    # the firmware's outpost.testalert on the emulated board, in world time as fast as it goes
    # (the network waits are real); done when it prints its last line. The config is checked
    # first as `make check` does it (a CA file is read beside the config file)
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import deploy_tree
    try:
        deploy_tree.check("emulated", a.config)
    except ValueError as e:         # outpost.config.ConfigError names the key
        print("config: " + str(e), file=sys.stderr)
        return 2
    board = EmulatedBoard(a.config, sensors=a.sensors, flash_dir=a.flash, start=parse_start(a.start),
                          instant=True, uart_urls=dict(parse_uart(u) for u in a.uart),
                          out=lambda line: print(line, flush=True),
                          program="from outpost.testalert import main\nmain()\n")
    done = None
    try:
        board.start()
        for _ in range(60):
            done = [l for l in board.lines if l.startswith("test-alert: done: ")]
            if done:
                break
            board.run(60, timeout=600)
    finally:
        board.close(hang_up=True)
    if not done:
        print("test-alert: did not finish")
        return 2
    sent, _, rest = done[0][len("test-alert: done: "):].partition(" of ")
    return 0 if sent == rest.split()[0] and sent != "0" else 1


if __name__ == "__main__":
    sys.exit(main())
