"""Cold-wake round trips on the real runtime (printed, never asserted).

    .venv/bin/python bench/board_rtt.py [--rtt 0.2]

The unchanged firmware on the MicroPython unix port (boards/unix, .mpy files as `make deploy`
lays them out) boots, samples, makes one alert and mails it over STARTTLS + AUTH PLAIN to an
aiosmtpd server (PIPELINING + CHUNKING, TLS 1.3) through tests/peers/rttproxy.py, which delays
each direction by rtt/2. Measured: from the moment the board prints the alert (journalled,
about to send) to the moment the 250 for the message reaches the board (the server's acceptance
+ rtt/2), in round trips. The TCP handshake to the proxy is on loopback and not delayed, so
add 1 for a real network's SYN/SYN-ACK. QUIT comes after the 250 and is not counted: the alert
is marked done on the 250.

Then the cost of one alert wake per path, behind --wake-rtt (100 ms): from power-on to the
alert marked done (the board's "sent" line), with the number of resets (deep sleeps) and Wi-Fi
associations it took, and the flash writes (each write() to a file, each file created or
truncated, renamed or removed: every one is a flash program on a board; the unix port's RTC
memory file is not counted, it is RTC RAM on a board), boot included. Paths:
direct SMTP in the app's wake (smtp.send_wake_below 0), SMTP in a send wake, MQTT over TLS to
Mosquitto, and serial to the gateway's serial ingress (the UART of boards/unix/machine.py on a
pty, joined to the gateway's by tests/peers/nullmodem.py; no network, so no RTT; a pty has no
baud rate: at 115200 baud a real UART adds about 0.1 ms a byte, ~50 ms for an alert's frame).
And a battery board's quiet wake (deep_sleep, nothing due: outpost/quiet.py), from its reset to
its deep sleep.
The wall times are taken on a shared, busy machine: read them with the load printed.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "realmp"),
                os.path.join(ROOT, "tests", "host"),    # the gateway's serial ingress (serial row)
                os.path.join(ROOT, "lib")]

from peers.rttproxy import RttProxy  # noqa: E402
from peers.smtpd import MailServer  # noqa: E402
from realboard import DEEPSLEEP_RESET, RealBoard  # noqa: E402
from test_board_real import board_config, starttls_auth  # noqa: E402


def one(rtt, chunking):
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True,
                    chunking=chunking, pipelining=True) as srv:
        with RttProxy(srv.host, srv.port, rtt=rtt) as proxy:
            smtp = starttls_auth(srv, port=proxy.port, timeout=30)
            d = pathlib.Path(tempfile.mkdtemp(prefix="board-rtt-"))
            with RealBoard(d, board_config(smtp=smtp, order=("smtp",)), heapsize="512k") as b:
                with open(os.path.join(b.fs, "pin27"), "w") as f:
                    f.write("1")
                b.start()
                i = b.wait_for("alert unix1-1-1", timeout=60)
                t0 = time.monotonic()
                while not srv.messages:
                    if time.monotonic() - t0 > 60:
                        raise SystemExit("no message after 60 s:\n" + "\n".join(b.lines[i:]))
                    time.sleep(0.001)
                t250 = time.monotonic() + rtt / 2
                b.wait_for("sent unix1-1-1 via smtp", timeout=60)
                return (t250 - t0) / rtt


# the unchanged boot.py and main.py; open() and os are wrapped to count flash writes, printed
# when the process sleeps (a send wake) and after the app's "sent" line
COUNTING_BOOT = """exec(open('boot.py').read())
import builtins, sys, os as _os
_n = {}
def _count(name):
    _n[name] = _n.get(name, 0) + 1
class _W:
    def __init__(s, f, name):
        s.f = f
        s.name = name
    def write(s, d):
        _count(s.name)
        return s.f.write(d)
    def __getattr__(s, k):
        return getattr(s.f, k)
    def __enter__(s):
        return s
    def __exit__(s, *a):
        s.f.close()
_open = builtins.open
def _counting_open(name, mode='r', *a):
    f = _open(name, mode, *a)
    if 'w' in mode or 'a' in mode:
        if 'w' in mode:
            _count(name)    # created or truncated
        return _W(f, name)
    return f
builtins.open = _counting_open
class _Os:
    def remove(s, p):
        _os.remove(p)
        _count(p)
    def rename(s, a, b):
        _os.rename(a, b)
        _count(b)
    def __getattr__(s, k):
        return getattr(_os, k)
sys.modules['os'] = _Os()
def _show():
    print('FLASH ' + ' '.join([k + '=' + str(_n[k]) for k in _n]))
import machine
_sleep = machine.deepsleep
def _deepsleep(ms=0):
    _show()
    _sleep(ms)
machine.deepsleep = _deepsleep
_print = builtins.print
def _p(*a, **k):
    _print(*a, **k)
    if a and isinstance(a[0], str) and '] sent unix1-1-1' in a[0]:
        _show()
builtins.print = _p
exec(open('main.py').read())
"""


def wake_cost(path, rtt):
    """(seconds from power-on to the alert marked done, resets, Wi-Fi associations,
    {file: flash writes}) for one alert wake over `path`."""
    from peers.mosquitto import Mosquitto
    d = pathlib.Path(tempfile.mkdtemp(prefix="board-wake-"))
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True,
                    chunking=True) as srv, Mosquitto(tls=True) as broker:
        target = (broker.host, broker.tls_port) if path == "mqtt" else (srv.host, srv.port)
        with RttProxy(target[0], target[1], rtt=rtt) as proxy:
            if path == "mqtt":
                cfg = board_config(mqtt={"host": "127.0.0.1", "port": proxy.port, "tls": True,
                                         "ca": broker.ca_pem.decode(), "server_hostname": "localhost",
                                         "timeout": 10, "heartbeat": 0, "publish_every": 0},
                                   order=("mqtt",))
            else:
                cfg = board_config(smtp=starttls_auth(srv, port=proxy.port, timeout=30,
                                                      send_wake_below=(1 << 20) if path == "smtp-wake" else 0),
                                   order=("smtp",))
            with RealBoard(d, cfg, heapsize="512k") as b:
                with open(os.path.join(b.fs, "pin27"), "w") as f:
                    f.write("1")
                t0 = time.monotonic()
                b.start(code=COUNTING_BOOT)
                i = b.wait_for("sent unix1-1-1", timeout=120)
                took = time.monotonic() - t0
                return took, b.wakes, b.count("wifi: connecting"), flash_writes(b, i)


def serial_wake_cost():
    """(seconds, resets, Wi-Fi associations, {file: flash writes}) of one alert wake over the
    serial path: the board's UART through a null-modem pty pair (tests/peers/nullmodem.py) to
    the gateway's serial ingress, which ACKs after its spool commit. No network: no RTT."""
    from peers.nullmodem import NullModem
    from gateway_helpers import SerialIngressOn
    d = pathlib.Path(tempfile.mkdtemp(prefix="board-serial-"))
    with NullModem() as cable:
        gw = SerialIngressOn(d, cable.gateway)
        try:
            cfg = board_config(order=("serial",))
            cfg["serial"] = {"uart": 1, "timeout": 10}
            with RealBoard(d, cfg, heapsize="512k") as b:
                for name, v in (("pin27", "1"), ("uart1", cable.board)):
                    with open(os.path.join(b.fs, name), "w") as f:
                        f.write(v)
                t0 = time.monotonic()
                b.start(code=COUNTING_BOOT)
                i = b.wait_for("sent unix1-1-1", timeout=120)
                took = time.monotonic() - t0
                return took, b.wakes, b.count("wifi: connecting"), flash_writes(b, i)
        finally:
            gw.close()


def flash_writes(b, i):
    # {file: flash writes} the board printed (FLASH lines) up to its "sent" line at i
    b.wait_for("FLASH ", timeout=30, start=i)
    writes = {}
    for line in b.lines:
        if line.startswith("FLASH "):
            for kv in line.split()[1:]:
                k, _, v = kv.rpartition("=")
                if k != "rtc.mem":      # RTC memory on a board, not flash
                    writes[k] = writes.get(k, 0) + int(v)
    return writes


def quiet_wake_cost():
    """(seconds, Wi-Fi associations, {file: flash writes}) of one quiet wake of a battery
    board: woken from deep sleep with nothing due (outpost/quiet.py), from the process start
    (the board's reset) to its deep sleep; the power-on wake before it runs the app."""
    d = pathlib.Path(tempfile.mkdtemp(prefix="board-quiet-"))
    cfg = dict(board_config(order=("smtp",)), deep_sleep=True, sample_every=60)
    with RealBoard(d, cfg, heapsize="512k") as b:
        with open(os.path.join(b.fs, "pin27"), "w") as f:
            f.write("0")
        b.auto_wake = False     # each wake started here, timed from its start
        b.start(code=COUNTING_BOOT)
        i = b.wait_for("FLASH ", timeout=60)
        while b.proc.poll() is None:
            time.sleep(0.01)
        n = len(b.lines)
        t0 = time.monotonic()
        b.start(code=COUNTING_BOOT, cause=DEEPSLEEP_RESET)
        j = b.wait_for("FLASH ", timeout=60, start=n)
        took = time.monotonic() - t0
        writes = {}
        for kv in b.lines[j].split()[1:]:
            k, _, v = kv.rpartition("=")
            if k != "rtc.mem":
                writes[k] = int(v)
        wifi = sum("wifi: connecting" in line for line in b.lines[n:j])
        return took, wifi, writes


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--rtt", type=float, default=0.2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--wake-rtt", type=float, default=0.1)
    ap.add_argument("--only-wake", action="store_true", help="only the wake cost per path")
    a = ap.parse_args(argv)
    if a.only_wake:
        return wake_costs(a)
    print("cold wake on the real runtime: alert -> 250, in round trips of %.0f ms "
          "(STARTTLS + AUTH PLAIN, TLS 1.3)" % (a.rtt * 1000))
    for chunking, label in ((True, "PIPELINING + CHUNKING"), (False, "PIPELINING, no CHUNKING")):
        rts = [one(a.rtt, chunking) for _ in range(a.runs)]
        print("  %-26s %s  (median %.2f)" % (label, " ".join("%.2f" % r for r in rts),
                                              sorted(rts)[len(rts) // 2]))
    return wake_costs(a)


def wake_costs(a):
    print("alert wake per path on the real runtime, %.0f ms RTT, power-on to the alert marked "
          "done (load %.1f; median of %d):" % (a.wake_rtt * 1000, os.getloadavg()[0], a.runs))
    for path, label in (("smtp", "direct SMTP, the app's wake"), ("smtp-wake", "SMTP in a send wake"),
                        ("mqtt", "MQTT over TLS")):
        runs = sorted((wake_cost(path, a.wake_rtt) for _ in range(a.runs)), key=lambda r: r[0])
        took, resets, wifi, writes = runs[len(runs) // 2]
        print("  %-28s %5.2f s  %d resets  %d Wi-Fi associations  %d flash writes (%s)"
              % (label, took, resets, wifi, sum(writes.values()),
                 ", ".join("%s %d" % (k, writes[k]) for k in sorted(writes))))
    runs = sorted((serial_wake_cost() for _ in range(a.runs)), key=lambda r: r[0])
    took, resets, wifi, writes = runs[len(runs) // 2]
    print("  %-28s %5.2f s  %d resets  %d Wi-Fi associations  %d flash writes (%s)"
          % ("serial to the gateway", took, resets, wifi, sum(writes.values()),
             ", ".join("%s %d" % (k, writes[k]) for k in sorted(writes))))
    runs = sorted((quiet_wake_cost() for _ in range(a.runs)), key=lambda r: r[0])
    took, wifi, writes = runs[len(runs) // 2]
    print("  %-28s %5.2f s  1 reset (its deep sleep)  %d Wi-Fi associations  %d flash writes"
          % ("a quiet wake (deep sleep)", took, wifi, sum(writes.values())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
