# Loaded by bench/mp_heap.mjs into the MicroPython VM. The JS side drives one chunk per VM call
# and reads gc.mem_alloc() in the next call: the WebAssembly port only reclaims memory between
# calls into the VM (gc.collect() inside a long call frees nothing there), so a per-call loop is
# what measures the heap really held, as gc.collect() after each chunk does on a board.
import gc
import sys

from usmtp.core import Core
from usmtp.writer import Message

DONE = 0        # what Core.poll() says: done, or it needs the server's bytes
NEED_DATA = 2

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/"


class Sensor:
    # a file-like source making its bytes on demand: nothing the size of the attachment
    # ever exists in RAM
    def __init__(self, size):
        self.size = size
        self.pos = 0

    def readinto(self, buf):
        n = min(len(buf), self.size - self.pos)
        for i in range(0, n, 64):
            k = min(64, n - i)
            buf[i:i + k] = PATTERN[:k]
        self.pos += n
        return n


state = {}


def _core(ext):
    # a core that has been greeted and EHLOed by a scripted server (no socket on the VM)
    c = Core("plain", "[127.0.0.1]")
    c.start(c.op_open())
    c.receive_data(b"220 mx ESMTP\r\n250-mx\r\n" + ext + b"\r\n")
    while c.poll() != DONE:
        c.data_to_send()
    return c


def start(size, bufsize):
    # the message goes writer -> core (MAIL/RCPT/DATA pipelined, body dot-stuffed) -> "socket"
    m = Message("Board <board@example.com>", "ops@example.org", "Heap bench",
                "Attachment follows.\n", date=1795870110, message_id="<bench-1-1@example.com>")
    m.attach("data.bin", Sensor(size), "application/octet-stream")
    c = _core(b"250 PIPELINING")
    c.start(c.op_send("board@example.com", ["ops@example.org"], _Chunks(m, bufsize)))
    state["c"] = c
    state["replies"] = [b"250 ok\r\n250 ok\r\n354 go\r\n", b"250 queued\r\n"]
    state["wire"] = 0
    state["chunks"] = 0


class _Chunks:
    def __init__(self, m, bufsize):
        self.m = m
        self.bufsize = bufsize

    def __iter__(self):
        for c in self.m.chunks(self.bufsize):
            state["chunks"] += 1
            yield c


def step():
    # advance the core to its next write (one body chunk); False when the message is done
    c = state["c"]
    while True:
        step = c.poll()
        out = c.data_to_send()
        state["wire"] += len(out)       # a socket write would go here
        if step == DONE:
            return False
        if step == NEED_DATA:
            c.receive_data(state["replies"].pop(0))
            continue
        if out:
            return True


def finish():
    result = (state["chunks"], state["wire"])
    state.clear()
    return result


def heap():
    gc.collect()
    return gc.mem_alloc()


def version():
    return ".".join([str(x) for x in sys.implementation.version[:3]])
