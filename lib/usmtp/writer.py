# The streaming message writer: an RFC 5322 / MIME message as a generator of byte chunks.
# This module is what a plain alert needs (ASCII headers that fit on a line, display names of
# plain words, a text/plain body in quoted-printable, Date, Message-ID, MIME-Version); usmtp.mime
# loads when a message needs more: header folding, quoted or non-ASCII display names, RFC 2047
# encoded words, a base64 body, attachments, HTML and inline parts, a made-up Message-ID.
#
#   m = Message(sender, to, subject, body, cc=None, bcc=None, date=None, message_id=None,
#               headers=None, body_encoding="quoted-printable")
#   m.attach(filename, source, content_type)   # bytes/str or a file-like object
#   m.set_html(html)                           # an HTML version of the body (multipart/alternative)
#   m.inline(cid, source, content_type)        # a part the HTML shows as "cid:<cid>"
#                                              # (multipart/related, e.g. a chart)
#   smtp.sendmail(sender_addr, m.recipients(), m.chunks())
#
# Bcc recipients are in recipients() (the envelope) and never in a header.  Every header value
# and address is checked for CR, LF and NUL (header injection) and refused with SMTPUsageError
# naming the header.  Output lines end in CRLF; memory is O(bufsize) whatever the body's size.

from usmtp.checks import address_problem, display_name_problem, split_mailbox, token_problem
from usmtp.clock import civil, now  # noqa: F401 (the writer's clock: UTC Unix seconds)
from usmtp.errors import SMTPUsageError

LINE = 78               # folded header line length goal (RFC 5322 2.1.1)


def __getattr__(name):
    # what goes beyond a plain alert is in usmtp.mime; its encoders are importable from here too
    if name[:1] == "_":
        raise AttributeError(name)
    return getattr(_mime(), name)


def is_ascii(s):
    # MicroPython's str has no isascii(); a str is ASCII when its UTF-8 form is no longer
    return len(s.encode()) == len(s)


def _mime():
    import usmtp.mime
    return usmtp.mime


def _header(name, value):
    # free text: one line when it is plain ASCII that fits (a reader gets it back unchanged),
    # else folded or as encoded words by usmtp.mime
    line = name + ": " + value
    if len(line) <= LINE and is_ascii(value) and "=?" not in value and value[:1] != " " and \
            value[:1] != "\t":
        return (line + "\r\n").encode()
    return _mime().unstructured(name, value)


def _boxes(name, boxes):
    # an address header: one line when every display name is plain words and it all fits
    line = name + ":"
    for dname, addr in boxes:
        if dname:
            w = dname.split(" ")
            for c in "".join(w):
                if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9"):
                    w = [""]
            if "" in w:     # no word, or a space leading, trailing or doubled
                return _mime()._address_header(name, boxes)
            addr = dname + " <" + addr + ">"
        line += " " + addr + ","
    if len(line) > LINE + 1:
        return _mime()._address_header(name, boxes)
    return (line[:-1] + "\r\n").encode()


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
    return _mime().qp_any(line, out, col, final)     # anything else: byte by byte


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


def format_date(ts):
    # UTC Unix seconds -> "Sat, 28 Nov 2026 12:45:21 +0000" (1970-01-01 was a Thursday)
    days = ts // 86400
    secs = ts - days * 86400
    y, m, d = civil(days)
    w = days % 7 * 3
    return "%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        "ThuFriSatSunMonTueWed"[w:w + 3], d, "JanFebMarAprMayJunJulAugSepOctNovDec"[m * 3 - 3:m * 3],
        y, secs // 3600, secs // 60 % 60, secs % 60)


# ---- the message ------------------------------------------------------------------------------

def _no_crlf(header, value):
    if "\r" in value or "\n" in value or "\0" in value:
        raise SMTPUsageError("header " + header + ": CR, LF or NUL in " + repr(value))


def _bad(header, what):
    raise SMTPUsageError("header " + header + ": " + what)


def parse_mailbox(header, item):
    # "addr", "<addr>", "Name <addr>", '"Name, Jr." <addr>' or (name, addr) -> (name, addr)
    if isinstance(item, str):
        _no_crlf(header, item)
        try:
            name, addr = split_mailbox(item)
        except ValueError as e:
            _bad(header, "invalid address " + repr(item) + ": " + str(e))
    else:
        name, addr = _mime().mailbox_pair(header, item)     # a tuple, or what is wrong
    p = display_name_problem(name)
    if p:
        _bad(header, "display name " + p)
    p = address_problem(addr)
    if p:
        _bad(header, "invalid address " + repr(addr) + ": " + p)
    return name, addr


def _mailbox_list(header, items):
    if items is None:
        return []
    if isinstance(items, tuple):
        _mime().mailbox_tuple(header, items)
    if not isinstance(items, list):
        items = [items]
    return [parse_mailbox(header, x) for x in items]


def make_message_id(alert_id, sender):
    # "<alert_id@sender-domain>": the same alert gives the same Message-ID on every retry and
    # every path (lib/outpost_contract/README.md), so the receiving side can drop duplicates
    p = token_problem(alert_id, 128)
    if p:
        raise SMTPUsageError("message id: alert id " + repr(alert_id) + " " + p)
    return "<" + alert_id + "@" + parse_mailbox("Message-ID", sender)[1].rpartition("@")[2] + ">"


def _text(header, v):
    # a header's free text: a str without CR, LF or NUL (no header injection)
    if not isinstance(v, str):
        _bad(header, "must be a string")
    _no_crlf(header, v)
    return v


def check_message_id(mid):
    s = _text("Message-ID", mid)[1:-1]
    left, _, right = s.partition("@")
    if len(mid) > 250 or mid[:1] + mid[-1:] != "<>" or not left or not right or "@" in right \
            or not is_ascii(mid):
        _bad("Message-ID", "expected <left@right>, got " + repr(mid))
    for c in " \t<>\"(),;\\":
        if c in s:
            _bad("Message-ID", repr(c) + " not allowed in " + repr(mid))
    return mid


# the headers the writer sets itself: not extra headers
_OWN = " from to cc bcc subject date message-id mime-version content-type content-transfer-encoding "


class Message:
    def __init__(self, sender, to, subject, body="", cc=None, bcc=None, date=None,
                 message_id=None, headers=None, body_encoding="quoted-printable"):
        self.sender = parse_mailbox("From", sender)
        self.to = _mailbox_list("To", to)
        self.cc = _mailbox_list("Cc", cc)
        self.bcc = _mailbox_list("Bcc", bcc)
        if not (self.to or self.cc or self.bcc):
            raise SMTPUsageError("message has no recipient (to, cc and bcc are all empty)")
        self.subject = _text("Subject", subject)
        if not isinstance(body, str):
            body = _mime().body_text(body)      # UTF-8 bytes, or what is wrong
        self.body = body
        if date is None:
            date = now()
        if type(date) is not int or date < 0:
            _bad("Date", "date must be UTC Unix seconds (int >= 0)")
        self.date = date
        if message_id is None:
            message_id = _mime().message_id(self)
        self.message_id = check_message_id(message_id)
        if body_encoding != "quoted-printable":
            body_encoding = _mime().body_encoding(body_encoding)    # base64, or what is wrong
        self.body_encoding = body_encoding
        out = []
        items = headers or ()
        for name, value in items.items() if isinstance(items, dict) else items:
            # extra headers: a name of printable ASCII, not one the writer sets, no CR/LF
            if not (isinstance(name, str) and name and isinstance(value, str) and
                    min(name) > " " and max(name) <= "~" and ":" not in name and
                    " " + name.lower() + " " not in _OWN):
                _mime().extra_header(name, value, _OWN)     # raises: says which rule
            out.append((name, _text(name, value)))
        self.headers = out
        self.attachments = []
        self.html = None
        self.inlines = []
        self.boundary = None        # a multipart message's (usmtp.mime)

    def __getattr__(self, name):
        # attach, set_html, inline, as_bytes: usmtp.mime, loaded when a message calls one
        if " " + name + " " not in " attach set_html inline as_bytes ":
            raise AttributeError(name)
        f = getattr(_mime(), "m_" + name)
        return lambda *a, **k: f(self, *a, **k)

    def recipients(self):
        # the envelope: To + Cc + Bcc, each address once, in order
        out = []
        for box in self.to + self.cc + self.bcc:
            if box[1] not in out:
                out.append(box[1])
        return out

    def __iter__(self):
        return self.chunks()

    def _text_part(self, head, bufsize):
        # the text/plain part, its headers after head (bytes): a generator of chunks
        yield head + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + \
            self.body_encoding.encode() + b"\r\n\r\n"
        data = self.body.encode()       # the one copy of the body; encoded piecewise from here
        if self.body_encoding == "base64":
            yield from _mime().base64_body(data, bufsize)
        else:
            yield from qp_chunks(data, bufsize)

    def chunks(self, bufsize=1024):
        # generator of bytes chunks, CRLF line ends, memory O(bufsize)
        if not isinstance(bufsize, int) or bufsize < 78:
            raise SMTPUsageError("bufsize must be an int >= 78")
        h = _boxes("From", [self.sender])
        if self.to:
            h += _boxes("To", self.to)
        elif not self.cc:
            h += b"To: undisclosed-recipients:;\r\n"
        if self.cc:
            h += _boxes("Cc", self.cc)
        h += _header("Subject", self.subject)
        h += b"Date: " + format_date(self.date).encode() + b"\r\nMessage-ID: " + \
            self.message_id.encode() + b"\r\n"
        for name, value in self.headers:
            h += _header(name, value)
        h += b"MIME-Version: 1.0\r\n"
        if self.attachments or self.html is not None or self.inlines:
            yield from _mime().chunks(self, h, bufsize)
            return
        yield from self._text_part(h, bufsize)
