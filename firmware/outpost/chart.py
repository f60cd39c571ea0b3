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
WHITE, GRID, LINE, AXIS = 0, 1, 2, 3
PALETTE = ((255, 255, 255), (221, 221, 221), (33, 102, 172), (96, 96, 96))
EMPTY = 255


def _days(y, m, d):
    # days since 1970-01-01 of a Gregorian date (the inverse of usmtp.clock.civil)
    if m <= 2:
        y -= 1
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def parse_time(s):
    # "2026-11-28T12:45:21Z" (outpost_contract.rules.iso) -> UTC seconds; ValueError otherwise
    if len(s) != 20 or s[4] != "-" or s[10] != "T" or s[19] != "Z":
        raise ValueError("not an ISO time: " + s)
    return (_days(int(s[0:4]), int(s[5:7]), int(s[8:10])) * 86400 + int(s[11:13]) * 3600 +
            int(s[14:16]) * 60 + int(s[17:19]))


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


def _cell(cells, i):
    if i >= len(cells) or not cells[i]:
        return None
    try:
        return float(cells[i])
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
    def __init__(self, csv, col, t0, t1, lo, hi, width=WIDTH, height=HEIGHT):
        self.csv = csv
        self.col = col
        self.t0 = t0
        self.t1 = t1
        self.lo = lo
        self.hi = hi
        self.width = width
        self.height = height
        self.top = None     # top[x]..bottom[x]: the rows the line covers in column x
        self.bottom = None

    def x_of(self, t):
        span = self.t1 - self.t0
        if span <= 0:
            return 0
        return (t - self.t0) * (self.width - 1) // span

    def y_of(self, v):
        h = self.height - 1
        if self.hi <= self.lo:
            return h // 2
        y = h - int((v - self.lo) * h / (self.hi - self.lo) + 0.5)
        return min(h, max(0, y))

    def _mark(self, x, ya, yb):
        if ya > yb:
            ya, yb = yb, ya
        if self.top[x] == EMPTY or ya < self.top[x]:
            self.top[x] = ya
        if self.bottom[x] == EMPTY or yb > self.bottom[x]:
            self.bottom[x] = yb

    def _segment(self, x0, y0, x1, y1):
        if x1 <= x0:
            self._mark(x0, y0, y1)
            return
        # each column covers the line from halfway to its left neighbour to halfway to its right
        prev = y0
        for x in range(x0, x1 + 1):
            nxt = y0 + (y1 - y0) * (2 * (x - x0) + 1) // (2 * (x1 - x0)) if x < x1 else y1
            self._mark(x, prev, nxt)
            prev = nxt

    def draw(self):
        self.top = bytearray(self.width)
        self.bottom = bytearray(self.width)
        for i in range(self.width):
            self.top[i] = EMPTY
            self.bottom[i] = EMPTY
        last = None
        first = True
        for line in _lines(self.csv):
            if first:
                first = False
                continue
            cells = line.split(",")
            v = _cell(cells, self.col + 1)
            if v is None:
                last = None     # a gap: the line breaks
                continue
            p = (self.x_of(parse_time(cells[0])), self.y_of(v))
            if last is None:
                self._mark(p[0], p[1], p[1])
            else:
                self._segment(last[0], last[1], p[0], p[1])
            last = p

    def pixel(self, x, y):
        t = self.top[x]
        if t != EMPTY and t <= y <= self.bottom[x]:
            return LINE
        if y == self.height - 1 or x == 0:
            return AXIS
        if y == 0 or y == self.height // 2 or x % (self.width // 4) == 0:
            return GRID
        return WHITE

    def fill_row(self, y, buf):
        if y == 0:
            self.draw()
        for i in range(len(buf)):
            buf[i] = 0
        for x in range(self.width):
            c = self.pixel(x, y)
            if c:
                buf[x >> 2] |= c << (6 - 2 * (x & 3))
        if y == self.height - 1:
            self.top = self.bottom = None   # the image is written: give the heap back

    def png(self, compress=None):
        return Png(self.width, self.height, 2, PALETTE, self.fill_row, compress)


def plots(csv, width=WIDTH, height=HEIGHT):
    """[(name, lo, hi, Plot)] for each CSV column that has a value."""
    names, t0, t1, lows, highs = scan(csv)
    out = []
    for i in range(len(names)):
        if lows[i] is not None:
            out.append((names[i], lows[i], highs[i],
                        Plot(csv, i, t0, t1, lows[i], highs[i], width, height)))
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
