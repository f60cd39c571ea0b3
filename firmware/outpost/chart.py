# The report's charts: one small PNG per CSV column (a sensor's day), drawn from the report's
# CSV text at send time, so the outbox keeps only the CSV. Loaded for a report only: the SMTP
# step writes each chart to flash with this module and outpost.png alone in its part of the heap,
# unloads them, then writes the message (outpost.compose) reading the PNGs back.
#
# Each chart is WIDTH x HEIGHT pixels, 2 bits a pixel: time runs left to right from the first
# row to the last, the value bottom (lowest of the day) to top (highest). A missing reading breaks
# the line. A column is drawn only while its image is written: two bytes per x, then dropped.
from outpost.png import Png

WIDTH = 240
HEIGHT = 64
# colours 0 white, 1 grid, 2 the line, 3 the axes (as numbers: every name stays interned for the
# rest of the wake, see outpost/compose.py)
PALETTE = ((255, 255, 255), (221, 221, 221), (33, 102, 172), (96, 96, 96))


def parse_time(s):
    # "2026-11-28T12:45:21Z" (outpost_contract.rules.iso) -> UTC seconds; ValueError otherwise
    if len(s) != 20 or s[4] + s[10] + s[19] != "-TZ":
        raise ValueError("not an ISO time: " + s)
    # days since 1970-01-01 of the Gregorian date (the inverse of usmtp.clock.civil)
    y = int(s[0:4])
    m = int(s[5:7])
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + int(s[8:10]) - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    return days * 86400 + int(s[11:13]) * 3600 + int(s[14:16]) * 60 + int(s[17:19])


def _lines(text):
    # the CSV's lines without their CRLF, one at a time (no list of all lines)
    start = 0
    n = len(text)
    while start < n:
        end = text.find("\n", start)
        if end < 0:
            end = n
        line = text[start:end].rstrip("\r")
        start = end + 1
        if line:
            yield line


def _cell(a, i):
    # cell i of a row's cells as a number, None when empty or not a number
    if i >= len(a) or not a[i]:
        return None
    try:
        return float(a[i])
    except ValueError:
        return None


def scan(csv):
    """-> (names, t0, t1, lows, highs) of the CSV text; lows/highs None for a column with no
    value. Raises ValueError for a CSV that is not the report's."""
    names = None
    t0 = t1 = None
    lows = highs = None
    for line in _lines(csv):
        cells = line.split(",")
        if names is None:
            if cells[0] != "time_utc":
                raise ValueError("chart: the CSV must start with time_utc")
            names = cells[1:]
            lows = [None] * len(names)
            highs = [None] * len(names)
            continue
        t = parse_time(cells[0])
        if t0 is None:
            t0 = t
        t1 = t
        for i in range(len(names)):
            v = _cell(cells, i + 1)
            if v is not None:
                if lows[i] is None or v < lows[i]:
                    lows[i] = v
                if highs[i] is None or v > highs[i]:
                    highs[i] = v
    if names is None:
        raise ValueError("chart: empty CSV")
    return names, t0, t1, lows, highs


class Plot:
    # the pixels of one column's chart, computed when its first row is asked for
    def __init__(self, *a):
        self.a = a          # csv, column, first and last time, lowest and highest value
        self.top = None     # top[x]..bottom[x]: the rows the line covers in column x (255: none)
        self.bottom = None

    def fill_row(self, y, buf):
        if y == 0:
            self._draw()
        top = self.top
        bottom = self.bottom
        for i in range(len(buf)):
            buf[i] = 0
        for x in range(WIDTH):
            t = top[x]
            if t != 255 and t <= y <= bottom[x]:
                c = 2       # the line
            elif y == HEIGHT - 1 or x == 0:
                c = 3       # the axes
            elif y == 0 or y == HEIGHT // 2 or x % (WIDTH // 4) == 0:
                c = 1       # the grid
            else:
                continue    # white
            buf[x >> 2] |= c << (6 - 2 * (x & 3))
        if y == HEIGHT - 1:
            self.top = self.bottom = None   # the image is written: give the heap back

    def _draw(self):
        csv, col, t0, t1, lo, hi = self.a
        top = self.top = bytearray(b"\xff" * WIDTH)
        bottom = self.bottom = bytearray(b"\xff" * WIDTH)
        h = HEIGHT - 1
        last = None
        first = True
        for line in _lines(csv):
            if first:
                first = False
                continue
            cells = line.split(",")
            v = _cell(cells, col + 1)
            if v is None:
                last = None     # a gap: the line breaks
                continue
            x = (parse_time(cells[0]) - t0) * (WIDTH - 1) // (t1 - t0) if t1 > t0 else 0
            y = h // 2 if hi <= lo else min(h, max(0, h - int((v - lo) * h / (hi - lo) + 0.5)))
            x0, y0 = (x, y) if last is None else last
            if x < x0:
                x = x0
            # each column covers the line from halfway to its left neighbour to halfway to its
            # right one
            prev = y0
            for c in range(x0, x + 1):
                nxt = y0 + (y - y0) * (2 * (c - x0) + 1) // (2 * (x - x0)) if c < x else y
                ya, yb = (prev, nxt) if prev <= nxt else (nxt, prev)
                if top[c] == 255 or ya < top[c]:
                    top[c] = ya
                if bottom[c] == 255 or yb > bottom[c]:
                    bottom[c] = yb
                prev = nxt
            last = (x, y)

    def png(self, compress=None):
        return Png(WIDTH, HEIGHT, 2, PALETTE, self.fill_row, compress)


def plots(csv):
    """[(name, lo, hi, Plot)] for each CSV column that has a value."""
    names, t0, t1, lows, highs = scan(csv)
    out = []
    for i in range(len(names)):
        if lows[i] is not None:
            out.append((names[i], lows[i], highs[i], Plot(csv, i, t0, t1, lows[i], highs[i])))
    return out


def write(csv, base):
    """Each column's chart as a PNG file on flash, base + ".c0", ".c1", ... (the SMTP step's
    first part: the writer then reads them back, this module unloaded). -> [(name, lo, hi,
    path)]; [] for a CSV the chart cannot read."""
    try:
        items = plots(csv)
    except ValueError:
        return []
    out = []
    for i in range(len(items)):
        name, lo, hi, plot = items[i]
        items[i] = None     # the plot goes once its image is on flash
        path = base + ".c" + str(i)
        img = plot.png()
        plot = None
        with open(path, "wb") as f:
            while True:
                b = img.read(512)   # one PNG chunk at a time
                if not b:
                    break
                f.write(b)
        img = None
        out.append((name, lo, hi, path))
    return out
