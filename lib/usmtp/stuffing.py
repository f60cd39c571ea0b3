# Whole-message forms of the body encoders for tests and small messages; the streaming
# encoders themselves (DataStuffer for DATA, CRLFNormalizer for BDAT) live in usmtp.core, which
# every send loads, and are importable from here too.

from usmtp.core import CRLFNormalizer, DataStuffer, _as_bytes  # noqa: F401


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
