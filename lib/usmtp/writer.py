# The streaming message writer: an RFC 5322 / MIME message as a generator of byte chunks.
# This module is what a plain alert needs (ASCII headers that fit on a line, display names of
# plain words, a text/plain body in quoted-printable with LF line ends, Date, Message-ID,
# MIME-Version); usmtp.mime loads when a message needs more: header folding, quoted or non-ASCII
# display names, RFC 2047 encoded words, a base64 body, CR line ends, attachments, HTML and
# inline parts, a made-up Message-ID or Date, and what a refused argument is told. The writer
# calls those by number (_mime), so it interns none of their names.
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

from usmtp.checks import TOKEN_CHARS, mailbox_problem, split_mailbox, token_problem
from usmtp.clock import iso

# A header line here is at most 78 chars (RFC 5322 2.1.1; usmtp.mime.LINE, where longer ones
# are folded).


def __getattr__(name):
    # what goes beyond a plain alert is in usmtp.mime; its encoders are importable from here too
    if name[:1] == "_":
        raise AttributeError(name)
    import usmtp.mime
    return getattr(usmtp.mime, name)


def _mime(n, *args):
    # usmtp.mime's function number n (usmtp.mime.FOR_WRITER) on args: what a plain alert never
    # needs. By number, so a board that loads only this module does not intern their names.
    import usmtp.mime
    return usmtp.mime.FOR_WRITER[n](*args)


def _header(name, v):
    # a free-text header (Subject, extra headers): one line when it is printable ASCII that
    # fits and starts with no space (a reader gets it back unchanged); anything else goes to
    # usmtp.mime, which refuses CR, LF and NUL (header injection), folds, or writes encoded
    # words. ("" < " " and a first space both fail the first test, before min() would see "".)
    if isinstance(v, str) and v[:1] > " " <= min(v) and max(v) <= "~" and "=?" not in v and \
            len(name) + len(v) <= 76:      # "Name: value" within 78
        return (name + ": " + v + "\r\n").encode()
    return _mime(1, name, v)      # header: checked, folded or encoded


def _boxes(name, items, out):
    # an address header from its mailboxes (each as parse_mailbox takes it), each address
    # appended to out once: one line when every display name is words (letters, digits, "-",
    # "_") with single spaces (none first or last: "  " not in " name "), and it all fits
    line = name + ":"
    ok = True
    boxes = []
    for v in items:
        dname, addr = v = parse_mailbox(name, v)
        boxes.append(v)
        if addr not in out:
            out.append(addr)
        if dname:
            ok = ok and "  " not in " " + dname + " " and "." not in dname and \
                not dname.replace(" ", "-").strip(TOKEN_CHARS)
            addr = dname + " <" + addr + ">"
        line += " " + addr + ","
    if ok and len(line) <= 79:      # 78 and the last ","
        return (line[:-1] + "\r\n").encode()
    return _mime(2, name, boxes)      # _address_header: folded, quoted or encoded


# ---- bodies ----------------------------------------------------------------------------------

def qp_chunks(data, bufsize):
    # quoted-printable body from bytes, in chunks of about bufsize (memory O(bufsize) whatever
    # the body's size). A line of printable ASCII (an alert's) is encoded here: a soft break
    # every 75 chars, its last space as =20 ("-- ", a signature's separator); usmtp.mime
    # encodes any other line (other bytes, "=", longer than bufsize: a segment at a time) and
    # a body with CR line ends. LF ends a line; a final line without a break counts.
    if b"\r" in data:
        yield from _mime(3, data, bufsize)      # qp_chunks: any line end
        return
    out = bytearray()
    n = len(data)
    i = 0
    while i < n:
        j = data.find(b"\n", i)
        if j < 0:
            j = n
        k = j - i
        if out and (len(out) >= bufsize or k > bufsize):     # a chunk full, or a long line next
            yield bytes(out)
            out = bytearray()
        if k > bufsize:
            yield from _mime(3, data, bufsize, i, j)    # qp_chunks: in segments
        else:
            line = data[i:j]
            if k and (min(line) < 32 or max(line) > 126 or b"=" in line or
                      line[k - 1] == 32 and k > 73):
                _mime(4, line, out)     # qp_line: byte by byte
            else:
                if k and line[k - 1] == 32:
                    line = line[:k - 1] + b"=20"    # 73 chars at most: no soft break below
                p = 0
                while k - p > 76:
                    out += line[p:p + 75]
                    out += b"=\r\n"
                    p += 75
                out += line[p:]
                out += b"\r\n"
        i = j + 1
    if out:
        yield bytes(out)


def format_date(v):
    # UTC Unix seconds -> "Sat, 28 Nov 2026 12:45:21 +0000", read off usmtp.clock's ISO form
    # ("2026-11-28T12:45:21Z"; 1970-01-01 was a Thursday)
    y, _, s = iso(v).partition("-")
    w = v // 86400 % 7 * 3
    m = int(s[:2]) * 3
    return "%s, %s %s %s %s +0000" % ("ThuFriSatSunMonTueWed"[w:w + 3], s[3:5],
                                     "JanFebMarAprMayJunJulAugSepOctNovDec"[m - 3:m], y, s[6:14])


# ---- the message ------------------------------------------------------------------------------

def parse_mailbox(name, v):
    # header name's "addr", "<addr>", "Name <addr>", '"Name, Jr." <addr>' or (name, addr)
    # -> (name, addr)
    if isinstance(v, str) and not mailbox_problem(v):
        return split_mailbox(v)
    return _mime(5, name, v)     # mailbox_pair: a tuple checked, or what is wrong


def make_message_id(alert_id, sender):
    # "<alert_id@sender-domain>": the same alert gives the same Message-ID on every retry and
    # every path (lib/outpost_contract/README.md), so the receiving side can drop duplicates
    if token_problem(alert_id, 128):
        _mime(0, "", 3, alert_id)       # refuse: says why
    return "<" + alert_id + "@" + parse_mailbox("From", sender)[1].rpartition("@")[2] + ">"


class Message:
    def __init__(self, sender, to, subject, body="", cc=None, bcc=None, date=None,
                 message_id=None, headers=None, body_encoding="quoted-printable"):
        # checked and written at once: the header block (bytes, up to MIME-Version) and the
        # envelope (To + Cc + Bcc, each address once, in order)
        out = []
        h = _boxes("From", [sender], out)
        self.sender = out.pop()     # its address
        if to and isinstance(to, list) and cc is None and bcc is None:
            h += _boxes("To", to, out)      # an alert's: a list of To recipients
        else:   # Cc, Bcc, a str or a tuple: usmtp.mime (the same rules)
            h += _mime(6, to, cc, bcc, out)     # envelope
        h += _header("Subject", subject)
        # an alert's body, date, Message-ID and encoding pass here: a str, UTC seconds, the
        # "<left@right>" that make_message_id gives (letters, digits, ". _ -"), quoted-printable;
        # usmtp.mime checks any other (or says what is wrong) and makes a missing date or id
        a, _, b = (message_id[1:-1] if isinstance(message_id, str) and
                   message_id[:1] + message_id[-1:] == "<>" else "").partition("@")
        if not (isinstance(body, str) and type(date) is int and date >= 0 and a and b and
                token_problem(a + "." + b, 248) is None and body_encoding == "quoted-printable"):
            body, date, message_id, body_encoding = _mime(7, self, body, date, message_id,
                                                          body_encoding)    # arguments
        self.body = body
        self.date = date
        self.message_id = message_id
        self.body_encoding = body_encoding
        h += ("Date: " + format_date(date) + "\r\nMessage-ID: " + message_id + "\r\n").encode()
        headers = headers or ()
        for name, value in headers.items() if isinstance(headers, dict) else headers:
            # extra headers: "X-" and letters, digits, ". _ -", or threading; any other name
            # is checked by usmtp.mime (printable ASCII, not one the writer sets)
            if not (isinstance(name, str) and (name[:2] == "X-" and not name.strip(TOKEN_CHARS)
                                               or name == "In-Reply-To" or name == "References")):
                _mime(8, name, value)       # extra_header: says which rule
            h += _header(name, value)
        self.head = h + b"MIME-Version: 1.0\r\n"
        self.rcpts = out

    boundary = None     # a multipart message's (usmtp.mime sets it with its first part)

    def __getattr__(self, name):
        # attach, set_html, inline, as_bytes, and the parts they add (attachments, html,
        # inlines): usmtp.mime's, loaded when a message first names one
        if name[:1] == "_":
            raise AttributeError(name)
        return _mime(9, self, name)     # method

    def recipients(self):
        # the envelope: To + Cc + Bcc, each address once, in order
        return self.rcpts[:]

    def _text_part(self, head, bufsize):
        # the text/plain part, its headers after head (bytes): a generator of chunks
        e = self.body_encoding
        yield head + b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: " + \
            e.encode() + b"\r\n\r\n"
        data = self.body.encode()       # the one copy of the body; encoded piecewise from here
        yield from qp_chunks(data, bufsize) if e[0] == "q" else \
            _mime(10, data, bufsize)      # base64_body

    def chunks(self, bufsize=1024):
        # generator of bytes chunks, CRLF line ends, memory O(bufsize)
        if not isinstance(bufsize, int) or bufsize < 78:
            _mime(0, "", 6, bufsize)        # refuse: says why
        if self.boundary is not None:       # attachments, an HTML body or inline parts
            return _mime(11, self, self.head, bufsize)      # chunks
        return self._text_part(self.head, bufsize)

    __iter__ = chunks
