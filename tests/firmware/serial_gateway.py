"""A tiny test-side serial gateway on a pty pair: the board's UART opens the pty's slave end;
this side reads frames (lib/outpost_contract/frame.py), keeps the alert records and answers ACK <id>.
Set .answer = False to stay silent (the board must time out), or "nak" to refuse."""
import os
import select
import threading
import tty

from outpost_contract import record as alert_record
from outpost_contract import frame as serial_frame


class SerialGateway:
    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.master)
        self.url = os.ttyname(self.slave)
        self.records = []
        self.frames = 0
        self.answer = True
        self._stop = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name="serial-gateway", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join(5)
        os.close(self.master)
        os.close(self.slave)

    def _loop(self):
        buf = b""
        while not self._stop:
            r, _, _ = select.select([self.master], [], [], 0.1)
            if not r:
                continue
            try:
                buf += os.read(self.master, 4096)
            except OSError:
                return
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._line(line + b"\n")

    def _line(self, line):
        try:
            payload = serial_frame.parse(line)
        except serial_frame.FrameError as e:
            os.write(self.master, serial_frame.nak(e.id or "-", e.reason))
            return
        if payload is None:
            return
        rec = alert_record.decode(payload)
        with self._cond:
            self.frames += 1
            if self.answer is True:
                if rec["id"] not in [r["id"] for r in self.records]:
                    self.records.append(rec)
                os.write(self.master, serial_frame.ack(rec["id"]))
            elif self.answer == "nak":
                os.write(self.master, serial_frame.nak(rec["id"], "spool full"))
            self._cond.notify_all()

    def wait_frames(self, n, timeout=10):
        import time
        end = time.monotonic() + timeout
        with self._cond:
            while self.frames < n:
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("gateway saw %d of %d frames" % (self.frames, n))
                self._cond.wait(left)
