# The streaming message writer: an RFC 5322 / MIME message as a generator of byte chunks.
# A plain-text message needs only this module (its encoders are here: header folding, display
# names and free text that are ASCII, quoted-printable body lines (RFC 2045 6.7), the RFC 5322
# date from UTC Unix seconds); attachments, HTML, inline parts and non-ASCII headers (RFC 2047
# encoded words, RFC 2231 parameters, base64 streaming) load usmtp.mime when a message has them.
#
#   m = Message(sender, to, subject, body, cc=None, bcc=None, date=None, message_id=None,
#               headers=None, body_encoding="quoted-printable")
#   m.attach(filename, source, content_type)   # bytes/str or a file-like object
#   m.set_html(html)                           # an HTML version of the body (multipart/alternative)
#   m.inline(cid, source, content_type)        # a part the HTML shows as "cid:<cid>"
#                                              # (multipart/related, e.g. a chart)
#   smtp.sendmail(sender_addr, m.recipients(), m.chunks())
#
# Bcc recipients are in recipients() (the envelope) and never in a header.  Attachments are read
# and base64-encoded block by block from fixed buffers, so memory is O(bufsize) whatever their
# size.  Every header value and address is checked for CR, LF and NUL (header injection) and
# refused with SMTPUsageError naming the header.  Output lines end in CRLF.

from usmtp.checks import address_problem, display_name_problem, split_mailbox, token_problem
from usmtp.clock import civil, now  # noqa: F401 (the writer's clock: UTC Unix seconds)
from usmtp.errors import SMTPUsageError

LINE = 78               # folded header line length goal (RFC 5322 2.1.1)
WORD = 75               # encoded word limit (RFC 2047 2)
_QSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/"
_HEXU = "0123456789ABCDEF"
_MIME = " param text_lines CanonicalText Reader base64_chunks "


def __getattr__(name):
    # what goes beyond plain text is in usmtp.mime; its encoders are importable from here too
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
    if col == 0 and final and min(line) >= 32 and max(line) <= 126 and b"=" not in line:
        # plain printable ASCII (the common case): C-level checks, cut every 75 chars
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
    from usmtp.mime import qp_any     # anything else: byte by byte
    return qp_any(line, out, col, final)


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


# ---- the message ------------------------------------------------------------------------------

_RESERVED = " from to cc bcc subject date message-id mime-version content-type content-transfer-encoding "


def _no_crlf(header, value):
    if "\r" in value or "\n" in value or "\0" in value:
        raise SMTPUsageError("header " + header + ": CR, LF or NUL not allowed in " + repr(value))


def check_address(header, addr):
    # the one address rule (usmtp.checks), named after the header it was meant for
    if isinstance(addr, str):
        _no_crlf(header, addr)
    p = address_problem(addr)
    if p:
        raise SMTPUsageError("header " + header + ": invalid address " + repr(addr) + ": " + p)
    return addr


def parse_mailbox(header, item):
    # "addr", "<addr>", "Name <addr>", '"Name, Jr." <addr>' or (name, addr) -> (name, addr)
    if isinstance(item, (tuple, list)):
        if len(item) != 2:
            raise SMTPUsageError("header " + header + ": a mailbox tuple is (name, address)")
        name, addr = item
        name = name or ""
    elif isinstance(item, str):
        _no_crlf(header, item)
        try:
            name, addr = split_mailbox(item)
        except ValueError as e:
            raise SMTPUsageError("header " + header + ": invalid address " + repr(item) + ": " + str(e))
    else:
        raise SMTPUsageError("header " + header + ": address must be a string or a (name, address)"
                             " tuple, not " + type(item).__name__)
    if isinstance(name, str):
        _no_crlf(header, name)
    p = display_name_problem(name)
    if p:
        raise SMTPUsageError("header " + header + ": display name " + p)
    return name, check_address(header, addr)


def _mailbox_list(header, items):
    if items is None:
        return []
    if isinstance(items, tuple) and len(items) == 2 and isinstance(items[0], str) and \
            "@" in items[0] and " " not in items[0].strip() and "<" not in items[0]:
        # ("a@x", "b@y") is almost surely two addresses, not (name, address): say so
        raise SMTPUsageError("header " + header + ": a tuple is one (name, address) mailbox;"
                             " pass several addresses as a list")
    if not isinstance(items, list):
        items = [items]
    return [parse_mailbox(header, x) for x in items]


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


def _domain(addr):
    return addr.rpartition("@")[2]


def make_message_id(alert_id, sender):
    # "<alert_id@sender-domain>": the same alert gives the same Message-ID on every retry and
    # every path (lib/outpost_contract/README.md), so the receiving side can drop duplicates
    p = token_problem(alert_id, 128)
    if p:
        raise SMTPUsageError("message id: alert id " + repr(alert_id) + " " + p)
    addr = parse_mailbox("Message-ID", sender)[1]
    return "<" + alert_id + "@" + _domain(addr) + ">"


def check_message_id(mid):
    if not isinstance(mid, str):
        raise SMTPUsageError("header Message-ID: must be a string")
    _no_crlf("Message-ID", mid)
    left, at, right = mid[1:-1].partition("@")
    if (len(mid) > 250 or not mid.startswith("<") or not mid.endswith(">") or not at or not left
            or not right or "@" in right or not is_ascii(mid)):
        raise SMTPUsageError("header Message-ID: expected <left@right>, got " + repr(mid))
    for c in " \t<>\"(),;\\":
        if c in mid[1:-1]:
            raise SMTPUsageError("header Message-ID: " + repr(c) + " not allowed in " + repr(mid))
    return mid


class Message:
    def __init__(self, sender, to, subject, body="", cc=None, bcc=None, date=None,
                 message_id=None, headers=None, body_encoding="quoted-printable"):
        self.sender = parse_mailbox("From", sender)
        self.to = _mailbox_list("To", to)
        self.cc = _mailbox_list("Cc", cc)
        self.bcc = _mailbox_list("Bcc", bcc)
        if not (self.to or self.cc or self.bcc):
            raise SMTPUsageError("message has no recipient (to, cc and bcc are all empty)")
        if not isinstance(subject, str):
            raise SMTPUsageError("header Subject: must be a string")
        _no_crlf("Subject", subject)
        self.subject = subject
        if isinstance(body, (bytes, bytearray)):
            try:
                body = str(body, "utf-8")
            except (UnicodeError, ValueError):
                raise SMTPUsageError("message body: bytes must be UTF-8 text")
        if not isinstance(body, str):
            raise SMTPUsageError("message body must be str, not " + type(body).__name__)
        self.body = body
        if date is None:
            date = now()
        if not isinstance(date, int) or isinstance(date, bool) or date < 0:
            raise SMTPUsageError("header Date: date must be UTC Unix seconds (int >= 0)")
        self.date = date
        if message_id is None:
            from usmtp.mime import _random_hex
            message_id = "<" + _random_hex(12) + "." + str(date) + "@" + \
                _domain(self.sender[1]) + ">"
        self.message_id = check_message_id(message_id)
        if body_encoding in ("quoted-printable", "qp"):
            self.body_encoding = "quoted-printable"
        elif body_encoding == "base64":
            self.body_encoding = "base64"
        else:
            raise SMTPUsageError("body_encoding must be 'quoted-printable' or 'base64', not " +
                                 repr(body_encoding))
        self.headers = self._extra_headers(headers)
        self.attachments = []
        self.html = None
        self.inlines = []
        self.boundary = None        # a multipart message's (usmtp.mime)

    @staticmethod
    def _extra_headers(headers):
        if headers is None:
            return []
        items = headers.items() if isinstance(headers, dict) else headers
        out = []
        for item in items:
            name, value = item
            if not isinstance(name, str) or not name or not isinstance(value, str):
                raise SMTPUsageError("extra header " + repr(name) + ": name and value must be strings")
            for c in name:
                if not 33 <= ord(c) <= 126 or c == ":":
                    raise SMTPUsageError("extra header " + repr(name) +
                                         ": name may only hold printable ASCII without ':'")
            if " " + name.lower() + " " in _RESERVED:
                raise SMTPUsageError("extra header " + name + ": set by the writer, pass it as an"
                                     " argument instead")
            _no_crlf(name, value)
            out.append((name, value))
        return out

    # attachments, HTML and inline parts: usmtp.mime, loaded only when a message has them
    def attach(self, filename, source, content_type="application/octet-stream"):
        from usmtp.mime import attach
        attach(self, filename, source, content_type)

    def set_html(self, html):
        # the body as HTML too: readers show it and fall back to the plain text
        from usmtp.mime import set_html
        set_html(self, html)

    def inline(self, cid, source, content_type, filename=None):
        # a part of the HTML body (multipart/related), referred to as src="cid:<cid>"
        from usmtp.mime import inline
        inline(self, cid, source, content_type, filename)

    def recipients(self):
        # the envelope: To + Cc + Bcc, each address once, in order
        out = []
        for box in self.to + self.cc + self.bcc:
            if box[1] not in out:
                out.append(box[1])
        return out

    def __iter__(self):
        return self.chunks()

    def _head(self):
        h = _address_header("From", [self.sender])
        if self.to:
            h += _address_header("To", self.to)
        elif not self.cc:
            h += b"To: undisclosed-recipients:;\r\n"
        if self.cc:
            h += _address_header("Cc", self.cc)
        h += unstructured("Subject", self.subject)
        h += b"Date: " + format_date(self.date).encode() + b"\r\n"
        h += b"Message-ID: " + self.message_id.encode() + b"\r\n"
        for name, value in self.headers:
            h += unstructured(name, value)
        h += b"MIME-Version: 1.0\r\n"
        return h

    def _text_part_head(self):
        return (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " +
                self.body_encoding.encode() + b"\r\n\r\n")

    def _body_chunks(self, bufsize):
        data = self.body.encode()       # the one copy of the body; encoded piecewise from here
        if self.body_encoding == "base64":
            from usmtp.mime import base64_chunks, CanonicalText, Reader
            return base64_chunks(Reader(CanonicalText(data)), bufsize)
        return qp_chunks(data, bufsize)

    def chunks(self, bufsize=1024):
        # generator of bytes chunks, CRLF line ends, memory O(bufsize)
        if not isinstance(bufsize, int) or bufsize < 78:
            raise SMTPUsageError("bufsize must be an int >= 78")
        head = self._head()
        if self.attachments or self.html is not None or self.inlines:
            from usmtp.mime import chunks
            yield from chunks(self, head, bufsize)
            return
        yield head + self._text_part_head()
        for c in self._body_chunks(bufsize):
            yield c

    def as_bytes(self):
        # the whole message at once: for tests and small messages only
        return b"".join(self.chunks())
