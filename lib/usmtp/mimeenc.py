# MIME encoders for the message writer, small enough for MicroPython:
#   - header folding (RFC 5322 2.2.3) and RFC 2047 encoded words (never splitting a UTF-8
#     character, each word <= 75 chars, each folded line <= 78),
#   - RFC 2231 parameters for non-ASCII or long attachment file names,
#   - quoted-printable body lines (RFC 2045 6.7) and base64 in 76-char lines from fixed buffers,
#   - the RFC 5322 date from UTC Unix seconds (civil-date arithmetic in usmtp.clock:
#     MicroPython ports disagree on the epoch of time.gmtime).
# Everything returns or yields bytes with CRLF line ends.
import binascii

from usmtp.clock import civil  # noqa: F401 (also re-exported: a board's log shows dates without this module)

LINE = 78               # folded header line length goal (RFC 5322 2.1.1)
WORD = 75               # encoded word limit (RFC 2047 2)
_QSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
_HEXU = "0123456789ABCDEF"
_PCT_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~"


def is_ascii(s):
    # MicroPython's str has no isascii(); a str is ASCII when its UTF-8 form is no longer
    return len(s.encode()) == len(s)


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


# ---- header lines ----------------------------------------------------------------------------

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


# ---- bodies ----------------------------------------------------------------------------------

def qp_line(line, out, col=0, final=True):
    # append text (bytes, no line break) quoted-printable to bytearray `out`, with soft breaks
    # so no encoded line passes 76 chars. A long line may come in segments: pass the returned
    # column back in, and final=True with the last segment (which gets the CRLF).
    n = len(line)
    if n == 0:
        if final:
            out += b"\r\n"
        return 0
    last = line[n - 1]
    if col == 0 and final and min(line) >= 32 and max(line) <= 126 and b"=" not in line \
            and last != 32:
        # plain printable ASCII (the common case): C-level checks, cut every 75 chars
        i = 0
        while n - i > 76:
            out += line[i:i + 75]
            out += b"=\r\n"
            i += 75
        out += line[i:]
        out += b"\r\n"
        return 0
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


def line_spans(data):
    # (start, end) of each line of bytes `data`, without its break; CRLF, CR and LF each end a
    # line; a final line without a break counts, an empty tail does not
    n = len(data)
    k = data.find(b"\r")       # next CR, searched again only once passed (no quadratic scans)
    i = 0
    while i < n:
        j = data.find(b"\n", i)
        if k >= 0:
            if k < i:
                k = data.find(b"\r", i)
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


def qp_chunks(data, bufsize):
    # quoted-printable body from bytes, yielded in chunks of about bufsize (under 5 x bufsize
    # even for one long line: a line longer than bufsize is encoded a segment at a time)
    out = bytearray()
    for i, j in line_spans(data):
        if j - i <= bufsize:
            qp_line(data[i:j], out)
        else:
            col = 0
            while i < j:
                k = min(i + bufsize, j)
                col = qp_line(data[i:k], out, col, k == j)
                i = k
                if len(out) >= bufsize:
                    yield bytes(out)
                    out = bytearray()
        if len(out) >= bufsize:
            yield bytes(out)
            out = bytearray()
    if out:
        yield bytes(out)


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


# ---- Date ------------------------------------------------------------------------------------

_DAYS = ("Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_date(ts):
    # UTC Unix seconds -> "Sat, 28 Nov 2026 12:45:21 +0000"
    days = ts // 86400
    secs = ts - days * 86400
    y, m, d = civil(days)
    return "%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        _DAYS[days % 7], d, _MONTHS[m - 1], y, secs // 3600, secs // 60 % 60, secs % 60)
