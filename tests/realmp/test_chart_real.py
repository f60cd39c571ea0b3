"""The report chart on the real MicroPython unix port: the PNG writer from the deployed .mpy
files in a board-sized heap, decoded by Pillow; and a real board mailing its report with the
charts inline over STARTTLS."""
import email
import email.policy
import os
import subprocess
import sys

from peers.smtpd import MailServer
from realboard import MICROPYTHON, RealBoard, heap_for, layout
from test_board_real import board_config, starttls_auth

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "firmware"))
import chart_case  # noqa: E402


def test_png_from_the_deployed_mpy_in_a_128k_heap_decodes_with_pillow(tmp_path):
    fs = str(tmp_path / "flash")
    layout(fs, board_config())
    (tmp_path / "case.py").write_text(chart_case.snippet())
    env = dict(os.environ, MICROPYPATH=":.frozen:lib")
    out = subprocess.run([MICROPYTHON, "-X", "heapsize=128k", str(tmp_path / "case.py")],
                         cwd=fs, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr
    # this build of the unix port only decompresses: the stored-block path wrote the image
    assert "COMPRESS False" in out.stdout
    chart_case.check_pixels(chart_case.png_from_output(out.stdout))


def test_board_mails_its_report_with_inline_charts(tmp_path):
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True) as srv:
        cfg = board_config(smtp=starttls_auth(srv), order=("smtp",))
        cfg["report"] = {"at": "", "every": 8, "csv_every": 1}
        cfg["rules"] = []
        with RealBoard(tmp_path, cfg) as b:
            b.start()
            b.wait_for("sent unix1-1-1 via smtp", timeout=90)
            m = srv.wait_for(1)[0]
            msg = email.message_from_bytes(m.data, policy=email.policy.default)
            assert msg["X-Outpost-Kind"] == "report"
            kinds = [p.get_content_type() for p in msg.walk()]
            assert kinds == ["multipart/mixed", "multipart/alternative", "text/plain",
                             "multipart/related", "text/html", "image/png", "text/csv"], kinds
            img = [p for p in msg.walk() if p.get_content_type() == "image/png"][0]
            html = [p for p in msg.walk() if p.get_content_type() == "text/html"][0].get_content()
            assert 'src="cid:' + img["Content-ID"].strip("<>") + '"' in html
            import io
            from PIL import Image
            im = Image.open(io.BytesIO(img.get_content()))
            im.load()
            assert im.size == (240, 64) and im.mode == "P"
            # the door stayed closed (0) all period: one flat line through the middle row
            rgb = im.convert("RGB")
            line = chart_case.PALETTE_RGB[2]
            assert all(rgb.getpixel((x, 31)) == line for x in range(240))
            assert b.count("WDT: bit") == 0


# The SMTP step writes each chart to flash with only the chart code loaded, then the message
# with the writer reading them back: the charts never share the heap with the writer or the
# client, so they need no more heap than the report without them. In a send wake the report
# goes with three charts at 128k (124k: the app itself cannot journal the report for the send
# wake; before the charts went to flash in parts, 128k shed them)
CHARTS_SEND_WAKE_KB = 128


def test_in_a_send_wake_three_charts_fit_where_the_report_does(tmp_path):
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True) as srv:
        cfg = board_config(smtp=starttls_auth(srv, send_wake_below=1 << 20), order=("smtp",))
        cfg["sensors"] = [{"name": n, "type": "digital", "pin": p}
                          for n, p in (("door", 27), ("float", 26), ("lid", 25))]
        cfg["report"] = {"at": "", "every": 6, "csv_every": 1}
        cfg["rules"] = []
        with RealBoard(tmp_path, cfg, heapsize=heap_for(CHARTS_SEND_WAKE_KB)) as b:
            b.start()
            b.wait_for("sent unix1-1-1 via smtp", timeout=60)
            m = srv.wait_for(1)[0]
            kinds = [p.get_content_type() for p in m.parsed().walk()]
            assert kinds.count("image/png") == 3 and kinds[-1] == "text/csv", kinds
            assert b.count("without them") == 0
            assert b.count("machine.reset()") == 0 and b.count("Traceback") == 0
            # the chart files went once the message was written
            assert not [f for f in os.listdir(b.fs) if f.startswith("mail.out")]
