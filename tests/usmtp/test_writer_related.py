# lane: micropython
# The writer's HTML body and inline parts: multipart/alternative (text, then HTML) holding
# multipart/related (HTML, then the parts it shows by cid:), inside multipart/mixed when there
# are attachments; every part streamed, repeatable for a retry, header values checked.
import binascii

from tinytest import raises
from usmtp.errors import SMTPUsageError
from usmtp.writer import Message


class Source:
    # a file-like source made on demand, seekable back to the start like the chart's PNG
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def read(self, n=-1):
        piece = self.data[self.pos:self.pos + 100]
        self.pos += len(piece)
        return piece

    def tell(self):
        return 0

    def seek(self, pos, whence=0):
        self.pos = pos


def msg():
    return Message("board@example.com", "ops@example.org", "Report", "plain text\n",
                   date=1795870110, message_id="<r-1-1@example.com>")


def section(data, boundary):
    # the parts between --boundary lines (without the preamble and the closing delimiter)
    close = b"\r\n--" + boundary + b"--\r\n"
    assert data.count(close) == 1, "no closing delimiter for " + str(boundary)
    inner = data.split(close)[0]
    parts = inner.split(b"\r\n--" + boundary + b"\r\n")
    return parts[1:]


def nested(m, kind):
    return ("=_outpost_" + kind + "_" + m.boundary[len("=_outpost_"):]).encode()


def split(part):
    head, _, body = part.partition(b"\r\n\r\n")
    return head, body


def test_html_and_inline_nest_inside_mixed():
    m = msg()
    img = bytes(range(256)) * 3
    m.inline("chart0.r-1-1@outpost", Source(img), "image/png", "t.png")
    m.set_html('<p>see</p><img src="cid:chart0.r-1-1@outpost">\n')
    m.attach("d.csv", "a,b\r\n1,2\r\n", "text/csv")
    data = b"".join(m.chunks(200))
    top = m.boundary.encode()
    assert b'Content-Type: multipart/mixed; boundary="' + top + b'"' in data
    mixed = section(b"\r\n" + data.split(b"\r\n\r\n", 1)[1], top)
    assert len(mixed) == 2
    # no delimiter starts with another one (a parser may match them by prefix)
    for a in (top, nested(m, "alt"), nested(m, "rel")):
        for b in (top, nested(m, "alt"), nested(m, "rel")):
            assert a == b or not a.startswith(b)
    head, body = split(mixed[0])
    assert b"multipart/alternative" in head
    alt = section(b"\r\n" + body, nested(m, "alt"))
    assert len(alt) == 2
    assert alt[0].startswith(b"Content-Type: text/plain; charset=utf-8")
    head, body = split(alt[1])
    assert b"multipart/related" in head and b'type="text/html"' in head
    rel = section(b"\r\n" + body, nested(m, "rel"))
    assert len(rel) == 2
    h, html = split(rel[0])
    assert b"text/html" in h and b"quoted-printable" in h
    assert b"cid:chart0.r-1-1@outpost" in html.replace(b"=\r\n", b"")
    h, b64 = split(rel[1])
    assert b"Content-ID: <chart0.r-1-1@outpost>" in h
    assert b"Content-Disposition: inline; filename=\"t.png\"" in h
    assert binascii.a2b_base64(b64.replace(b"\r\n", b"")) == img
    h, csv = split(mixed[1])
    assert b"attachment" in h and binascii.a2b_base64(csv.replace(b"\r\n", b"")) == b"a,b\r\n1,2\r\n"


def test_html_without_attachments_is_alternative_at_the_top():
    m = msg()
    m.set_html("<p>hi</p>\n")
    data = m.as_bytes()
    head = data.split(b"\r\n\r\n", 1)[0]
    assert b"Content-Type: multipart/alternative" in head
    assert b"multipart/related" not in data and b"multipart/mixed" not in data


def test_a_retry_writes_the_same_bytes_from_a_seekable_source():
    m = msg()
    m.inline("c@x", Source(b"\x89PNG" * 300), "image/png")
    m.set_html('<img src="cid:c@x">')
    assert m.as_bytes() == m.as_bytes()


def test_plain_messages_are_unchanged():
    # no HTML, no inline part: text/plain alone, as before
    data = msg().as_bytes()
    assert b"Content-Type: text/plain; charset=utf-8" in data and b"multipart" not in data


def test_bad_inline_parts_are_refused():
    m = msg()
    raises(SMTPUsageError, lambda: m.inline("no-at-sign", b"x", "image/png"))
    raises(SMTPUsageError, lambda: m.inline("a@b\r\nBcc: x@y", b"x", "image/png"))
    raises(SMTPUsageError, lambda: m.inline("a@b", b"x", "image/png", "x\r\n.png"))
    raises(SMTPUsageError, lambda: m.inline("a@b", b"x", "image/png\r\nX: y"))
    raises(SMTPUsageError, lambda: m.inline("a@b", 42, "image/png"))
    raises(SMTPUsageError, lambda: m.set_html(42))
    m.inline("a@b", b"x", "image/png")
    raises(SMTPUsageError, lambda: m.as_bytes())       # an inline part no HTML shows
