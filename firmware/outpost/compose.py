# What a report's email has beyond an alert's (lib/outpost_contract/mail.py, the same message the
# gateway would make): its CSV attached and its charts inline, shown by an HTML version of the
# body. Loaded for a report only. The SMTP step (smtp_path) writes the charts to flash first,
# with only the chart code loaded, and the writer reads them back as it streams the message:
# the chart code and the writer never share the heap, and neither shares it with usmtp's client.
#
# Few names: each one a module holds stays interned in the heap for the rest of the wake, and a
# wake that passes the interned-name pool's size (1260 names on the 64-bit unix port) needs one
# more large block for it, which a heap split by the app's leftovers seldom has (bench/board_heap.py).
# So the HTML is long string templates, and the escapes one string split at run time.
from outpost_contract.rules import iso

# the escapes (& first), and a chart's HTML in outpost.chart's size (that module is not loaded)
_T = ("&&amp; <&lt; >&gt; \"&quot;",
      '<h3>%s</h3><p>%s to %s</p>\n<img src="cid:%s" alt="%s over the period" width="240"'
      ' height="64">\n')


def add(m, rec, csv, charts=None):
    """Adds a report's CSV to usmtp's Message m (outpost_contract.mail.message), and its charts:
    [(name, lo, hi, png)], png a file-like object (an open file on flash, or an outpost.png.Png),
    one inline image per sensor, shown by an HTML version of the body."""
    if charts:
        from outpost_contract.mail import _num
        h = "<!DOCTYPE html><html><body>\n<pre>" + _esc(m.body) + "</pre>\n"
        for i in range(len(charts)):
            name, lo, hi, png = charts[i]
            cid = "chart%d.%s@outpost" % (i, rec["id"])
            m.inline(cid, png, "image/png", name + ".png")
            h += _T[1] % (_esc(name), _num(lo), _num(hi), cid, _esc(name))
        m.set_html(h + "</body></html>\n")
    m.attach(rec["device"] + "-" + iso(rec.get("ts") or 0)[:10] + ".csv", csv, "text/csv")


def _esc(s):
    for e in _T[0].split():
        s = s.replace(e[0], e[1:])
    return s
