# Serial ingress over a real pty pair (the gateway opens the slave through pyserial, the test
# plays the board on the master): ACK after commit, NAK for a corrupt frame, dedupe of a
# re-sent frame, chatter ignored, and survival of unplug and re-plug.
import json
import os
import tty

import pytest

from outpost_contract import frame as serial_frame
from gateway_helpers import PtyBoardEnd, SerialIngressOn, record, wait_for


class Board(PtyBoardEnd):
    # the board's end of a pty; the gateway's end is reached through a symlink, so "re-plug"
    # can put a new pty behind the same path
    def __init__(self, link):
        self.link = link
        self.plug()

    def plug(self):
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        name = os.ttyname(slave)
        os.close(slave)
        tmp = self.link + ".new"
        os.symlink(name, tmp)
        os.replace(tmp, self.link)
        self.buf = b""

    def unplug(self):
        os.close(self.master)
        os.unlink(self.link)



def frame(rec):
    return serial_frame.encode(json.dumps(rec, separators=(",", ":")).encode())


@pytest.fixture
def gw(tmp_path):
    link = str(tmp_path / "ttyBOARD")
    board = Board(link)
    g = SerialIngressOn(tmp_path, link)
    yield board, g.ser, g.spool, g.metrics
    g.close()


def test_good_frame_acked_after_commit(gw):
    board, ser, spool, metrics = gw
    board.send(b"boot chatter from the REPL\n>>> \n")
    rec = record(device="b1", seq=1)
    board.send(frame(rec))
    assert board.reply() == ("ACK", rec["id"])
    # the ACK came after the commit: the alert is in the spool
    assert spool.show(rec["id"])["device"] == "b1"
    assert metrics.c["acknowledged"] == 1


def test_corrupt_frame_nacked(gw):
    board, ser, spool, metrics = gw
    rec = record(device="b1", seq=2)
    good = frame(rec)
    bad = good[:3] + (b"0" if good[3:4] != b"0" else b"1") + good[4:]
    board.send(bad)
    assert board.reply() == ("NAK", rec["id"], "crc")
    board.send(b"A1 zz\n")
    assert board.reply() == ("NAK", None, "malformed")
    # a frame with a good CRC but a record missing its subject
    r2 = record(device="b1", seq=3)
    del r2["subject"]
    board.send(frame(r2))
    kind, rid, reason = board.reply()
    assert (kind, rid) == ("NAK", r2["id"]) and "subject" in reason
    assert spool.counts()["alerts"] == 0
    assert metrics.c["refused"] == 3


def test_resent_frame_deduplicated(gw):
    board, ser, spool, metrics = gw
    rec = record(device="b1", seq=4)
    board.send(frame(rec))
    assert board.reply() == ("ACK", rec["id"])
    board.send(frame(rec))          # the board missed our ACK and sends again
    assert board.reply() == ("ACK", rec["id"])
    assert spool.counts()["alerts"] == 1
    assert metrics.c["duplicates"] == 1


def test_survives_unplug_and_replug(gw):
    board, ser, spool, metrics = gw
    opens = ser.opens
    board.unplug()
    assert wait_for(lambda: not ser.is_open)
    board.plug()
    assert wait_for(lambda: ser.is_open and ser.opens > opens)
    rec = record(device="b1", seq=5)
    board.send(frame(rec))
    assert board.reply() == ("ACK", rec["id"])
    assert spool.show(rec["id"]) is not None


def test_over_long_frame_nacked_and_reader_recovers(gw):
    board, ser, spool, metrics = gw
    board.send(b"A1 00000000 {" + b"x" * (serial_frame.MAX_LINE + 100) + b"}\n")
    assert board.reply() == ("NAK", None, "too-long")
    rec = record(device="b1", seq=6)
    board.send(frame(rec))
    assert board.reply() == ("ACK", rec["id"])
    assert metrics.refusals.get(("serial", "too-long")) == 1
