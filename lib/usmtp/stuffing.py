# Streaming line-end normalisation and dot-stuffing for the SMTP message body.
#
# DataStuffer (DATA, RFC 5321 4.5.2) and CRLFNormalizer (BDAT, RFC 3030) turn a message given
# in chunks of any size into wire bytes: bare LF, bare CR and CRLF all become one CRLF, even
# when a CR ends one chunk and its LF starts the next; DataStuffer doubles a leading "." on
# every line, even when the line starts at a chunk boundary, so "\n.\r\n", "\r.\n" and friends
# can never end the DATA early (SMTP smuggling).  State is two flags: memory is O(chunk).
# The work is done with C-level bytes.replace/startswith, never a per-byte Python loop.


def _as_bytes(chunk):
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode()
    if isinstance(chunk, (bytearray, memoryview)):
        return bytes(chunk)
    raise TypeError("message chunk must be bytes, bytearray, memoryview or str, not " +
                    type(chunk).__name__)


class CRLFNormalizer:
    # Without dot-stuffing: for BDAT, where the byte count delimits the message.
    _dots = False

    def __init__(self):
        self._bol = True        # the next output byte starts a line
        self._cr = False        # the last input byte was a CR, already written as CRLF
        self._ended = False

    def feed(self, chunk):
        if self._ended:
            raise ValueError("feed() after end()")
        data = _as_bytes(chunk)
        if not data:
            return b""
        if self._cr:
            self._cr = False
            if data[0] == 10:   # the LF of a CRLF split across chunks: already written
                data = data[1:]
                if not data:
                    return b""
        if b"\r" in data:
            self._cr = data[-1] == 13
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" in data:
            data = data.replace(b"\n", b"\r\n")
        if self._dots:
            if b"\r\n." in data:
                data = data.replace(b"\r\n.", b"\r\n..")
            if self._bol and data[0] == 46:
                data = b"." + data
        self._bol = data[-1] == 10
        return data

    def end(self):
        # close the last line; DataStuffer adds the end-of-data mark
        if self._ended:
            raise ValueError("end() called twice")
        self._ended = True
        tail = b"" if self._bol else b"\r\n"
        if self._dots:
            tail += b".\r\n"
        return tail


class DataStuffer(CRLFNormalizer):
    _dots = True


def normalize(data):
    # the whole-message form of CRLFNormalizer (tests and small messages)
    n = CRLFNormalizer()
    return n.feed(data) + n.end()


def unstuff(data):
    # What a server does with DATA bytes: stop at the first end-of-data mark, undo the stuffing.
    # Anything after that mark would be read as commands: refused here so tests notice.
    data = _as_bytes(data)
    if data.startswith(b".\r\n"):
        end = 0
    else:
        end = data.find(b"\r\n.\r\n")
        if end < 0:
            raise ValueError("no end-of-data mark")
        end += 2
    if end + 3 != len(data):
        raise ValueError("bytes after the end-of-data mark at offset " + str(end))
    body = data[:end]
    if body.startswith(b"."):
        body = body[1:]
    return body.replace(b"\r\n.", b"\r\n")
