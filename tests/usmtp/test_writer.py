# lane: micropython
# The streaming message writer: structure, headers, encoded words, bodies, attachments,
# header-injection refusal, Bcc only in the envelope.
import binascii
import io

import usmtp.writer as me
from usmtp.errors import SMTPUsageError
from usmtp.clock import now
from usmtp.writer import Message, make_message_id
from tinytest import raises
from test_mimeenc import decode_word, qp_decode

DATE = 1795870110           # Sat, 28 Nov 2026 12:48:30 +0000
MID = "<gh-1-2@example.com>"


def msg(**kw):
    args = {"sender": "Outpost <board@example.com>", "to": "ops@example.org",
            "subject": "Frost alert", "body": "It is cold.\n", "date": DATE, "message_id": MID}
    for k in kw:
        args[k] = kw[k]
    return Message(**args)


def split(data):
    head, _, body = data.partition(b"\r\n\r\n")
    return head + b"\r\n", body


def headers(data):
    # -> list of (name, unfolded value); checks every header line's length and line ends
    head, _ = split(data)
    out = []
    for line in head.split(b"\r\n")[:-1]:
        assert len(line) <= 78 or b" " not in line.strip(), line
        assert b"\r" not in line and b"\n" not in line
        if line.startswith(b" ") or line.startswith(b"\t"):
            name, value = out[-1]
            out[-1] = (name, value + str(line, "utf-8"))
        else:
            name, _, value = str(line, "utf-8").partition(":")
            out.append((name, value[1:]))
    return out


def header(data, name):
    vals = [v for n, v in headers(data) if n.lower() == name.lower()]
    assert len(vals) == 1, (name, vals)
    return vals[0]


def decode_value(v):
    # decode a header value made of encoded words (and plain words)
    raw = b""
    prev_enc = False
    for w in v.split(" "):
        if w.startswith("=?") and w.endswith("?="):
            raw += decode_word(w)
            prev_enc = True
        else:
            if raw:
                raw += b" "
            raw += w.encode()
            prev_enc = False
    return str(raw, "utf-8")


def test_single_part_message_exact():
    data = msg().as_bytes()
    assert data == (b"From: Outpost <board@example.com>\r\n"
                    b"To: ops@example.org\r\n"
                    b"Subject: Frost alert\r\n"
                    b"Date: Sat, 28 Nov 2026 12:48:30 +0000\r\n"
                    b"Message-ID: <gh-1-2@example.com>\r\n"
                    b"MIME-Version: 1.0\r\n"
                    b"Content-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Transfer-Encoding: quoted-printable\r\n"
                    b"\r\n"
                    b"It is cold.\r\n")
    assert b"".join(msg().chunks()) == data
    assert b"".join(iter(msg())) == data


def test_bcc_only_in_the_envelope():
    m = msg(to=["a@example.org", "B <b@example.org>"], cc=("C", "c@example.net"),
            bcc=["hidden@example.com", "a@example.org"])
    data = m.as_bytes()
    assert b"hidden" not in data and b"Bcc" not in data
    assert header(data, "To") == "a@example.org, B <b@example.org>"
    assert header(data, "Cc") == "C <c@example.net>"
    assert m.recipients() == ["a@example.org", "b@example.org", "c@example.net", "hidden@example.com"]


def test_only_bcc_gives_undisclosed_recipients():
    m = msg(to=None, bcc="x@example.com")
    assert header(m.as_bytes(), "To") == "undisclosed-recipients:;"
    assert m.recipients() == ["x@example.com"]
    raises(SMTPUsageError, msg, to=[])


def test_tuple_of_two_addresses_is_not_a_mailbox():
    e = raises(SMTPUsageError, msg, to=("a@example.com", "b@example.com"))
    assert "list" in str(e) and "To" in str(e)
    m = msg(to=["a@example.com", "b@example.com"])
    assert m.recipients() == ["a@example.com", "b@example.com"]


def test_address_forms():
    forms = [
        ("a@example.com", "a@example.com"),
        ("<a@example.com>", "a@example.com"),
        ("Alice <a@example.com>", "Alice <a@example.com>"),
        ('"Smith, J" <a@example.com>', '"Smith, J" <a@example.com>'),
        (("Smith, J", "a@example.com"), '"Smith, J" <a@example.com>'),
        (("", "a@example.com"), "a@example.com"),
        (("Say \"hi\"", "a@example.com"), '"Say \\"hi\\"" <a@example.com>'),
    ]
    for given, want in forms:
        assert header(msg(to=given).as_bytes(), "To") == want, given


def test_invalid_addresses_refused():
    for bad in ["nobody", "a@b@c", "@example.com", "a@", "a b@example.com", "a@exa mple.com",
                "<a@example.com", "Name <a@example.com> x", "a,b@example.com", "a@example.com;",
                42, ("a", "b", "c"), ("Name", "nobody")]:
        e = raises(SMTPUsageError, msg, to=bad)
        assert "To" in str(e), bad
    e = raises(SMTPUsageError, msg, sender="broken")
    assert "From" in str(e)
    e = raises(SMTPUsageError, msg, cc=["ok@example.com", "bad"])
    assert "Cc" in str(e)


def test_crlf_nul_injection_refused_naming_the_header():
    for ch in ("\r", "\n", "\r\n", "\0"):
        cases = [
            ("Subject", {"subject": "hi" + ch + "Bcc: victim@example.com"}),
            ("From", {"sender": "a@example.com" + ch + "X: y"}),
            ("From", {"sender": ("Eve" + ch + "Bcc: v@example.com", "a@example.com")}),
            ("To", {"to": "Bob" + ch + " <b@example.com>"}),
            ("To", {"to": ["ok@example.com", "b@example.com" + ch]}),
            ("Cc", {"cc": "c@example.com" + ch}),
            ("Bcc", {"bcc": ch + "c@example.com"}),
            ("Message-ID", {"message_id": "<a@b" + ch + ">"}),
            ("X-Tag", {"headers": {"X-Tag": "v" + ch + "Bcc: v@example.com"}}),
        ]
        for name, kw in cases:
            e = raises(SMTPUsageError, msg, **kw)
            assert name in str(e), (name, str(e))
    m = msg()
    e = raises(SMTPUsageError, m.attach, "a\r\nb.txt", b"x")
    assert "Content-Disposition" in str(e)
    e = raises(SMTPUsageError, m.attach, "a.txt", b"x", "text/plain\r\nX: y")
    assert "Content-Type" in str(e)


def test_extra_headers():
    data = msg(headers=[("Auto-Submitted", "auto-generated"), ("X-Outpost-Id", "gh-1-2"),
                        ("X-Note", "Température"), ("X-Long", "word " * 30)]).as_bytes()
    assert header(data, "Auto-Submitted") == "auto-generated"
    assert header(data, "X-Outpost-Id") == "gh-1-2"
    assert decode_value(header(data, "X-Note")) == "Température"
    assert header(data, "X-Long") == "word " * 30
    names = [n for n, v in headers(data)]
    assert names.index("X-Outpost-Id") < names.index("MIME-Version")
    for bad in ["Bad Name", "Bad:Name", "", "Ünicode"]:
        raises(SMTPUsageError, msg, headers={bad: "x"})
    for reserved in ["From", "bcc", "Subject", "MESSAGE-ID", "Content-Type", "MIME-Version"]:
        e = raises(SMTPUsageError, msg, headers={reserved: "x"})
        assert reserved in str(e)
    raises(SMTPUsageError, msg, headers={"X-A": 5})


def test_subject_encoded_words_at_every_split_point():
    for ch in ("é", "€", "😀", "ü "):
        for pad in range(0, 70, 3):
            subject = "x" * pad + ch * 40
            data = msg(subject=subject).as_bytes()
            v = header(data, "Subject")
            for w in v.split(" "):
                assert len(w) <= 75
            assert decode_value(v) == subject, (ch, pad)


def test_ascii_subject_folded_not_encoded():
    subject = "Greenhouse " * 20
    data = msg(subject=subject).as_bytes()
    assert b"=?" not in split(data)[0]
    assert header(data, "Subject") == subject
    assert header(msg(subject="").as_bytes(), "Subject") == ""


def test_display_name_encoded():
    data = msg(sender=("Jörg Müller", "j@example.com"),
               to=[("Ærøskøbing Gewächshaus Nummer drei mit einem langen Namen", "g@example.com"),
                   "plain@example.com"]).as_bytes()
    v = header(data, "From")
    assert v.endswith(" <j@example.com>")
    assert decode_value(v[:-len(" <j@example.com>")]) == "Jörg Müller"
    to = header(data, "To")
    first, _, second = to.partition(", ")
    assert second == "plain@example.com"
    assert first.endswith(" <g@example.com>")
    assert decode_value(first[:-len(" <g@example.com>")]) == \
        "Ærøskøbing Gewächshaus Nummer drei mit einem langen Namen"


def test_many_recipients_fold():
    to = ["user%02d@example.com" % i for i in range(30)]
    data = msg(to=to).as_bytes()
    assert header(data, "To") == ", ".join(to)
    assert split(data)[0].count(b"\r\n ") >= 5


def test_date_header():
    assert header(msg(date=0).as_bytes(), "Date") == "Thu, 01 Jan 1970 00:00:00 +0000"
    t0 = now()
    v = header(msg(date=None).as_bytes(), "Date")
    t1 = now()
    assert v in [me.format_date(t) for t in range(t0, t1 + 1)]
    assert t0 > 1700000000       # the 2000-epoch correction, wherever it applies
    for bad in (-1, "today", 1.5, True):
        e = raises(SMTPUsageError, msg, date=bad)
        assert "Date" in str(e)


def test_message_id():
    assert make_message_id("gh-1-2", "Board <board@example.com>") == "<gh-1-2@example.com>"
    assert make_message_id("a.b_c-1", ("n", "x@mail.example.org")) == "<a.b_c-1@mail.example.org>"
    for bad in ("", "a b", "a@b", "a<b", "x" * 129, 5):
        raises(SMTPUsageError, make_message_id, bad, "b@example.com")
    raises(SMTPUsageError, make_message_id, "ok", "nobody")
    assert header(msg(message_id="<x.y@z>").as_bytes(), "Message-ID") == "<x.y@z>"
    for bad in ("x@y", "<xy>", "<x@y", "<a b@c>", "<a@b@c>", "<é@x>", 7):
        e = raises(SMTPUsageError, msg, message_id=bad)
        assert "Message-ID" in str(e)
    # no id given: a unique one at the sender's domain
    a = header(msg(message_id=None).as_bytes(), "Message-ID")
    b = header(msg(message_id=None).as_bytes(), "Message-ID")
    assert a != b and a.endswith("@example.com>") and a.startswith("<")


def test_qp_body():
    body = "Température: 31 °C = trop chaud \n" + "x" * 200 + "\n.\nfin"
    data = msg(body=body).as_bytes()
    head, text = split(data)
    assert header(data, "Content-Transfer-Encoding") == "quoted-printable"
    assert qp_decode(text) == (body + "\n").replace("\n", "\r\n").encode()
    assert msg(body="").as_bytes().endswith(b"quoted-printable\r\n\r\n")
    assert split(msg(body=b"bytes \xc3\xa9").as_bytes())[1] == b"bytes =C3=A9\r\n"
    raises(SMTPUsageError, msg, body=b"\xff\xfe")
    raises(SMTPUsageError, msg, body=5)


def test_base64_body():
    body = "Grüße\n" * 40
    data = msg(body=body, body_encoding="base64").as_bytes()
    assert header(data, "Content-Transfer-Encoding") == "base64"
    text = split(data)[1]
    for line in text.split(b"\r\n")[:-1]:
        assert len(line) <= 76
    # text in canonical form before base64 (RFC 2046 4.1.1): CRLF breaks, last line closed
    assert binascii.a2b_base64(text.replace(b"\r\n", b"")) == body.replace("\n", "\r\n").encode()
    for raw, want in [("a\rb\r", b"a\r\nb\r\n"), ("x", b"x\r\n"), ("", b""), ("\r\n\n", b"\r\n\r\n")]:
        text = split(msg(body=raw, body_encoding="base64").as_bytes())[1]
        assert binascii.a2b_base64(text.replace(b"\r\n", b"")) == want, raw
    raises(SMTPUsageError, msg, body_encoding="8bit")


def parts(data, boundary):
    # split a multipart body at its delimiters (RFC 2046 5.1.1) -> list of part bytes
    body = split(data)[1]
    delim = b"--" + boundary
    assert body.startswith(delim + b"\r\n")
    assert body.endswith(b"\r\n" + delim + b"--\r\n")
    inner = body[len(delim) + 2:-(len(delim) + 6)]
    return inner.split(b"\r\n" + delim + b"\r\n")


class Generated:
    # a file-like object that makes its bytes on demand (like a sensor log), with readinto
    def __init__(self, size):
        self.size = size
        self.pos = 0

    PATTERN = bytes([(i * 7) & 255 for i in range(256)]) * 2

    def readinto(self, buf):
        n = min(len(buf), self.size - self.pos, 256)
        off = self.pos & 255
        buf[:n] = self.PATTERN[off:off + n]
        self.pos += n
        return n


def generated(size):
    return (Generated.PATTERN[:256] * (size // 256 + 1))[:size]


def test_multipart_structure_and_attachments():
    m = msg(body="See attached.\n")
    csv = "time,temp\n0,1.5\n60,1.25\n"
    m.attach("readings.csv", csv, "text/csv")
    m.attach("photo.jpg", Generated(5000), "image/jpeg")
    m.attach("Messwert für März.bin", io.BytesIO(b"\x00\x01\x02"))
    data = m.as_bytes()
    ct = header(data, "Content-Type")
    assert ct.startswith("multipart/mixed;")
    boundary = ct.partition('boundary="')[2][:-1].encode()
    assert boundary == m.boundary.encode() and b"=_" in boundary
    ps = parts(data, boundary)
    assert len(ps) == 4
    assert header(ps[0], "Content-Type") == "text/plain; charset=utf-8"
    assert qp_decode(split(ps[0])[1]) == b"See attached.\r\n"
    want = [("readings.csv", "text/csv", csv.encode()), ("photo.jpg", "image/jpeg", generated(5000)),
            (None, "application/octet-stream", b"\x00\x01\x02")]
    for p, (name, ctype, content) in zip(ps[1:], want):
        assert header(p, "Content-Transfer-Encoding") == "base64"
        assert header(p, "Content-Type").startswith(ctype + ";")
        cd = header(p, "Content-Disposition")
        assert cd.startswith("attachment;")
        if name:
            assert 'filename="' + name + '"' in cd
        else:
            assert "filename*=utf-8''Messwert%20f%C3%BCr%20M%C3%A4rz.bin" in cd
        b64 = split(p)[1]
        for line in b64.split(b"\r\n")[:-1]:
            assert len(line) <= 76
        assert binascii.a2b_base64(b64.replace(b"\r\n", b"")) == content
    # the boundary occurs only in the header and as the 4 delimiters and the close
    assert data.count(boundary) == 6


def test_chunks_bounded_by_bufsize():
    m = msg(body="short\n")
    m.attach("big.bin", Generated(16 * 1024))
    for bufsize in (78, 1024, 4096):
        m2 = msg(body="short\n")
        m2.attach("big.bin", Generated(16 * 1024))
        chunks = list(m2.chunks(bufsize))
        big = [c for c in chunks if len(c) > bufsize]
        assert len(big) <= 2, [len(c) for c in big]      # the header blocks only
        for c in big:
            assert len(c) < 800
        assert isinstance(chunks[0], bytes)
        ps = parts(b"".join(chunks), m2.boundary.encode())
        assert binascii.a2b_base64(split(ps[1])[1].replace(b"\r\n", b"")) == generated(16 * 1024)
    raises(SMTPUsageError, lambda: list(m.chunks(10)))


def test_chunks_repeatable_with_seekable_source():
    # a retry calls chunks() again: seekable sources restart where they were at attach()
    f = io.BytesIO(b"skip" + bytes(range(200)))
    f.read(4)
    m = msg()
    m.attach("a.bin", f)
    m.attach("b.bin", b"static")
    first = m.as_bytes()
    assert m.as_bytes() == first
    ps = parts(first, m.boundary.encode())
    assert binascii.a2b_base64(split(ps[1])[1].replace(b"\r\n", b"")) == bytes(range(200))


def test_attach_validation():
    m = msg()
    raises(SMTPUsageError, m.attach, "", b"x")
    raises(SMTPUsageError, m.attach, "a.txt", 42)
    raises(SMTPUsageError, m.attach, "a.txt", b"x", "textplain")
    raises(SMTPUsageError, m.attach, "a.txt", b"x", "multipart/mixed")
    raises(SMTPUsageError, m.attach, "a.txt", b"x", "text/pläin")
    assert m.attachments == []
