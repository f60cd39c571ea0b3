# What a report's email has beyond an alert's (lib/outpost_contract/mail.py, the same message the
# gateway would make): its CSV attached and its charts inline, shown by an HTML version of the
# body. Loaded for a report only. The SMTP step (smtp_path) writes the charts to flash first,
# with only the chart code loaded, and the writer reads them back as it streams the message:
# the chart code and the writer never share the heap, and neither shares it with usmtp's client.
from outpost_contract.rules import iso


def add(m, rec, csv, charts=None):
    """Adds a report's CSV to usmtp's Message m (outpost_contract.mail.message), and its charts:
    [(name, lo, hi, png)], png a file-like object (an open file on flash, or an outpost.png.Png),
    one inline image per sensor, shown by an HTML version of the body."""
    if charts:
        refs = []
        for i in range(len(charts)):
            name, lo, hi, png = charts[i]
            cid = "chart" + str(i) + "." + rec["id"] + "@outpost"
            m.inline(cid, png, "image/png", name + ".png")
            refs.append((name, lo, hi, cid))
        m.set_html(html(m.body, refs))
    m.attach(rec["device"] + "-" + iso(rec.get("ts") or 0)[:10] + ".csv", csv, "text/csv")


def _esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _num(v):
    s = "%.2f" % v
    return s.rstrip("0").rstrip(".") if "." in s else s


def html(text, refs, width=240, height=64):
    """The report as HTML: its text, then each chart (refs: [(name, lo, hi, cid)]); the
    size is outpost.chart's WIDTH and HEIGHT (not imported: that module is not loaded here)."""
    out = ["<!DOCTYPE html><html><body>", "<pre>" + _esc(text) + "</pre>"]
    for name, lo, hi, cid in refs:
        out.append("<h3>" + _esc(name) + "</h3><p>" + _num(lo) + " to " + _num(hi) + "</p>")
        out.append('<img src="cid:' + cid + '" alt="' + _esc(name) + ' over the period" width="' +
                   str(width) + '" height="' + str(height) + '">')
    out.append("</body></html>")
    return "\n".join(out) + "\n"
