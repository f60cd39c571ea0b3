"""One chart case for every runtime: the same CSV, the PNG written by chart.py wherever it runs,
printed as hex between markers, and the pixels a real decoder must find in it."""
import binascii
import math
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PALETTE_RGB = {0: (255, 255, 255), 1: (221, 221, 221), 2: (33, 102, 172), 3: (96, 96, 96)}

# a day of a freezer: -18 C with one defrost bump to -6 C between 06:00 and 08:00, and a gap
# (sensor missing) from 20:00 to 21:00
T0 = 1795824000


def csv_text():
    lines = ["time_utc,freezer.temperature"]
    for i in range(0, 24 * 12 + 1):
        t = T0 + i * 300
        h = i / 12
        if 20 <= h < 21:
            v = ""
        elif 6 <= h <= 8:
            v = "%.2f" % (-18 + 12 * math.sin((h - 6) / 2 * math.pi))
        else:
            v = "-18.00"
        iso = "2026-11-%02dT%02d:%02d:00Z" % (28 + i // 288, (i // 12) % 24, (i % 12) * 5)
        lines.append(iso + "," + v)
    return "\r\n".join(lines) + "\r\n"


# Python that runs on MicroPython (unix or WebAssembly) and CPython alike
SNIPPET = """
import binascii
from outpost import chart, png
csv = %r
plot = chart.plots(csv)[0][3]
img = plot.png(%s)
out = []
while True:
    d = img.read(512)
    if not d:
        break
    out.append(binascii.hexlify(d).decode())
print("COMPRESS", png.can_compress())
print("PNG-BEGIN")
print("".join(out))
print("PNG-END")
"""


def snippet(compress=None):
    return SNIPPET % (csv_text(), compress)


def png_from_output(text):
    m = re.search(r"PNG-BEGIN\s+([0-9a-f]+)\s+PNG-END", text)
    if not m:
        raise AssertionError("no PNG in the output:\n" + text[-2000:])
    return binascii.unhexlify(m.group(1))


def check_pixels(data):
    """Decode with Pillow and check what a person would see."""
    import io
    from PIL import Image
    im = Image.open(io.BytesIO(data))
    im.load()
    assert im.format == "PNG" and im.size == (240, 64) and im.mode == "P"
    rgb = im.convert("RGB")
    w, h = im.size
    line = PALETTE_RGB[2]
    cols = {x: [y for y in range(h) if rgb.getpixel((x, y)) == line] for x in range(w)}
    x_of = lambda hours: round(hours / 24 * (w - 1))
    # the flat -18 C runs along the bottom (the day's lowest value)
    for hrs in (1, 3, 12, 18):
        assert cols[x_of(hrs)] == [h - 1], (hrs, cols[x_of(hrs)])
    # the defrost peak (-6 C, the day's highest) reaches the top row around 07:00
    peak = [x for x in range(w) if 0 in cols[x]]
    assert peak and abs(sum(peak) / len(peak) - x_of(7)) <= 2, peak
    # the sensor gap leaves no line between 20:00 and 21:00
    for x in range(x_of(20) + 1, x_of(21)):
        assert cols[x] == [], (x, cols[x])
    # background, axis and grid colours where nothing is drawn
    assert rgb.getpixel((100, 20)) == PALETTE_RGB[0]
    assert rgb.getpixel((0, 20)) == PALETTE_RGB[3]
    assert rgb.getpixel((60, 20)) == PALETTE_RGB[1]
    return im


def message(rec, csv, mail_cfg, chart=False):
    """The report's email as the SMTP step composes it (outpost_contract.mail, outpost.compose),
    with the charts drawn in memory as the writer reads them instead of from flash
    (smtp_path.SmtpPath._write; tests/firmware/test_send_wake.py goes through flash)."""
    from outpost import chart as charts
    from outpost import compose
    from outpost_contract import mail
    m = mail.message(rec, mail_cfg["sender"], rec.get("to") or mail_cfg["to"],
                     mail_cfg.get("subject_prefix", ""))
    if csv:
        items = None
        if chart and rec["kind"] == "report":
            try:
                items = [(n, lo, hi, p.png()) for n, lo, hi, p in charts.plots(csv)]
            except ValueError:
                items = None
        compose.add(m, rec, csv, items)
    return m
