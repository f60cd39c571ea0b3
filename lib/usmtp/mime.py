# What a message beyond plain text needs, for the writer (usmtp.writer):
# attachments, an HTML body and its inline parts (multipart/mixed, alternative, related),
# base64 streamed from fixed buffers, RFC 2047 encoded words for non-ASCII headers and RFC 2231
# parameters for non-ASCII or long file names; and what the writer says when it refuses an
# argument. Loaded only when a message has one of these: a plain-text alert with ASCII headers
# never loads it.
import binascii

from usmtp.checks import (address_problem, display_name_problem, mailbox_problem, split_mailbox,
                          token_problem)
from usmtp.errors import SMTPUsageError

# the headers the writer sets itself: not extra headers
_OWN = " from to cc bcc subject date message-id mime-version content-type content-transfer-encoding "

LINE = 78               # folded header line length goal (RFC 5322 2.1.1; the writer's too)
WORD = 75               # encoded word limit (RFC 2047 2)
_QSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
_HEXU = "0123456789ABCDEF"

_PCT_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"


# ---- the message's parts ---------------------------------------------------------------------

def is_ascii(s):
    # MicroPython's str has no isascii(); a str is ASCII when its UTF-8 form is no longer
    return len(s.encode()) == len(s)


def refuse(header, n, v):
    # writer._bad: what is wrong with an argument of writer.Message, worded here
    if n == 3:
        raise SMTPUsageError("message id: alert id " + repr(v) + " " + token_problem(v, 128))
    if n == 6:
        raise SMTPUsageError("bufsize must be an int >= 78")
    if n == 5:
        why = "date must be UTC Unix seconds (int >= 0)"
    elif n == 2:
        why = "invalid address " + repr(v) + ": " + mailbox_problem(v)
    elif not isinstance(v, str):
        why = "must be a string"
    else:
        why = "CR, LF or NUL in " + repr(v)
    raise SMTPUsageError("header " + header + ": " + why)


def _no_crlf(header, v):
    # a header's free text: a str without CR, LF or NUL (no header injection)
    if not isinstance(v, str) or "\r" in v or "\n" in v or "\0" in v:
        refuse(header, 1, v)
    return v


def header(name, value):
    # writer._header for what is not one plain line: checked, then folded or encoded
    return unstructured(name, _no_crlf(name, value))


def method(m, name):
    # writer.Message's attach, set_html, inline and as_bytes, and its parts (none until the
    # first is added: a plain message never names them)
    if name == "html" or name == "attachments" or name == "inlines":
        v = None if name == "html" else []
        setattr(m, name, v)
        return v
    if " " + name + " " not in " attach set_html inline as_bytes ":
        raise AttributeError(name)
    f = globals()["m_" + name]
    return lambda *a, **k: f(m, *a, **k)


def check_message_id(mid):
    # writer.check_message_id for what is not of make_message_id's form
    s = _no_crlf("Message-ID", mid)[1:-1]
    left, _, right = s.partition("@")
    if len(mid) > 250 or mid[:1] + mid[-1:] != "<>" or not left or not right or "@" in right \
            or not is_ascii(mid):
        refuse_id("expected <left@right>, got " + repr(mid))
    for c in " \t<>\"(),;\\":
        if c in s:
            refuse_id(repr(c) + " not allowed in " + repr(mid))
    return mid


def refuse_id(why):
    raise SMTPUsageError("header Message-ID: " + why)


def _random_hex(nbytes):
    try:
        import os
        raw = os.urandom(nbytes)
    except (ImportError, AttributeError, NotImplementedError, OSError):
        import random
        raw = bytes([random.getrandbits(8) for _ in range(nbytes)])
    return binascii.hexlify(raw).decode()


def _multi(m):
    # a message with parts gets its boundary: "=_" can never occur in base64 or
    # quoted-printable text, so no part can hold it
    if m.boundary is None:
        m.boundary = "=_outpost_" + _random_hex(12)


def qp_line(line, out, col=0, final=True):
    # append text (bytes, no line break) quoted-printable to bytearray `out`, with soft breaks
    # so no encoded line passes 76 chars. A long line may come in segments: pass the returned
    # column back in, and final=True with the last segment (which gets the CRLF).
    n = len(line)
    if n == 0:
        if final:
            out += b"\r\n"
        return 0
    if col == 0 and final and min(line) >= 32 and max(line) <= 126 and b"=" not in line:
        # plain printable ASCII: C-level checks, cut every 75 chars
        if line[n - 1] == 32:
            if n < 74:      # "-- ", a signature's separator: its last space as =20
                out += line[:n - 1]
                out += b"=20\r\n"
                return 0
        else:
            i = 0
            while n - i > 76:
                out += line[i:i + 75]
                out += b"=\r\n"
                i += 75
            out += line[i:]
            out += b"\r\n"
            return 0
    return qp_any(line, out, col, final)     # anything else: byte by byte


def qp_chunks(data, bufsize, i=0, n=None):
    # writer.qp_chunks for a body with CR line ends or a line longer than bufsize (data[i:n]):
    # line by line, yielded in chunks of about bufsize (under 5 x bufsize even for one long
    # line: a line longer than bufsize is encoded a segment at a time)
    out = bytearray()
    for i, j in line_spans(data, i, n):
        col = 0
        while True:
            k = min(i + bufsize, j)
            col = qp_line(data[i:k], out, col, k == j)
            i = k
            if len(out) >= bufsize:
                yield bytes(out)
                out = bytearray()
            if i >= j:
                break
    if out:
        yield bytes(out)


def qp_any(line, out, col, final):
    # qp_line for what its fast path does not take (non-ASCII, "=", a segment, a trailing
    # space): byte by byte
    n = len(line)
    end = n - 1 if final else n     # only the line's real last byte must not be bare whitespace
    for i in range(n):
        c = line[i]
        if (33 <= c <= 126 and c != 61) or ((c == 32 or c == 9) and i != end):
            w = 1
        else:
            w = 3
        if col + w > 75:
            out += b"=\r\n"
            col = 0
        if w == 1:
            out.append(c)
        else:
            out.append(61)
            out.append(ord(_HEXU[c >> 4]))
            out.append(ord(_HEXU[c & 15]))
        col += w
    if final:
        out += b"\r\n"
        return 0
    return col


def _check_content_type(ct):
    if not isinstance(ct, str):
        raise SMTPUsageError("attachment content type must be a string")
    _no_crlf("Content-Type", ct)
    main = ct.partition(";")[0].strip()
    typ, slash, sub = main.partition("/")
    if not slash or not typ or not sub or " " in main or not is_ascii(ct):
        raise SMTPUsageError("header Content-Type: expected type/subtype, got " + repr(ct))
    if typ.lower() == "multipart":
        raise SMTPUsageError("header Content-Type: an attachment cannot be multipart")
    return ct


def _start(source):
    # where a seekable source starts, so chunks() can run again (a retry) from the same place
    if hasattr(source, "seek") and hasattr(source, "tell"):
        try:
            return source.tell()
        except (OSError, AttributeError, ValueError):
            pass
    return None


# ---- header lines beyond one plain line (the writer's _header and _boxes) ----------------------

def fold(name, tokens):
    # "Name: t1 t2 ..." with CRLF+SP in place of a separating space wherever the line would pass
    # LINE; an over-long single token stays whole (legal up to 998). Returns bytes ending CRLF.
    line = name + ":"
    out = []
    first = True
    for t in tokens:
        if first:
            line += " " + t
            first = False
        elif t and len(line) + 1 + len(t) > LINE and line.strip():
            out.append(line)
            line = " " + t
        else:
            line += " " + t
    out.append(line)
    return ("\r\n".join(out) + "\r\n").encode()


def unstructured(name, value):
    # Subject and other free-text headers: raw when plain ASCII, else RFC 2047 encoded words
    # raw only when a reader gets it back unchanged: parsers drop leading whitespace
    if is_ascii(value) and "=?" not in value and not value.startswith(" ") and \
            not value.startswith("\t"):
        tokens = value.split(" ")
        ok = True
        for t in tokens:
            if len(t) > 900:
                ok = False
        if ok:
            return fold(name, tokens)
    return fold(name, encoded_words(value, LINE - len(name) - 2))


def phrase_tokens(name, first=WORD):
    # a display name as tokens for fold(): atoms, one quoted string, or encoded words
    if not name:
        return []
    if is_ascii(name) and "=?" not in name:
        plain = True
        for ch in name:
            if ch not in _QSAFE and ch != " " and ch not in "#$%&'=?^_`{|}~":
                plain = False
        if plain and name.strip() == name and "  " not in name:
            return name.split(" ")
        return ['"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"']
    return encoded_words(name, first)


def _address_header(name, boxes):
    tokens = []
    for i in range(len(boxes)):
        dname, addr = boxes[i]
        sep = "," if i < len(boxes) - 1 else ""
        first = LINE - len(name) - 2 if not tokens else WORD
        words = phrase_tokens(dname, first)
        if words:
            tokens.extend(words)
            tokens.append("<" + addr + ">" + sep)
        else:
            tokens.append(addr + sep)
    return fold(name, tokens)


def message_id(m):
    # a Message-ID for a message given none: random, with the date and the sender's domain
    return "<" + _random_hex(12) + "." + str(m.date) + "@" + m.sender.rpartition("@")[2] + ">"


def base64_body(data, bufsize):
    return base64_chunks(Reader(CanonicalText(data)), bufsize)


def mailbox_pair(header, item):
    # writer.parse_mailbox for a (name, address) tuple, a str it refuses, or anything else
    if isinstance(item, str):
        if mailbox_problem(_no_crlf(header, item)):
            refuse(header, 2, item)
        return split_mailbox(item)
    if not isinstance(item, (tuple, list)):
        raise SMTPUsageError("header " + header + ": address must be a string or a (name, "
                             "address) tuple, not " + type(item).__name__)
    if len(item) != 2:
        raise SMTPUsageError("header " + header + ": a mailbox tuple is (name, address)")
    name, addr = item[0] or "", item[1]
    for v in (name, addr):
        if isinstance(v, str):
            _no_crlf(header, v)
    p = display_name_problem(name)
    if p:
        raise SMTPUsageError("header " + header + ": display name " + p)
    p = address_problem(addr)
    if p:
        raise SMTPUsageError("header " + header + ": invalid address " + repr(addr) + ": " + p)
    return name, addr


def arguments(m, body, date, mid, enc):
    # writer.Message's body, date, message_id and body_encoding when one is not an alert's:
    # each checked in this order (or what is wrong said), a missing date or Message-ID made
    if not isinstance(body, str):
        body = body_text(body)
    if date is None:
        from usmtp.clock import now
        date = now()
    if type(date) is not int or date < 0:
        refuse("Date", 5, date)
    m.date = date
    mid = check_message_id(message_id(m) if mid is None else mid)
    if enc != "quoted-printable":
        enc = body_encoding(enc)
    return body, date, mid, enc


def body_text(body):
    # writer.Message's body given as anything but str: UTF-8 bytes
    if isinstance(body, (bytes, bytearray)):
        try:
            return str(body, "utf-8")
        except (UnicodeError, ValueError):
            raise SMTPUsageError("message body: bytes must be UTF-8 text")
    raise SMTPUsageError("message body must be str, not " + type(body).__name__)


def body_encoding(enc):
    # writer.Message's body_encoding other than quoted-printable
    if enc == "qp":
        return "quoted-printable"
    if enc != "base64":
        raise SMTPUsageError("body_encoding must be 'quoted-printable' or 'base64', not " +
                             repr(enc))
    return enc


def extra_header(name, value):
    # writer.Message's extra header other than "X-..." and threading: returns when its name is
    # printable ASCII without ':' and not one the writer sets itself, else says which rule
    if not isinstance(name, str) or not name or not isinstance(value, str):
        why = "name and value must be strings"
    elif " " + name.lower() + " " in _OWN:
        why = "set by the writer, pass it as an argument instead"
    elif min(name) > " " and max(name) <= "~" and ":" not in name:
        return
    else:
        why = "name may only hold printable ASCII without ':'"
    raise SMTPUsageError("extra header " + repr(name) + ": " + why)


def envelope(to, cc, bcc, out):
    # writer.Message's To, Cc and Bcc (each a list, a str or a (name, address) tuple; None for
    # none) beyond a list of To recipients: their header lines (Bcc only in the envelope, To
    # "undisclosed-recipients:;" when only Bcc has some); out gets each address once, in order
    from usmtp.writer import _boxes
    h = b""
    for name, items in (("To", to), ("Cc", cc), ("Bcc", bcc)):
        if items is None:
            items = ()
        elif isinstance(items, str):
            items = [items]
        elif not isinstance(items, list):
            # one (name, address) tuple; ("a@x", "b@y") is almost surely two addresses: say so
            if isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], str) and \
                    "@" in items[0] and " " not in items[0].strip() and "<" not in items[0]:
                raise SMTPUsageError("header " + name + ": a tuple is one (name, address) "
                                     "mailbox; pass several addresses as a list")
            items = [items]
        if items:
            line = _boxes(name, items, out)     # each address checked, and into out once
            if name != "Bcc":
                h += line
    if not out:
        raise SMTPUsageError("message has no recipient (to, cc and bcc are all empty)")
    if not h:
        h = b"To: undisclosed-recipients:;\r\n"
    return h


# Message's methods beyond plain text (writer.Message.__getattr__ hands them the message)

def m_as_bytes(m):
    # the whole message at once: for tests and small messages only
    return b"".join(m.chunks())


def m_attach(m, filename, source, content_type="application/octet-stream"):
    if not isinstance(filename, str) or not filename:
        raise SMTPUsageError("attachment filename must be a non-empty string")
    _no_crlf("Content-Disposition", filename)
    _check_content_type(content_type)
    if not isinstance(source, (bytes, bytearray, memoryview, str)) and \
            not hasattr(source, "readinto") and not hasattr(source, "read"):
        raise SMTPUsageError("attachment " + filename + ": source must be bytes, str or a"
                             " file-like object, not " + type(source).__name__)
    m.attachments.append((filename, source, content_type, _start(source)))
    _multi(m)


def m_set_html(m, html):
    # the body as HTML too: readers show it and fall back to the plain text
    if isinstance(html, (bytes, bytearray)):
        html = str(html, "utf-8")
    if not isinstance(html, str):
        raise SMTPUsageError("HTML body must be str, not " + type(html).__name__)
    m.html = html
    _multi(m)


def m_inline(m, cid, source, content_type, filename=None):
    # a part of the HTML body (multipart/related), referred to as src="cid:<cid>", streamed
    # like an attachment; cid is "left@right" without the angle brackets
    if not isinstance(cid, str):
        raise SMTPUsageError("inline part: Content-ID must be a string")
    try:
        check_message_id("<" + cid + ">")
    except SMTPUsageError as e:
        raise SMTPUsageError("inline part: Content-ID " + repr(cid) + " is not left@right: " + str(e))
    _check_content_type(content_type)
    if filename is not None:
        if not isinstance(filename, str) or not filename:
            raise SMTPUsageError("inline part filename must be a non-empty string")
        _no_crlf("Content-Disposition", filename)
    if not hasattr(source, "read") and not hasattr(source, "readinto") and \
            not isinstance(source, (bytes, bytearray, memoryview)):
        raise SMTPUsageError("inline part " + cid + ": source must be bytes or a file-like"
                             " object, not " + type(source).__name__)
    m.inlines.append((cid, source, content_type, filename, _start(source)))
    _multi(m)


def _semi(params):
    # "a", "b", "c" -> "a;", "b;", "c" (parameters separated by ';', each foldable)
    return [p + ";" for p in params[:-1]] + params[-1:]


def _attachment_head(filename, content_type):
    ct = fold("Content-Type", [content_type + ";"] + _semi(param("name", filename)))
    cd = fold("Content-Disposition", ["attachment;"] + _semi(param("filename", filename)))
    return ct + b"Content-Transfer-Encoding: base64\r\n" + cd + b"\r\n"


def _inline_head(cid, content_type, filename):
    h = fold("Content-Type", [content_type])
    h += b"Content-Transfer-Encoding: base64\r\nContent-ID: <" + cid.encode() + b">\r\n"
    if filename:
        h += fold("Content-Disposition", ["inline;"] + _semi(param("filename", filename)))
    else:
        h += b"Content-Disposition: inline\r\n"
    return h + b"\r\n"


def _multipart(subtype, boundary, extra=""):
    params = ["multipart/" + subtype + ";", 'boundary="' + boundary + '"' + (";" if extra else "")]
    if extra:
        params.append(extra)
    return fold("Content-Type", params)


def _nested(m, kind):
    return "=_outpost_" + kind + "_" + m.boundary[len("=_outpost_"):]


def _source_chunks(source, start, bufsize):
    if start is not None:
        source.seek(start)
    return base64_chunks(Reader(source), bufsize)


def _text_parts(m, bufsize):
    # the body: text/plain alone, or multipart/alternative of text/plain and the HTML (itself
    # multipart/related when it shows inline parts). Starts with the part's headers.
    if m.html is None:
        yield from m._text_part(b"", bufsize)
        return
    # nested boundaries must not start with the outer one (RFC 2046 5.1.1: a parser may
    # match a delimiter by prefix): "=_outpost_alt_<hex>" vs "=_outpost_<hex>"
    alt = _nested(m, "alt")
    ab = alt.encode()
    yield from m._text_part(_multipart("alternative", alt) + b"\r\n--" + ab + b"\r\n", bufsize)
    yield b"\r\n--" + ab + b"\r\n"
    rel = _nested(m, "rel")
    rb = rel.encode()
    if m.inlines:
        yield _multipart("related", rel, 'type="text/html"') + b"\r\n--" + rb + b"\r\n"
    yield b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    for c in qp_chunks(m.html.encode(), bufsize):
        yield c
    for cid, source, content_type, filename, start in m.inlines:
        yield b"\r\n--" + rb + b"\r\n" + _inline_head(cid, content_type, filename)
        for c in _source_chunks(source, start, bufsize):
            yield c
    if m.inlines:
        yield b"\r\n--" + rb + b"--\r\n"
    yield b"\r\n--" + ab + b"--\r\n"


def chunks(m, head, bufsize):
    # Message.chunks() for a message with attachments, an HTML body or inline parts
    if m.inlines and m.html is None:
        raise SMTPUsageError("inline parts need an HTML body that shows them (set_html)")
    if m.attachments:
        b = m.boundary.encode()
        head += _multipart("mixed", m.boundary) + b"\r\n--" + b + b"\r\n"
    first = True
    for c in _text_parts(m, bufsize):
        yield head + c if first else c
        first = False
    if not m.attachments:
        return
    for filename, source, content_type, start in m.attachments:
        # the CRLF before "--" belongs to the delimiter, so the part keeps its last line end
        yield b"\r\n--" + b + b"\r\n" + _attachment_head(filename, content_type)
        for c in _source_chunks(source, start, bufsize):
            yield c
    yield b"\r\n--" + b + b"--\r\n"


# ---- RFC 2047 encoded words ------------------------------------------------------------------

def _q_piece(ch):
    if ch in _QSAFE:
        return ch
    if ch == " ":
        return "_"
    out = ""
    for b in ch.encode():
        out += "=" + _HEXU[b >> 4] + _HEXU[b & 15]
    return out


def encoded_words(text, first=WORD):
    # -> list of "=?utf-8?q?...?=" or "=?utf-8?b?...?=" words, the first at most `first`
    # chars, the others at most WORD; Q or B, whichever is shorter for this text
    qlen = 0
    for ch in text:
        qlen += len(_q_piece(ch))
    blen = (len(text.encode()) + 2) // 3 * 4
    words = []
    limit = min(first, WORD) - 12     # "=?utf-8?q?" + "?="
    if limit < 4:
        limit = WORD - 12
    if qlen <= blen:
        cur = ""
        for ch in text:
            p = _q_piece(ch)
            if cur and len(cur) + len(p) > limit:
                words.append("=?utf-8?q?" + cur + "?=")
                cur = ""
                limit = WORD - 12
            cur += p
        if cur or not words:
            words.append("=?utf-8?q?" + cur + "?=")
        return words
    cur = b""
    for ch in text:
        b = ch.encode()
        if cur and (len(cur) + len(b) + 2) // 3 * 4 > limit:
            words.append("=?utf-8?b?" + _b64(cur) + "?=")
            cur = b""
            limit = WORD - 12
        cur += b
    if cur or not words:
        words.append("=?utf-8?b?" + _b64(cur) + "?=")
    return words


def _b64(b):
    return str(binascii.b2a_base64(b), "ascii").rstrip()


# ---- RFC 2231 parameters ---------------------------------------------------------------------

def _pct(s):
    out = ""
    for b in s.encode():
        c = chr(b)
        if b < 128 and c in _PCT_SAFE:
            out += c
        else:
            out += "%" + _HEXU[b >> 4] + _HEXU[b & 15]
    return out


def param(key, value):
    # -> list of 'key="value"' or RFC 2231 "key*0*=utf-8''..." segments, each short enough to
    # sit on its own folded header line (" " + segment + ";" <= LINE)
    if is_ascii(value) and '"' not in value and "\\" not in value and len(value) <= LINE - len(key) - 6:
        return [key + '="' + value + '"']
    enc = _pct(value)
    segs = []
    i = 0
    prefix = "utf-8''"
    while i < len(enc) or not segs:
        head = key + "*" + str(len(segs)) + "*=" + prefix
        j = min(i + LINE - 2 - len(head), len(enc))
        # never cut a %XX triplet
        if j < len(enc) and enc[j - 1] == "%":
            j -= 1
        elif j < len(enc) and enc[j - 2] == "%":
            j -= 2
        segs.append(head + enc[i:j])
        prefix = ""
        i = j
    if len(segs) == 1:
        return [key + "*=" + segs[0][len(key) + 4:]]
    return segs


# ---- text and base64 bodies ------------------------------------------------------------------

def line_spans(data, i=0, n=None):
    # (start, end) of each line of bytes data[i:n], without its break; CRLF, CR and LF each end
    # a line; a final line without a break counts, an empty tail does not
    if n is None:
        n = len(data)
    k = data.find(b"\r", i, n)     # next CR, searched again only once passed (no quadratic scans)
    while i < n:
        j = data.find(b"\n", i, n)
        if k >= 0:
            if k < i:
                k = data.find(b"\r", i, n)
            if k >= 0 and (j < 0 or k < j):
                yield i, k
                i = k + 2 if k + 1 < n and data[k + 1] == 10 else k + 1
                continue
        if j < 0:
            yield i, n
            return
        yield i, j
        i = j + 1


def text_lines(data):
    for i, j in line_spans(data):
        yield data[i:j]


class CanonicalText:
    # a read(n) view of text bytes in canonical form (RFC 2046 4.1.1: CRLF line breaks, last
    # line closed), made piecewise, so base64 of a text body needs no second copy of it
    def __init__(self, data):
        from usmtp.stuffing import CRLFNormalizer
        self._data = data
        self._pos = 0
        self._norm = CRLFNormalizer()

    def read(self, n):
        # b"" only at the end (a piece that was just the LF of a split CRLF gives nothing)
        while self._norm is not None:
            if self._pos >= len(self._data):
                tail = self._norm.end()
                self._norm = None
                return tail
            piece = self._data[self._pos:self._pos + n]
            self._pos += n
            out = self._norm.feed(piece)    # may be longer than n: Reader keeps the rest
            if out:
                return out
        return b""


class Reader:
    # fills a caller's buffer from bytes/str or a file-like object (readinto preferred, else
    # read(n)); full blocks until the end, so base64 never pads mid-stream
    def __init__(self, source):
        self._mv = None
        self._f = None
        self._left = b""
        if isinstance(source, str):
            source = source.encode()
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._mv = memoryview(source)
            self._pos = 0
        elif hasattr(source, "readinto") or hasattr(source, "read"):
            self._f = source
            self._into = hasattr(source, "readinto")
        else:
            raise TypeError("attachment source must be bytes, str or a file-like object, not " +
                            type(source).__name__)

    def fill(self, buf):
        # -> number of bytes put in memoryview `buf`; less than len(buf) only at the end
        size = len(buf)
        if self._mv is not None:
            n = min(size, len(self._mv) - self._pos)
            buf[:n] = self._mv[self._pos:self._pos + n]
            self._pos += n
            return n
        n = 0
        if self._left:
            k = min(size, len(self._left))
            buf[:k] = self._left[:k]
            self._left = self._left[k:]
            n = k
        while n < size:
            if self._into:
                k = self._f.readinto(buf[n:])
                if not k:           # 0 at EOF (None: nothing available; treat as the end too)
                    break
                n += k
            else:
                d = self._f.read(size - n)
                if not d:
                    break
                if isinstance(d, str):
                    d = d.encode()  # a text-mode file may give more bytes than asked
                k = min(len(d), size - n)
                buf[n:n + k] = d[:k]
                if k < len(d):
                    self._left = d[k:]
                n += k
        return n


def base64_chunks(reader, bufsize):
    # base64 in 76-char CRLF lines; two fixed buffers of about bufsize, one yield per block
    lines = bufsize // 78
    if lines < 1:
        lines = 1
    inbuf = bytearray(57 * lines)
    inmv = memoryview(inbuf)
    outbuf = bytearray(78 * lines)
    outmv = memoryview(outbuf)
    while True:
        n = reader.fill(inmv)
        if n == 0:
            return
        enc = binascii.b2a_base64(inmv[:n])
        encmv = memoryview(enc)
        total = len(enc) - 1          # b2a_base64 ends with "\n"
        p = 0
        i = 0
        while i < total:
            k = min(76, total - i)
            outmv[p:p + k] = encmv[i:i + k]
            outmv[p + k:p + k + 2] = b"\r\n"
            p += k + 2
            i += k
        encmv = enc = None      # not held across the yield: only the two fixed buffers are
        yield bytes(outmv[:p])
        if n < len(inbuf):
            return


# what usmtp.writer calls here, by number (writer._mime(n, ...)): the writer holds no name of
# them, so a board that writes only plain alerts never interns these names
FOR_WRITER = (refuse, header, _address_header, qp_chunks, qp_line, mailbox_pair,   # 0-5
              envelope, arguments, extra_header, method, base64_body, chunks)     # 6-11
