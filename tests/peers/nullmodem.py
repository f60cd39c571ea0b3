"""A null-modem cable between two serial ports: two pty pairs, raw, whose masters this side
joins, so the board's UART opens one tty (.board) and the gateway's serial ingress the other
(.gateway), each as it opens a USB serial adapter. Bytes go across as they come; .cut = True
drops them (a cable pulled out).

    with NullModem() as cable:
        board uses cable.board, gateway uses cable.gateway
"""
import os
import select
import threading
import tty

from peers.closing import Closing, quietly


class NullModem(Closing):
    def __init__(self):
        self._fds = []
        self._ends = []
        for _ in range(2):
            master, slave = os.openpty()
            tty.setraw(master)
            tty.setraw(slave)       # as pyserial leaves a port: no echo, no line discipline
            self._fds += [master, slave]
            self._ends.append((master, os.ttyname(slave)))
        self.board = self._ends[0][1]
        self.gateway = self._ends[1][1]
        self.cut = False
        self._stop = os.pipe()
        self._thread = threading.Thread(target=self._run, name="nullmodem", daemon=True)
        self._thread.start()

    def _run(self):
        a, b = self._ends[0][0], self._ends[1][0]
        other = {a: b, b: a}
        while True:
            r, _, _ = select.select([a, b, self._stop[0]], [], [])
            if self._stop[0] in r:
                return
            for fd in r:
                try:
                    data = os.read(fd, 4096)
                except OSError:     # the far end of the pty closed for now (EIO): wait for it
                    data = b""
                if not data or self.cut:
                    continue
                quietly(os.write, other[fd], data)

    def close(self):
        if self._thread.is_alive():
            os.write(self._stop[1], b"x")
            self._thread.join(5)
        for fd in self._fds + list(self._stop):
            quietly(os.close, fd)
