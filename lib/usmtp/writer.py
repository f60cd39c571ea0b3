# The streaming message writer: an RFC 5322 / MIME message as a generator of byte chunks.
# A plain-text message needs only this module and usmtp.mimeenc; attachments, HTML, inline parts
# and non-ASCII headers load usmtp.mime when a message has them.
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
            from usmtp.mime import base64_chunks, CanonicalText, Reader
            return base64_chunks(Reader(CanonicalText(data)), bufsize)
        return mimeenc.qp_chunks(data, bufsize)

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
