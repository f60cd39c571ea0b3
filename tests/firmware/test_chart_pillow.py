"""The report chart decoded by a real PNG decoder (Pillow): written on CPython (stored blocks)
and on the MicroPython WebAssembly VM (compressed by deflate.DeflateIO), and the report email
that carries the charts inline (multipart/related, cid:) with the CSV still attached.
The unix MicroPython's PNG is checked in tests/realmp/test_chart_real.py."""
import email
import email.policy
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chart_case  # noqa: E402

ROOT = chart_case.ROOT
sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "lib")]
from outpost import alerts, chart, png  # noqa: E402

EXEC = os.path.join(ROOT, "tests", "mpvm", "exec.mjs")


def test_cpython_png_decodes_with_pillow():
    img = chart.plots(chart_case.csv_text())[0][3].png()
    assert img.compress is False    # CPython has no `deflate`: stored blocks
    chart_case.check_pixels(b"".join(iter(lambda: img.read(512), b"")))


def test_webassembly_vm_png_is_compressed_and_decodes_with_pillow(tmp_path):
    node = shutil.which("node")
    assert node, "node is needed for the MicroPython VM (make setup)"
    src = tmp_path / "case.py"
    src.write_text(chart_case.snippet())
    out = subprocess.run([node, EXEC, str(src)], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "COMPRESS True" in out.stdout        # this port compresses: the DeflateIO path ran
    data = chart_case.png_from_output(out.stdout)
    chart_case.check_pixels(data)
    stored = chart.plots(chart_case.csv_text())[0][3].png(False)
    assert len(data) * 4 < len(b"".join(iter(lambda: stored.read(512), b"")))


def report_record():
    return {"v": 1, "id": "shed-3-7", "device": "shed", "severity": "info", "kind": "report",
            "subject": "shed report 2026-11-28", "ts": chart_case.T0 + 86400,
            "body": "shed report from 2026-11-28T00:00:00Z to 2026-11-29T00:00:00Z\n"}


MAIL = {"sender": "shed@example.org", "to": ["me@example.org"], "subject_prefix": "[outpost] "}


def test_report_mail_shows_charts_inline_and_keeps_the_csv():
    csv = chart_case.csv_text().replace("time_utc,freezer.temperature",
                                        "time_utc,freezer.temperature,door")
    csv = "\r\n".join(l + ("," if i else "") + ("1" if i == 10 else ("0" if i else ""))
                      for i, l in enumerate(csv.split("\r\n")[:-1])) + "\r\n"
    m = chart_case.message(report_record(), csv, MAIL, chart=True)
    msg = email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    alt, att = msg.get_payload()
    assert alt.get_content_type() == "multipart/alternative"
    plain, related = alt.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert "shed report from" in plain.get_content()
    assert related.get_content_type() == "multipart/related"
    assert related.get_param("type") == "text/html"
    html = related.get_payload()[0]
    images = related.get_payload()[1:]
    assert html.get_content_type() == "text/html"
    text = html.get_content()
    assert "shed report from" in text
    assert [i.get_content_type() for i in images] == ["image/png", "image/png"]
    for img, name in zip(images, ("freezer.temperature", "door")):
        cid = img["Content-ID"].strip("<>")
        assert 'src="cid:' + cid + '"' in text
        assert img.get_content_disposition() == "inline"
        assert img.get_filename() == name + ".png"
    chart_case.check_pixels(images[0].get_content())
    from PIL import Image
    import io
    door = Image.open(io.BytesIO(images[1].get_content())).convert("RGB")
    top = [x for x in range(240) if door.getpixel((x, 0)) == chart_case.PALETTE_RGB[2]]
    assert top and abs(sum(top) / len(top) - 9 / 288 * 239) <= 2     # the one "open" sample
    assert att.get_content_type() == "text/csv" and att.get_filename() == "shed-2026-11-29.csv"
    assert att.get_content().replace("\r\n", "\n") == csv.replace("\r\n", "\n")


def test_report_without_chart_is_text_and_csv_only():
    m = chart_case.message(report_record(), chart_case.csv_text(), MAIL, chart=False)
    msg = email.message_from_bytes(m.as_bytes(), policy=email.policy.default)
    assert [p.get_content_type() for p in msg.get_payload()] == ["text/plain", "text/csv"]
    assert m.html is None and m.inlines == []


def test_alert_mail_never_gets_a_chart():
    rec = dict(report_record(), kind="threshold", severity="warning", subject="cold")
    m = chart_case.message(rec, None, MAIL, chart=True)
    assert m.inlines == [] and m.html is None


def test_mail_retry_writes_the_same_bytes():
    m = chart_case.message(report_record(), chart_case.csv_text(), MAIL, chart=True)
    assert m.as_bytes() == m.as_bytes()


def test_inline_without_html_is_refused():
    from usmtp.writer import Message
    from usmtp.errors import SMTPUsageError
    m = Message("a@example.org", "b@example.org", "s", "t\n", date=chart_case.T0)
    m.inline("x@y", b"\x89PNG", "image/png")
    with pytest.raises(SMTPUsageError, match="HTML"):
        m.as_bytes()
    with pytest.raises(SMTPUsageError, match="Content-ID"):
        m.inline("bad\r\nX: y@z", b"", "image/png")
