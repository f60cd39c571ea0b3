# Encoders for the message writer, small enough for MicroPython: what a plain-text message needs
#   - header folding (RFC 5322 2.2.3), display names and free text that are ASCII,
#   - quoted-printable body lines (RFC 2045 6.7),
#   - the RFC 5322 date from UTC Unix seconds (civil-date arithmetic in usmtp.clock:
#     MicroPython ports disagree on the epoch of time.gmtime).
# Non-ASCII headers (RFC 2047 encoded words), RFC 2231 parameters and base64 streaming are in
# usmtp.mime, loaded only when a message needs them; their names are importable from here too
# (module __getattr__). Everything returns or yields bytes with CRLF line ends.

from usmtp.clock import civil  # noqa: F401 (also re-exported: a board's log shows dates without this module)

LINE = 78               # folded header line length goal (RFC 5322 2.1.1)
WORD = 75               # encoded word limit (RFC 2047 2)
_QSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
_HEXU = "0123456789ABCDEF"
_MIME = " param text_lines CanonicalText Reader base64_chunks "


def __getattr__(name):
    if " " + name + " " in _MIME:
        import usmtp.mime
        return getattr(usmtp.mime, name)
    raise AttributeError(name)


def is_ascii(s):
    # MicroPython's str has no isascii(); a str is ASCII when its UTF-8 form is no longer
    return len(s.encode()) == len(s)


def encoded_words(text, first=WORD):
    from usmtp.mime import encoded_words as f
    return f(text, first)


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


# ---- Date ------------------------------------------------------------------------------------

_DAYS = "ThuFriSatSunMonTueWed"      # 1970-01-01 was a Thursday
_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"


def format_date(ts):
    # UTC Unix seconds -> "Sat, 28 Nov 2026 12:45:21 +0000"
    days = ts // 86400
    secs = ts - days * 86400
    y, m, d = civil(days)
    return "%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        _DAYS[days % 7 * 3:days % 7 * 3 + 3], d, _MONTHS[m * 3 - 3:m * 3], y, secs // 3600, secs // 60 % 60, secs % 60)
