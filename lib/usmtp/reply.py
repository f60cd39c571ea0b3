# Reply parsing for the client core: bytes from the server -> Reply objects.
# Everything the server controls is bounded (line length, continuation lines, total size), and
# anything that is not a well-formed reply raises SMTPProtocolError: a remote fault, never a crash.

from usmtp.errors import SMTPProtocolError

MAX_LINE = 2048      # RFC 5321 says 512; real servers are sloppier, so allow some slack
MAX_LINES = 100      # continuation lines in one reply (EHLO lists ~20)
MAX_REPLY = 16384    # total bytes of one reply


class Reply:
    def __init__(self, code, lines, enhanced=None):
        self.code = code
        self.lines = lines          # text of each line, enhanced code stripped
        self.enhanced = enhanced    # "5.1.1" or None

    @property
    def text(self):
        return "\n".join(self.lines)


def _ascii(b):
    # reply text is meant to be ASCII; show anything else without failing on it
    try:
        return b.decode("utf-8")
    except UnicodeError:
        out = []
        for c in b:
            out.append(chr(c) if 32 <= c < 127 else "?")
        return "".join(out)


def _split_enhanced(code, text):
    # "5.1.1 User unknown" -> ("5.1.1", "User unknown") when the class matches the reply code
    head, sep, rest = text.partition(" ")
    parts = head.split(".")
    if len(parts) != 3 or parts[0] != str(code // 100):
        return None, text
    for i in range(3):
        p = parts[i]
        if not p or len(p) > 3 or not p.isdigit():
            return None, text
    return head, rest


class ReplyParser:
    """Accumulates received bytes and yields complete replies."""

    def __init__(self, max_line=MAX_LINE, max_lines=MAX_LINES, max_reply=MAX_REPLY):
        self.max_line = max_line
        self.max_lines = max_lines
        self.max_reply = max_reply
        self._buf = bytearray()
        self._pos = 0           # start of the first unparsed line
        self._code = None       # code of the reply being assembled
        self._lines = []
        self._size = 0
        self._enh = None

    def feed(self, data):
        self._buf.extend(data)
        # a line that never ends must not eat the heap
        if len(self._buf) - self._pos > self.max_line and self._buf.find(b"\n", self._pos) < 0:
            raise SMTPProtocolError("reply line longer than %d bytes" % self.max_line)

    def pending(self):
        return len(self._buf) - self._pos

    def take_rest(self):
        # bytes received but not parsed (used to catch data injected before a TLS handshake)
        rest = bytes(self._buf[self._pos:])
        self._buf = bytearray()
        self._pos = 0
        return rest

    def next_reply(self):
        """Return the next complete Reply, or None when more bytes are needed."""
        buf = self._buf
        while True:
            nl = buf.find(b"\n", self._pos)
            if nl < 0:
                self._compact()
                return None
            line = bytes(buf[self._pos:nl])
            self._pos = nl + 1
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > self.max_line:
                raise SMTPProtocolError("reply line longer than %d bytes" % self.max_line)
            self._size += len(line) + 2
            if self._size > self.max_reply:
                raise SMTPProtocolError("reply longer than %d bytes" % self.max_reply)
            code, last, text = self._parse_line(line)
            if self._code is None:
                self._code = code
                enh, text = _split_enhanced(code, text)
                self._enh = enh
            else:
                if code != self._code:
                    raise SMTPProtocolError("reply code changed from %d to %d inside one reply"
                                            % (self._code, code))
                if self._enh is not None:
                    enh, rest = _split_enhanced(code, text)
                    if enh is not None:
                        text = rest
            self._lines.append(text)
            if len(self._lines) > self.max_lines:
                raise SMTPProtocolError("reply has more than %d lines" % self.max_lines)
            if last:
                r = Reply(self._code, self._lines, self._enh)
                self._code = None
                self._lines = []
                self._size = 0
                self._enh = None
                return r

    def _compact(self):
        if self._pos:
            self._buf = self._buf[self._pos:]
            self._pos = 0

    def _parse_line(self, line):
        if len(line) < 3:
            raise SMTPProtocolError("malformed reply line %r" % _ascii(line[:40]))
        d = line[:3]
        if not (48 <= d[0] <= 57 and 48 <= d[1] <= 57 and 48 <= d[2] <= 57):
            raise SMTPProtocolError("malformed reply line %r" % _ascii(line[:40]))
        code = (d[0] - 48) * 100 + (d[1] - 48) * 10 + d[2] - 48
        if code < 200 or code > 599:
            raise SMTPProtocolError("reply code %d is not an SMTP reply" % code)
        if len(line) == 3:
            return code, True, ""
        sep = line[3]
        if sep == 32:       # " "
            return code, True, _ascii(line[4:])
        if sep == 45:       # "-"
            return code, False, _ascii(line[4:])
        raise SMTPProtocolError("malformed reply line %r" % _ascii(line[:40]))


def parse_ehlo(reply):
    """EHLO reply -> {KEYWORD: params string}. The first line is the server's name."""
    ext = {}
    for line in reply.lines[1:]:
        kw, _, params = line.strip().partition(" ")
        # old servers say "AUTH=LOGIN PLAIN"
        if kw[:5].upper() == "AUTH=":
            params = kw[5:] + (" " + params if params else "")
            kw = "AUTH"
        kw = kw.upper()
        if not kw:
            continue
        if kw in ext and kw == "AUTH":
            ext[kw] = ext[kw] + " " + params
        else:
            ext[kw] = params
    return ext
