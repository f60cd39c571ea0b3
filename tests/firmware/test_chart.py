# lane: micropython
# The report chart's PNG writer, on CPython and on the MicroPython VM: chunk CRCs, the zlib
# stream (stored blocks everywhere; DeflateIO where the port compresses), and the pixels.
import binascii
import os
import struct

from outpost import chart, clock, png, report

T0 = 1795824000  # 2026-11-28T00:00:00Z


def inflate(data):
    try:
        import zlib
        return zlib.decompress(data)    # checks the Adler-32 too
    except ImportError:
        import deflate
        import io
        return deflate.DeflateIO(io.BytesIO(data), deflate.ZLIB).read()


def read_all(img, n=200):
    out = []
    while True:
        d = img.read(n)
        if not d:
            return b"".join(out)
        out.append(d)


def decode(data):
    """-> (width, height, depth, colour type, palette bytes, [row bytes]), every CRC checked."""
    if data[:8] != png.SIGNATURE:
        raise ValueError("no PNG signature")
    pos = 8
    idat = []
    ihdr = plte = None
    kinds = []
    while pos < len(data):
        n = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + n]
        crc = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if binascii.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError("bad CRC in " + str(kind))
        kinds.append(kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"PLTE":
            plte = body
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + n
    if kinds[0] != b"IHDR" or kinds[-1] != b"IEND":
        raise ValueError("chunk order " + str(kinds))
    w, h, depth, ctype = ihdr[0], ihdr[1], ihdr[2], ihdr[3]
    raw = inflate(b"".join(idat))
    stride = (w * depth + 7) // 8
    if len(raw) != h * (stride + 1):
        raise ValueError("image data of %d bytes for %dx%d" % (len(raw), w, h))
    rows = [raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)] for y in range(h)]
    for y in range(h):
        if raw[y * (stride + 1)] != 0:
            raise ValueError("row filter")
    return w, h, depth, ctype, plte, rows


def px(rows, x, y):
    return (rows[y][x >> 2] >> (6 - 2 * (x & 3))) & 3


def ramp_csv(n=25, step=3600):
    rep = report.new(T0, step)
    for i in range(n):
        report.add(rep, {"t": (float(i), "C")}, T0 + i * step, 1000)
    return report.csv_text(rep)


def test_adler32_known_values():
    assert png.adler32(b"Wikipedia") == 0x11E60398
    assert png.adler32(b"") == 1
    # in pieces, as the stored blocks compute it
    assert png.adler32(b"pedia", png.adler32(b"Wiki")) == 0x11E60398
    big = bytes(range(256)) * 40
    assert png.adler32(big[5000:], png.adler32(big[:5000])) == png.adler32(big)


def test_parse_time_is_the_inverse_of_iso():
    for t in (0, T0, T0 + 86399, 951782400, 4107542400, T0 + 12345):
        assert chart.parse_time(clock.iso(t)) == t
    for bad in ("2026-11-28 00:00:00Z", "", "2026-11-28T00:00:00"):
        try:
            chart.parse_time(bad)
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(bad))


def test_scan_columns_ranges_and_gaps():
    csv = ("time_utc,a,b,c\r\n2026-11-28T00:00:00Z,1.50,,\r\n"
           "2026-11-28T06:00:00Z,-2,7,\r\n2026-11-28T12:00:00Z,,3,\r\n")
    names, t0, t1, lows, highs = chart.scan(csv)
    assert names == ["a", "b", "c"]
    assert (t0, t1) == (T0, T0 + 43200)
    assert lows == [-2.0, 3.0, None] and highs == [1.5, 7.0, None]
    # a column without any value gets no chart
    assert [p[0] for p in chart.plots(csv)] == ["a", "b"]


def stored_and_compressed():
    modes = [False]
    if png.can_compress():
        modes.append(True)
    return modes


def test_ramp_pixels_in_every_mode():
    for mode in stored_and_compressed():
        name, lo, hi, plot = chart.plots(ramp_csv())[0]
        assert (name, lo, hi) == ("t", 0.0, 24.0)
        w, h, depth, ctype, plte, rows = decode(read_all(plot.png(mode)))
        assert (w, h, depth, ctype) == (chart.WIDTH, chart.HEIGHT, 2, 3)
        assert plte == bytes(b for rgb in chart.PALETTE for b in rgb)
        # lowest value bottom left, highest top right, the middle in the middle
        assert px(rows, 0, h - 1) == 2
        assert px(rows, w - 1, 0) == 2
        mid = [y for y in range(h) if px(rows, w // 2, y) == 2]
        assert mid and abs(sum(mid) / len(mid) - (h - 1) / 2) <= 2, mid
        # one continuous line: every column has line pixels, nothing far off the diagonal
        for x in range(w):
            ys = [y for y in range(h) if px(rows, x, y) == 2]
            assert ys, x
            expect = (h - 1) - x * (h - 1) / (w - 1)
            assert min(abs(y - expect) for y in ys) <= 1.5, (x, ys)
        assert px(rows, 5, h - 1) == 3 or px(rows, 5, h - 1) == 2
        assert px(rows, 7, 20) in (0, 1)


def test_a_gap_breaks_the_line():
    csv = ("time_utc,a\r\n2026-11-28T00:00:00Z,0\r\n2026-11-28T01:00:00Z,10\r\n"
           "2026-11-28T02:00:00Z,\r\n2026-11-28T03:00:00Z,\r\n2026-11-28T04:00:00Z,10\r\n")
    plot = chart.plots(csv)[0][3]
    w, h, _, _, _, rows = decode(read_all(plot.png(False)))
    between = [x for x in range(w) if any(px(rows, x, y) == 2 for y in range(h))]
    x1 = (w - 1) // 4
    assert max(between[:-1]) == x1     # up to the 01:00 reading, then nothing until 04:00
    assert between[-1] == w - 1


def test_seek_restarts_the_same_image():
    img = chart.plots(ramp_csv())[0][3].png(False)
    first = read_all(img, 77)
    img.seek(0)
    assert read_all(img, 1000) == first


def test_stored_image_is_rows_plus_small_overhead():
    img = chart.plots(ramp_csv())[0][3].png(False)
    data = read_all(img)
    raw = chart.HEIGHT * (chart.WIDTH // 4 + 1)
    assert raw < len(data) < raw + 400


def test_chart_memory_is_dropped_after_the_last_row():
    plot = chart.plots(ramp_csv())[0][3]
    img = plot.png(False)
    img.read(10)        # the header only: nothing drawn yet
    assert plot.top is None
    read_all(img)
    assert plot.top is None and plot.bottom is None


def scratch(name):
    # an empty folder (this file runs on the VM lane too, where tests take no fixtures)
    try:
        import tempfile
        return tempfile.mkdtemp()
    except ImportError:
        d = "/" + name
        try:
            os.mkdir(d)
        except OSError:
            for f in os.listdir(d):
                os.remove(d + "/" + f)
        return d


def test_a_foreign_csv_adds_no_chart():
    d = scratch("foreign")
    base = d + "/mail.out"
    assert chart.write("when,a\r\n1,2\r\n", base) == []
    assert chart.write("", base) == []
    assert os.listdir(d) == []


def test_write_puts_each_column_chart_in_a_file_of_its_own():
    # the SMTP step's first part: the PNGs on flash, the same bytes the in-memory image reads
    csv = ramp_csv()
    base = scratch("columns") + "/mail.out"
    items = chart.write(csv, base)
    assert [i[0] for i in items] == [p[0] for p in chart.plots(csv)]
    for (name, lo, hi, path), (_, lo2, hi2, plot) in zip(items, chart.plots(csv)):
        assert (lo, hi) == (lo2, hi2) and path.startswith(base + ".c")
        with open(path, "rb") as f:
            assert f.read() == read_all(plot.png())
