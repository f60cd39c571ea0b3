# The streaming message writer: an RFC 5322 / MIME message as a generator of byte chunks.
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

import usmtp.mimeenc as mimeenc
from usmtp.checks import address_problem, display_name_problem, split_mailbox, token_problem
from usmtp.clock import now  # noqa: F401 (the writer's clock: UTC Unix seconds)
from usmtp.errors import SMTPUsageError

_RESERVED = ("from", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version",
             "content-type", "content-transfer-encoding")


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
        first = mimeenc.LINE - len(name) - 2 if not tokens else mimeenc.WORD
        words = mimeenc.phrase_tokens(dname, first)
        if words:
            tokens.extend(words)
            tokens.append("<" + addr + ">" + sep)
        else:
            tokens.append(addr + sep)
    return mimeenc.fold(name, tokens)


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
            or not right or "@" in right or not mimeenc.is_ascii(mid)):
        raise SMTPUsageError("header Message-ID: expected <left@right>, got " + repr(mid))
    for c in " \t<>\"(),;\\":
        if c in mid[1:-1]:
            raise SMTPUsageError("header Message-ID: " + repr(c) + " not allowed in " + repr(mid))
    return mid


def _random_hex(nbytes):
    try:
        import os
        raw = os.urandom(nbytes)
    except (ImportError, AttributeError, NotImplementedError, OSError):
        import random
        raw = bytes([random.getrandbits(8) for _ in range(nbytes)])
    out = ""
    for b in raw:
        out += "0123456789abcdef"[b >> 4] + "0123456789abcdef"[b & 15]
    return out


def _check_content_type(ct):
    if not isinstance(ct, str):
        raise SMTPUsageError("attachment content type must be a string")
    _no_crlf("Content-Type", ct)
    main = ct.partition(";")[0].strip()
    typ, slash, sub = main.partition("/")
    if not slash or not typ or not sub or " " in main or not mimeenc.is_ascii(ct):
        raise SMTPUsageError("header Content-Type: expected type/subtype, got " + repr(ct))
    if typ.lower() == "multipart":
        raise SMTPUsageError("header Content-Type: an attachment cannot be multipart")
    return ct


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
        # "=_" can never occur in base64 or quoted-printable text: no part can hold the boundary
        self.boundary = "=_outpost_" + _random_hex(12)

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
            if name.lower() in _RESERVED:
                raise SMTPUsageError("extra header " + name + ": set by the writer, pass it as an"
                                     " argument instead")
            _no_crlf(name, value)
            out.append((name, value))
        return out

    def attach(self, filename, source, content_type="application/octet-stream"):
        if not isinstance(filename, str) or not filename:
            raise SMTPUsageError("attachment filename must be a non-empty string")
        _no_crlf("Content-Disposition", filename)
        _check_content_type(content_type)
        if not isinstance(source, (bytes, bytearray, memoryview, str)) and \
                not hasattr(source, "readinto") and not hasattr(source, "read"):
            raise SMTPUsageError("attachment " + filename + ": source must be bytes, str or a"
                                 " file-like object, not " + type(source).__name__)
        start = None
        if hasattr(source, "seek") and hasattr(source, "tell"):
            try:
                start = source.tell()   # so chunks() can run again (a retry) from the same place
            except (OSError, AttributeError, ValueError):
                start = None
        self.attachments.append((filename, source, content_type, start))

    def set_html(self, html):
        # the body as HTML too: readers show it and fall back to the plain text
        if isinstance(html, (bytes, bytearray)):
            html = str(html, "utf-8")
        if not isinstance(html, str):
            raise SMTPUsageError("HTML body must be str, not " + type(html).__name__)
        self.html = html

    def inline(self, cid, source, content_type, filename=None):
        # a part of the HTML body (multipart/related), referred to as src="cid:<cid>"; streamed
        # like an attachment. cid is "left@right" without the angle brackets.
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
        start = None
        if hasattr(source, "seek") and hasattr(source, "tell"):
            try:
                start = source.tell()
            except (OSError, AttributeError, ValueError):
                start = None
        self.inlines.append((cid, source, content_type, filename, start))

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
        h += mimeenc.unstructured("Subject", self.subject)
        h += b"Date: " + mimeenc.format_date(self.date).encode() + b"\r\n"
        h += b"Message-ID: " + self.message_id.encode() + b"\r\n"
        for name, value in self.headers:
            h += mimeenc.unstructured(name, value)
        h += b"MIME-Version: 1.0\r\n"
        return h

    def _text_part_head(self):
        return (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " +
                self.body_encoding.encode() + b"\r\n\r\n")

    def _body_chunks(self, bufsize):
        data = self.body.encode()       # the one copy of the body; encoded piecewise from here
        if self.body_encoding == "base64":
            return mimeenc.base64_chunks(mimeenc.Reader(mimeenc.CanonicalText(data)), bufsize)
        return mimeenc.qp_chunks(data, bufsize)

    def _attachment_head(self, filename, content_type):
        ct = mimeenc.fold("Content-Type", [content_type + ";"] + _semi(mimeenc.param("name", filename)))
        cd = mimeenc.fold("Content-Disposition", ["attachment;"] +
                          _semi(mimeenc.param("filename", filename)))
        return ct + b"Content-Transfer-Encoding: base64\r\n" + cd + b"\r\n"

    def _inline_head(self, cid, content_type, filename):
        h = mimeenc.fold("Content-Type", [content_type])
        h += b"Content-Transfer-Encoding: base64\r\nContent-ID: <" + cid.encode() + b">\r\n"
        if filename:
            h += mimeenc.fold("Content-Disposition", ["inline;"] + _semi(mimeenc.param("filename", filename)))
        else:
            h += b"Content-Disposition: inline\r\n"
        return h + b"\r\n"

    def _multipart(self, subtype, boundary, extra=""):
        params = ["multipart/" + subtype + ";", 'boundary="' + boundary + '"' + (";" if extra else "")]
        if extra:
            params.append(extra)
        return mimeenc.fold("Content-Type", params)

    def _nested(self, kind):
        return "=_outpost_" + kind + "_" + self.boundary[len("=_outpost_"):]

    def _text_parts(self, bufsize):
        # the body: text/plain alone, or multipart/alternative of text/plain and the HTML
        # (itself multipart/related when it shows inline parts). Starts with the part's headers.
        if self.html is None:
            yield self._text_part_head()
            for c in self._body_chunks(bufsize):
                yield c
            return
        # nested boundaries must not start with the outer one (RFC 2046 5.1.1: a parser may
        # match a delimiter by prefix): "=_outpost_alt_<hex>" vs "=_outpost_<hex>"
        alt = self._nested("alt")
        ab = alt.encode()
        yield self._multipart("alternative", alt) + b"\r\n--" + ab + b"\r\n" + self._text_part_head()
        for c in self._body_chunks(bufsize):
            yield c
        yield b"\r\n--" + ab + b"\r\n"
        rel = self._nested("rel")
        rb = rel.encode()
        if self.inlines:
            yield self._multipart("related", rel, 'type="text/html"') + b"\r\n--" + rb + b"\r\n"
        yield b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        for c in mimeenc.qp_chunks(self.html.encode(), bufsize):
            yield c
        for cid, source, content_type, filename, start in self.inlines:
            if start is not None:
                source.seek(start)
            yield b"\r\n--" + rb + b"\r\n" + self._inline_head(cid, content_type, filename)
            for c in mimeenc.base64_chunks(mimeenc.Reader(source), bufsize):
                yield c
        if self.inlines:
            yield b"\r\n--" + rb + b"--\r\n"
        yield b"\r\n--" + ab + b"--\r\n"

    def chunks(self, bufsize=1024):
        # generator of bytes chunks, CRLF line ends, memory O(bufsize)
        if not isinstance(bufsize, int) or bufsize < 78:
            raise SMTPUsageError("bufsize must be an int >= 78")
        if self.inlines and self.html is None:
            raise SMTPUsageError("inline parts need an HTML body that shows them (set_html)")
        head = self._head()
        if not self.attachments:
            first = True
            for c in self._text_parts(bufsize):
                yield head + c if first else c
                first = False
            return
        b = self.boundary.encode()
        head += self._multipart("mixed", self.boundary) + b"\r\n--" + b + b"\r\n"
        first = True
        for c in self._text_parts(bufsize):
            yield head + c if first else c
            first = False
        for filename, source, content_type, start in self.attachments:
            if start is not None:
                source.seek(start)
            # the CRLF before "--" belongs to the delimiter, so the part keeps its last line end
            yield b"\r\n--" + b + b"\r\n" + self._attachment_head(filename, content_type)
            for c in mimeenc.base64_chunks(mimeenc.Reader(source), bufsize):
                yield c
        yield b"\r\n--" + b + b"--\r\n"

    def as_bytes(self):
        # the whole message at once: for tests and small messages only
        return b"".join(self.chunks())


def _semi(params):
    # "a", "b", "c" -> "a;", "b;", "c" (parameters separated by ';', each foldable)
    return [p + ";" for p in params[:-1]] + params[-1:]
