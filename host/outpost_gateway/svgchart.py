# One reading over a time span as a small SVG line chart, drawn on the server (no script, no
# library, nothing fetched): the page shows it as an image. Many points are thinned to the
# lowest and highest value per pixel column, so a spike stays visible.
from xml.sax.saxutils import escape

from outpost_contract import rules

W, H = 600, 160
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 18, 22


def _fmt(v):
    s = "%.2f" % v
    return s.rstrip("0").rstrip(".") if "." in s else s


def thin(points, t0, t1, columns):
    # -> [(t, v)] with at most 2 points per column, in time order
    if len(points) <= 2 * columns:
        return list(points)
    span = (t1 - t0) or 1.0
    cols = {}
    for t, v in points:
        c = int((t - t0) / span * (columns - 1))
        lo_hi = cols.get(c)
        if lo_hi is None:
            cols[c] = [(t, v), (t, v)]
        else:
            if v < lo_hi[0][1]:
                lo_hi[0] = (t, v)
            if v > lo_hi[1][1]:
                lo_hi[1] = (t, v)
    out = []
    for c in sorted(cols):
        a, b = sorted(cols[c])
        out.append(a)
        if b != a:
            out.append(b)
    return out


def render(points, t0, t1, title):
    # points: [(t, value)] in time order, t in UTC seconds
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d"'
             ' font-family="sans-serif" font-size="11">' % (W, H, W, H),
             '<title>%s</title>' % escape(title),
             '<rect x="%d" y="%d" width="%d" height="%d" fill="#fff" stroke="#ccc"/>' % (LEFT, TOP, pw, ph)]
    # time ticks every 6 hours (UTC)
    step = 6 * 3600
    t = (int(t0) // step + 1) * step
    while t < t1:
        x = LEFT + (t - t0) / (t1 - t0) * pw
        parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#eee"/>' % (x, TOP, x, TOP + ph))
        parts.append('<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%s</text>'
                     % (x, H - 6, rules.iso(t)[11:16]))
        t += step
    if not points:
        parts.append('<text x="%d" y="%d" text-anchor="middle" fill="#999" class="empty">no readings'
                     ' in the last 24 h</text>' % (LEFT + pw // 2, TOP + ph // 2))
        parts.append("</svg>")
        return "".join(parts)
    pts = thin(points, t0, t1, pw)
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    if hi == lo:
        lo, hi = lo - 1, hi + 1
    pad = (hi - lo) * 0.08
    lo, hi = lo - pad, hi + pad

    def xy(t, v):
        return LEFT + (t - t0) / (t1 - t0) * pw, TOP + (hi - v) / (hi - lo) * ph

    vmin = min(v for _, v in points)
    vmax = max(v for _, v in points)
    for v in (vmin, vmax):
        y = xy(t0, v)[1]
        parts.append('<text x="%d" y="%.1f" text-anchor="end" fill="#333">%s</text>' % (LEFT - 4, y + 4, _fmt(v)))
    coords = " ".join("%.1f,%.1f" % xy(t, v) for t, v in pts)
    parts.append('<polyline fill="none" stroke="#1f6fb2" stroke-width="1.5" points="%s"/>' % coords)
    lt, lv = points[-1]
    x, y = xy(lt, lv)
    parts.append('<circle cx="%.1f" cy="%.1f" r="3" fill="#1f6fb2"/>' % (x, y))
    parts.append('<text x="%d" y="12" fill="#333" class="latest">latest %s, min %s, max %s, %d readings</text>'
                 % (LEFT, _fmt(lv), _fmt(vmin), _fmt(vmax), len(points)))
    parts.append("</svg>")
    return "".join(parts)
