"""The serial path on the real runtime: the unchanged firmware on the MicroPython unix port, laid
out as `make deploy` does, sends its alert as a frame over its UART (boards/unix/machine.py: the
tty named in the file uart1) through a null-modem cable of two ptys (tests/peers/nullmodem.py)
to the gateway's own serial ingress (outpost_gateway.serial_ingress, pyserial, a real spool),
which ACKs after the commit. A gateway that does not answer costs the board one timed-out
attempt, and the alert goes on the next one, once."""
import os
import sys

from peers.nullmodem import NullModem
from realboard import RealBoard
from test_board_real import board_config, door_open

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "host"))
from gateway_helpers import SerialIngressOn  # noqa: E402


def serial_board(cable, tmp_path, **serial):
    cfg = board_config(order=("serial",))
    cfg["serial"] = dict({"uart": 1, "timeout": 3}, **serial)
    b = RealBoard(tmp_path, cfg)
    with open(os.path.join(b.fs, "uart1"), "w") as f:
        f.write(cable.board)        # the board's UART 1 is wired to this tty
    return b


def test_alert_over_serial_acked_after_the_gateway_spooled_it(tmp_path):
    with NullModem() as cable:
        gw = SerialIngressOn(tmp_path, cable.gateway)
        try:
            with serial_board(cable, tmp_path) as b:
                door_open(b)
                b.start()
                b.wait_for("sent unix1-1-1 via serial", timeout=60)
                rec = gw.spool.show("unix1-1-1")
                assert rec["device"] == "unix1" and rec["severity"] == "critical", rec
                assert gw.metrics.c["acknowledged"] == 1
                # Wi-Fi comes up once, for NTP at power-on, never to send
                assert b.count("wifi: connecting") == 1, b.lines
                assert b.wait_for("wifi: connecting") < b.wait_for("alert unix1-1-1"), b.lines
        finally:
            gw.close()


def test_silent_gateway_times_out_then_the_alert_goes_once(tmp_path):
    with NullModem() as cable:
        gw = SerialIngressOn(tmp_path, cable.gateway)
        try:
            cable.cut = True        # the board's frames reach nobody
            with serial_board(cable, tmp_path, timeout=1) as b:
                door_open(b)
                b.start()
                i = b.wait_for("no ACK within 1 s", timeout=60)
                assert gw.spool.counts()["alerts"] == 0
                cable.cut = False
                b.wait_for("sent unix1-1-1 via serial", timeout=60, start=i)
                assert gw.spool.counts()["alerts"] == 1
                assert gw.metrics.c["acknowledged"] == 1
        finally:
            gw.close()


def test_no_uart_wired_is_named(tmp_path):
    # a board whose UART cannot be opened says which, and keeps the alert
    with NullModem() as cable:
        with serial_board(cable, tmp_path) as b:
            os.remove(os.path.join(b.fs, "uart1"))
            door_open(b)
            b.start()
            b.wait_for("no UART 1", timeout=60)
            assert b.count("sent unix1-1-1") == 0
