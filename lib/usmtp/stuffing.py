# The body encoders as objects, for tests and callers that feed a message piece by piece:
# DataStuffer (DATA: line ends and dot-stuffing) and CRLFNormalizer (BDAT: line ends only), both
# over usmtp.core's fix() and tail(), the code every send runs; and the whole-message forms.


class CRLFNormalizer:
    _dots = False

    def __init__(self):
        self._st = [True, False]
        self._ended = False

    def feed(self, chunk):
        if self._ended:
            raise ValueError("feed() after end()")
        from usmtp.core import fix
        return fix(chunk, self._st, self._dots)

    def end(self):
        if self._ended:
            raise ValueError("end() called twice")
        self._ended = True
        from usmtp.core import tail
        return tail(self._st, self._dots)


class DataStuffer(CRLFNormalizer):
    _dots = True


def _as_bytes(d):
    if isinstance(d, str):
        return d.encode()
    if isinstance(d, (bytearray, memoryview)):
        return bytes(d)
    if isinstance(d, bytes):
        return d
    raise TypeError("message chunk: " + type(d).__name__)


def normalize(data):
    # the whole-message form of CRLFNormalizer
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
