# A palette PNG written row by row from fixed buffers, as a file-like object the message writer
# reads (read(n); seek(0) starts again, so a retried send writes the same image).
#
#   img = Png(width, height, depth, palette, fill_row)   # fill_row(y, buf): packed pixels of row y
#   while True: data = img.read(512) ...
#
# The image data is compressed with MicroPython's `deflate.DeflateIO` when the port can compress
# (the WebAssembly port can; the unix and ESP32 builds usually only decompress). Otherwise it is
# a zlib stream of stored (uncompressed) blocks, whose only checksum, Adler-32, is computed here.
# Either way no more than one row and one output block are held at a time.
import binascii
import struct

SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROWS_PER_BLOCK = 8      # stored blocks: rows gathered into one IDAT chunk
DEFLATE_WBITS = 9       # a 512-byte window: small on the heap, enough for repeating rows


def chunk(kind, data):
    crc = binascii.crc32(data, binascii.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def adler32(data, value=1):
    a = value & 0xFFFF
    b = value >> 16
    i = 0
    n = len(data)
    while i < n:
        end = min(n, i + 5552)  # the longest run whose sums cannot pass 2**32 before the modulo
        while i < end:
            a += data[i]
            b += a
            i += 1
        a %= 65521
        b %= 65521
    return (b << 16) | a


def can_compress():
    try:
        import deflate
    except ImportError:
        return False
    return hasattr(deflate.DeflateIO, "write")


def _sink():
    # the stream DeflateIO writes its output into, drained into IDAT chunks. It must be an
    # io.IOBase: MicroPython's DeflateIO writes only to objects with the stream protocol.
    import io

    class Sink(io.IOBase):
        def __init__(self):
            self.buf = bytearray()

        def write(self, b):
            self.buf.extend(b)
            return len(b)

        def take(self):
            b = bytes(self.buf)
            self.buf = bytearray()
            return b

    return Sink()


class Png:
    def __init__(self, width, height, depth, palette, fill_row, compress=None):
        if depth not in (1, 2, 4, 8) or len(palette) > (1 << depth) or not palette:
            raise ValueError("png: a palette of at most 2**depth colours, depth 1, 2, 4 or 8")
        if width < 1 or height < 1:
            raise ValueError("png: empty image")
        self.width = width
        self.height = height
        self.depth = depth
        self.palette = palette
        self.fill_row = fill_row
        self.stride = (width * depth + 7) // 8
        self.compress = can_compress() if compress is None else compress
        self._gen = None
        self._done = False

    # file-like: the writer reads pieces until b""; seek(0) starts over (a retry)
    def tell(self):
        return 0

    def seek(self, pos, whence=0):
        self._gen = None
        self._done = False
        return 0

    def read(self, n=-1):
        if self._done:
            return b""
        if self._gen is None:
            self._gen = self.chunks()
        for piece in self._gen:
            if piece:
                return piece
        # written: drop the generator, whose frame would keep the row and block buffers
        self._gen = None
        self._done = True
        return b""

    def _head(self):
        ihdr = struct.pack(">IIBBBBB", self.width, self.height, self.depth, 3, 0, 0, 0)
        plte = bytearray()
        for rgb in self.palette:
            plte.extend(bytes(rgb))
        return SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"PLTE", bytes(plte))

    def chunks(self):
        yield self._head()
        row = bytearray(1 + self.stride)    # filter byte 0 (None), then the packed pixels
        pixels = memoryview(row)[1:]
        if self.compress:
            gen = self._deflated(row, pixels)
        else:
            gen = self._stored(row, pixels)
        for c in gen:
            yield c
        yield chunk(b"IEND", b"")

    def _deflated(self, row, pixels):
        import deflate
        sink = _sink()
        z = deflate.DeflateIO(sink, deflate.ZLIB, DEFLATE_WBITS)
        for y in range(self.height):
            self.fill_row(y, pixels)
            z.write(row)
            if len(sink.buf) >= 256:
                yield chunk(b"IDAT", sink.take())
        z.close()
        yield chunk(b"IDAT", sink.take())

    def _stored(self, row, pixels):
        # zlib header (deflate, 32 K window, no preset dictionary, check bits), then per IDAT one
        # stored block of up to ROWS_PER_BLOCK rows, the last one final, then Adler-32
        n = len(row)
        block = bytearray(5 + n * ROWS_PER_BLOCK)
        first = True
        adler = 1
        y = 0
        while y < self.height:
            k = min(ROWS_PER_BLOCK, self.height - y)
            size = k * n
            block[0] = 1 if y + k >= self.height else 0
            block[1:5] = struct.pack("<HH", size, size ^ 0xFFFF)
            for j in range(k):
                self.fill_row(y + j, pixels)
                block[5 + j * n:5 + (j + 1) * n] = row
            data = memoryview(block)[5:5 + size]
            adler = adler32(data, adler)
            out = memoryview(block)[:5 + size]
            if first:
                out = b"\x78\x01" + bytes(out)
                first = False
            y += k
            if y >= self.height:
                out = bytes(out) + struct.pack(">I", adler)
            yield chunk(b"IDAT", bytes(out))
