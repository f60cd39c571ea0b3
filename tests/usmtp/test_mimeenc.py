# lane: micropython
# MIME encoders: RFC 2047 words, folding, RFC 2231 parameters, quoted-printable, base64, Date.
import binascii

import usmtp.writer as me
from tinytest import raises

HEX = "0123456789ABCDEF"


def unhex(s):
    return HEX.index(s[0].upper()) * 16 + HEX.index(s[1].upper())


def decode_word(w):
    # independent RFC 2047 decoder for one word: returns the raw bytes of its payload
    assert w.startswith("=?utf-8?") and w.endswith("?=") and len(w) <= 75, w
    enc = w[8]
    text = w[10:-2]
    assert w[9] == "?"
    assert " " not in text and "?" not in text
    if enc == "b":
        return binascii.a2b_base64(text.encode())
    assert enc == "q"
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "=":
            out.append(unhex(text[i + 1:i + 3]))
            i += 3
        else:
            out.append(32 if c == "_" else ord(c))
            i += 1
    return bytes(out)


def qp_decode(data):
    # independent quoted-printable decoder (RFC 2045 6.7) that also checks the line rules
    out = bytearray()
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        assert len(line) <= 76, line
        assert b"\r" not in line and b"\n" not in line
        soft = line.endswith(b"=")
        if soft:
            line = line[:-1]
        else:
            assert not line.endswith(b" ") and not line.endswith(b"\t"), line
        i = 0
        while i < len(line):
            c = line[i]
            assert c == 9 or 32 <= c <= 126, line
            if c == 61:
                out.append(unhex(str(line[i + 1:i + 3], "ascii")))
                i += 3
            else:
                out.append(c)
                i += 1
        if not soft:
            out += b"\r\n"
    return bytes(out)


SAMPLES = ["a", "é", "€", "😀", " ", "_", "=", "?", "\t"]


def test_encoded_words_never_split_a_character_at_any_offset():
    for ch in SAMPLES:
        for pad in range(0, 16):   # every alignment of a 1-4 byte character to a word end
            for first in (69, 75, 40):
                text = "x" * pad + ch * 30 + "y"
                words = me.encoded_words(text, first)
                assert len(words[0]) <= first
                raw = b""
                for w in words:
                    piece = decode_word(w)
                    str(piece, "utf-8")      # each word decodes alone: no split character
                    raw += piece
                assert raw == text.encode(), (ch, pad, first)


def test_encoded_words_choose_q_for_mostly_ascii():
    assert me.encoded_words("Alarm über")[0] == "=?utf-8?q?Alarm_=C3=BCber?="
    assert me.encoded_words("ÜÜÜÜ")[0].startswith("=?utf-8?b?")
    assert me.encoded_words("") == ["=?utf-8?q??="]


def test_unstructured_header_plain_and_encoded():
    assert me.unstructured("Subject", "Hello world") == b"Subject: Hello world\r\n"
    long = ("word " * 40).strip()
    h = me.unstructured("Subject", long)
    lines = h.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines[:-1]:
        assert len(line) <= 78
    assert h.replace(b"\r\n ", b" ") == b"Subject: " + long.encode() + b"\r\n"
    for n in range(1, 120, 7):
        text = "Température " * n
        h = me.unstructured("Subject", text)
        raw = b""
        for line in h[:-2].split(b"\r\n"):
            assert len(line) <= 78, line
            for w in str(line, "ascii").replace("Subject:", "").split(" "):
                if w:
                    raw += decode_word(w)
        assert raw == text.encode()


def test_ascii_that_looks_encoded_is_encoded():
    h = me.unstructured("Subject", "=?utf-8?q?fake?=")
    assert h.startswith(b"Subject: =?utf-8?")
    assert h != b"Subject: =?utf-8?q?fake?=\r\n"


def test_phrase_tokens():
    assert me.phrase_tokens("Bob Smith") == ["Bob", "Smith"]
    assert me.phrase_tokens("Smith, J") == ['"Smith, J"']
    assert me.phrase_tokens('a "b" \\c') == ['"a \\"b\\" \\\\c"']
    assert me.phrase_tokens("") == []
    assert me.phrase_tokens("Jörg")[0].startswith("=?utf-8?")


def test_rfc2231_params():
    assert me.param("filename", "a.csv") == ['filename="a.csv"']
    segs = me.param("filename", "Bild für dich mit einem sehr langen Namen der nicht passt.jpg")
    assert segs[0].startswith("filename*0*=utf-8''")
    assert segs[1].startswith("filename*1*=")
    joined = ""
    for s in segs:
        assert len(s) + 2 <= 78
        joined += s.partition("=")[2]
    assert joined.startswith("utf-8''")
    enc = joined[7:]
    out = bytearray()
    i = 0
    while i < len(enc):
        if enc[i] == "%":
            out.append(unhex(enc[i + 1:i + 3]))
            i += 3
        else:
            out.append(ord(enc[i]))
            i += 1
    assert str(bytes(out), "utf-8") == "Bild für dich mit einem sehr langen Namen der nicht passt.jpg"
    # a %XX triplet is never cut between two segments, whatever the offset
    for pad in range(0, 70):
        for s in me.param("f", "a" * pad + "ü" * 40):
            v = s.partition("=")[2]
            assert not v.endswith("%") and v[-2:-1] != "%", s
    assert me.param("filename", 'say "hi".txt')[0].startswith("filename*=utf-8''say%20%22hi%22")


def test_qp_plain_and_soft_breaks():
    out = bytearray()
    me.qp_line(b"hello", out)
    assert out == b"hello\r\n"
    for n in (75, 76, 77, 151, 152, 300):
        for ch in (b"x", b"=", b" ", b"\xc3\xa9", b"\t", b"\x00", b"\x7f"):
            line = b"a" + ch * n + b"z" if ch != b" " else ch * n
            out = bytearray()
            me.qp_line(line, out)
            assert qp_decode(bytes(out)) == line + b"\r\n", (n, ch)


def test_qp_trailing_whitespace_and_equals():
    out = bytearray()
    me.qp_line(b"a = b \t", out)
    assert out == b"a =3D b =09\r\n"
    out = bytearray()
    me.qp_line(b"end ", out)
    assert out == b"end=20\r\n"


def test_text_lines_all_breaks():
    assert list(me.text_lines(b"a\nb\r\nc\rd")) == [b"a", b"b", b"c", b"d"]
    assert list(me.text_lines(b"a\n")) == [b"a"]
    assert list(me.text_lines(b"\n\n")) == [b"", b""]
    assert list(me.text_lines(b"\r\r\n\n")) == [b"", b"", b""]
    assert list(me.text_lines(b"")) == []
    assert list(me.text_lines(b"x\ny\n" * 3 + b"\rz")) == [b"x", b"y"] * 3 + [b"", b"z"]


def test_qp_chunks_round_trip():
    text = ("Zeile mit Ümlaut = gleich \n" * 50 + "." + "\r\nlast").encode()
    for bufsize in (78, 200, 1024, 100000):
        chunks = list(me.qp_chunks(text, bufsize))
        data = b"".join(chunks)
        assert qp_decode(data) == text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"\r\n"


def test_qp_long_line_streams_in_bounded_chunks():
    # one 20 KB line (no line break at all) must not become one 60 KB chunk
    for unit in (b"a", "é".encode(), b"a =", b"\t"):
        line = unit * (20000 // len(unit))
        for bufsize in (78, 1000):
            chunks = list(me.qp_chunks(line + b" ", bufsize))
            for c in chunks:
                assert len(c) <= 5 * bufsize, (unit, bufsize, len(c))
            data = b"".join(chunks)
            assert qp_decode(data) == line + b" \r\n"
            whole = bytearray()
            me.qp_line(line + b" ", whole)
            assert data == whole        # segmenting never changes the encoding


class ShortReads:
    # a file-like object giving at most 7 bytes per readinto, like a slow stream
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def readinto(self, buf):
        n = min(7, len(buf), len(self.data) - self.pos)
        buf[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


class ReadOnly:
    def __init__(self, data, text=False):
        self.data = data
        self.pos = 0
        self.text = text

    def read(self, n):
        if self.text:
            # str in, like a text-mode file: up to n characters, maybe more than n bytes
            d = self.data[self.pos:self.pos + n]
            self.pos += len(d)
            return d
        d = self.data[self.pos:self.pos + n]
        self.pos += len(d)
        return d


def b64_check(chunks, want, bufsize):
    data = b"".join(chunks)
    if not want:
        assert data == b""
        return
    lines = data.split(b"\r\n")
    assert lines[-1] == b""
    for line in lines[:-2]:
        assert len(line) == 76
    assert len(lines[-2]) <= 76
    for c in chunks:
        assert len(c) <= max(bufsize, 78)
    assert binascii.a2b_base64(data.replace(b"\r\n", b"")) == want


def test_base64_from_every_source_kind():
    blob = bytes(range(256)) * 11 + b"tail"
    for bufsize in (78, 100, 1024, 4096):
        b64_check(list(me.base64_chunks(me.Reader(blob), bufsize)), blob, bufsize)
        b64_check(list(me.base64_chunks(me.Reader(bytearray(blob)), bufsize)), blob, bufsize)
        b64_check(list(me.base64_chunks(me.Reader(memoryview(blob)), bufsize)), blob, bufsize)
        b64_check(list(me.base64_chunks(me.Reader(ShortReads(blob)), bufsize)), blob, bufsize)
        b64_check(list(me.base64_chunks(me.Reader(ReadOnly(blob)), bufsize)), blob, bufsize)
        text = "température,°C\n" * 100
        b64_check(list(me.base64_chunks(me.Reader(ReadOnly(text, True)), bufsize)),
                  text.encode(), bufsize)
        b64_check(list(me.base64_chunks(me.Reader(text), bufsize)), text.encode(), bufsize)
    assert list(me.base64_chunks(me.Reader(b""), 1024)) == []
    for n in range(0, 120):
        b64_check(list(me.base64_chunks(me.Reader(ShortReads(blob[:n])), 78)), blob[:n], 78)
    raises(TypeError, me.Reader, 42)


def test_date_known_values():
    assert me.format_date(0) == "Thu, 01 Jan 1970 00:00:00 +0000"
    assert me.format_date(946684799) == "Fri, 31 Dec 1999 23:59:59 +0000"
    assert me.format_date(946684800) == "Sat, 01 Jan 2000 00:00:00 +0000"
    assert me.format_date(951782400) == "Tue, 29 Feb 2000 00:00:00 +0000"
    assert me.format_date(1709208000) == "Thu, 29 Feb 2024 12:00:00 +0000"
    assert me.format_date(1795870110) == "Sat, 28 Nov 2026 12:48:30 +0000"
    assert me.format_date(4107542399) == "Sun, 28 Feb 2100 23:59:59 +0000"
    assert me.format_date(4107542400) == "Mon, 01 Mar 2100 00:00:00 +0000"
    assert me.format_date(2147483647) == "Tue, 19 Jan 2038 03:14:07 +0000"


def test_civil_walks_the_calendar_month_by_month():
    # independent check: first and last day of every month 1970..2109 by the leap-year rule
    # (usmtp.clock's calendar, which the writer's Date reads through clock.iso)
    from usmtp.clock import civil
    days = 0
    for y in range(1970, 2110):
        leap = (y % 4 == 0 and y % 100 != 0) or y % 400 == 0
        for m in range(1, 13):
            mlen = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[m - 1]
            assert civil(days) == (y, m, 1), days
            assert civil(days + mlen - 1) == (y, m, mlen), days
            days += mlen
    assert civil(days) == (2110, 1, 1)


def test_an_alerts_plain_body_encodes_as_line_by_line():
    # the writer's own encoding (lines of printable ASCII, usmtp.mime not loaded) gives the
    # bytes usmtp.mime's line-by-line encoder gives, and so does a mix of lines for both
    import usmtp.mime as mime
    bodies = [b"", b"a", b"a\n", b"\n\n", b" \n", b"end ", b"-- \nDevice:   x\n", b"x" * 73 + b"\n",
              b"x" * 72 + b" \n", b"x" * 74, b"x" * 73 + b" ", b"a  \nb", b"a=b\n", b"caf\xc3\xa9\n",
              b"a\r\nb", b"tab\there\n", b"y\n" * 60, b"x" * 76 + b"\n", b"x" * 77, b"z" * 200 + b"\n",
              b"Rule:     " + b"r" * 70 + b" (cooldown 30 min)\n-- \n" + b"\xc2\xb0C\n" + b"q" * 900]
    for body in bodies:
        for bufsize in (78, 1024):
            fast = b"".join(me.qp_chunks(body, bufsize))
            assert fast == b"".join(mime.qp_chunks(body, bufsize)), (body, bufsize)
            assert qp_decode(fast) == body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + \
                (b"\r\n" if body and not body.endswith(b"\n") else b""), body


def test_the_writers_one_line_headers_are_what_mime_would_write():
    # the writer writes a plain header line itself (usmtp.mime not loaded for an alert); each
    # value it takes gives the bytes usmtp.mime gives, and each one it hands on is one mime
    # folds, encodes or refuses
    import usmtp.mime as mime
    from usmtp.errors import SMTPUsageError
    values = ["shed1: freezer at -4.5 C", "a~b", "x" * 67, "x" * 68, "x" * 69, "", " lead",
              "a=?b", "a\tb", "a\x7fb", "tab\t", "ünï", "a  b", "end ", "-", "a\x01b"]
    for v in values:
        want = mime.header("Subject", v)
        assert me._header("Subject", v) == want, v
    for bad in ("a\r\nBcc: x@y", "a\nb", "a\0b", 5, None):
        raises(SMTPUsageError, me._header, "Subject", bad)
    # address headers: one line of plain display names, or what mime folds, quotes or encodes
    items = [["ops@example.org"], ["Shed board <shed1@example.org>"], ["A.B <a@b.org>"],
             ["A  B <a@b.org>"], ['"Smith, J" <a@b.org>'], ["Ärger <a@b.org>"],
             ["A_b-9 <a@b.org>"], ["x%02d@example.com" % i for i in range(8)],
             [("N", "a@b.org"), "c@d.org"]]
    for to in items:
        out = []
        line = me._boxes("To", to, out)
        boxes = [me.parse_mailbox("To", v) for v in to]
        assert line == mime._address_header("To", boxes), to
        assert out == [b[1] for b in boxes], to


def test_the_writer_calls_mime_by_the_numbers_it_names():
    # usmtp.writer calls what a plain alert never needs as _mime(n, ...) and names the function
    # in a comment: FOR_WRITER[n] must be that function
    import usmtp.mime as mime
    path = me.__file__ if hasattr(me, "__file__") else "usmtp/writer.py"
    src = open(path).read()
    calls = 0
    for line in src.split("\n"):
        i = line.find("_mime(")
        if i < 0 or "def _mime" in line or "#" not in line[i:]:
            continue
        n = int(line[i + 6:].split(",")[0].split(")")[0])
        name = line[line.index("#", i) + 1:].split()[0].rstrip(":")
        assert mime.FOR_WRITER[n].__name__ == name, (n, name)
        calls += 1
    assert calls >= 12, calls
