# outpost.png's compressed image data, for a port whose `deflate.DeflateIO` can write (the
# WebAssembly port; the unix and ESP32 builds usually only decompress): loaded only there, so
# a board that writes stored blocks does not hold these names.
import deflate
import io

from outpost.png import chunk


class Sink(io.IOBase):
    # the stream DeflateIO writes into, drained into IDAT chunks. It must be an io.IOBase:
    # MicroPython's DeflateIO writes only to objects with the stream protocol
    def __init__(self):
        self.buf = bytearray()

    def write(self, b):
        self.buf.extend(b)
        return len(b)


def chunks(height, fill_row, row):
    # a 512-byte window (wbits 9): small on the heap, enough for repeating rows
    sink = Sink()
    z = deflate.DeflateIO(sink, deflate.ZLIB, 9)
    pixels = memoryview(row)[1:]
    for y in range(height):
        fill_row(y, pixels)
        z.write(row)
        if len(sink.buf) >= 256:
            yield chunk(b"IDAT", bytes(sink.buf))
            sink.buf = bytearray()
    z.close()
    yield chunk(b"IDAT", bytes(sink.buf))
