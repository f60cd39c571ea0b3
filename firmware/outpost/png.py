# A palette PNG written row by row from fixed buffers, as a file-like object the message writer
# reads (read(n); seek(0) starts again, so a retried send writes the same image).
#
#   img = Png(width, height, depth, palette, fill_row)   # fill_row(y, buf): packed pixels of row y
#   while True: data = img.read(512) ...
#
# The image data is compressed with MicroPython's `deflate.DeflateIO` when the port can compress
# (the WebAssembly port can; outpost/pngz.py, loaded only then). Otherwise, as on the unix and
# ESP32 builds, which usually only decompress, it is a zlib stream of stored (uncompressed)
# blocks, whose only checksum, Adler-32, is computed here. Either way no more than one row and
# one output block are held at a time. Few names (see outpost/compose.py): every name a module
# holds stays interned for the rest of the wake.
import binascii
import struct

SIGNATURE = b"\x89PNG\r\n\x1a\n"


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


class Png:
    def __init__(self, *a):
        # (width, height, depth, palette, fill_row[, compress]): positional, as one tuple
        width, height, depth, palette = a[:4]
        if depth not in (1, 2, 4, 8) or len(palette) > (1 << depth) or not palette:
            raise ValueError("png: a palette of at most 2**depth colours, depth 1, 2, 4 or 8")
        if width < 1 or height < 1:
            raise ValueError("png: empty image")
        self.a = a[:5]
        compress = a[5] if len(a) > 5 else None
        self.compress = can_compress() if compress is None else compress
        self._gen = None    # the chunks being read; False once all were read

    # file-like: the writer reads pieces until b""; seek(0) starts over (a retry)
    def tell(self):
        return 0

    def seek(self, *pos):
        self._gen = None
        return 0

    def read(self, n=-1):
        if self._gen is False:
            return b""
        if self._gen is None:
            self._gen = self.chunks()
        for piece in self._gen:
            if piece:
                return piece
        # written: drop the generator, whose frame would keep the row and block buffers
        self._gen = False
        return b""

    def chunks(self):
        width, height, depth, palette, fill_row = self.a
        plte = bytearray()
        for rgb in palette:
            plte.extend(bytes(rgb))
        yield (SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 3, 0,
                                                      0, 0)) + chunk(b"PLTE", bytes(plte)))
        plte = None
        row = bytearray(1 + (width * depth + 7) // 8)    # filter byte 0 (None), the pixels
        if self.compress:
            # outpost/pngz.py, asked for by names the wake already holds ("chunks"): a port that
            # never compresses interns none of its names
            z = __import__("outpost.pngz", None, None, ("chunks",))
            for c in z.chunks(height, fill_row, row):
                yield c
        else:
            # zlib header (deflate, 32 K window, no preset dictionary, check bits), then per
            # IDAT one stored block of up to 8 rows, the last one final, then Adler-32
            n = len(row)
            pixels = memoryview(row)[1:]
            block = bytearray(5 + n * 8)
            adler = 1
            y = 0
            while y < height:
                k = min(8, height - y)
                size = k * n
                block[0] = 1 if y + k >= height else 0
                block[1:5] = struct.pack("<HH", size, size ^ 0xFFFF)
                for j in range(k):
                    fill_row(y + j, pixels)
                    block[5 + j * n:5 + (j + 1) * n] = row
                adler = adler32(memoryview(block)[5:5 + size], adler)
                out = bytes(memoryview(block)[:5 + size])
                if y == 0:
                    out = b"\x78\x01" + out
                y += k
                if y >= height:
                    out += struct.pack(">I", adler)
                yield chunk(b"IDAT", out)
        yield chunk(b"IEND", b"")
