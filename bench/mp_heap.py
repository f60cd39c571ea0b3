# Loaded by bench/mp_heap.mjs into the MicroPython VM. The JS side drives one chunk per VM call
# and reads gc.mem_alloc() in the next call: the WebAssembly port only reclaims memory between
# calls into the VM (gc.collect() inside a long call frees nothing there), so a per-call loop is
# what measures the heap really held, as gc.collect() after each chunk does on a board.
import gc
import sys

from usmtp.stuffing import DataStuffer
from usmtp.writer import Message

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


def start(size, bufsize):
    m = Message("Board <board@example.com>", "ops@example.org", "Heap bench",
                "Attachment follows.\n", date=1795870110, message_id="<bench-1-1@example.com>")
    m.attach("data.bin", Sensor(size), "application/octet-stream")
    state["m"] = m
    state["it"] = m.chunks(bufsize)
    state["s"] = DataStuffer()
    state["wire"] = 0
    state["chunks"] = 0


def step():
    # one chunk from the writer through the stuffer; False when the message is done
    c = next(state["it"], None)
    if c is None:
        state["wire"] += len(state["s"].end())
        return False
    out = state["s"].feed(c)
    state["wire"] += len(out)     # a socket write would go here
    state["chunks"] += 1
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
