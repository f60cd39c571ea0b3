# CHUNKING (RFC 3030) for the core: the body in BDAT chunks, line ends normalised, no
# dot-stuffing; loaded only when the server offers CHUNKING.
# The chunks are filled into one buffer allocated once per message and written from it before
# it is filled again.
from usmtp.core import norm

SIZE = 1024 if __import__("sys").implementation.name == "micropython" else 4096


def bdat(core, src, env):
    # queue BDAT chunks (core.got gets one reply each); the last one is BDAT n LAST
    size = getattr(core, "bdat_size", SIZE)
    buf = bytearray(size)
    mv = memoryview(buf)
    n = 0
    total = 0
    g = len(core.got) + len(core.pend)     # where this message's BDAT replies will start
    for out in norm(src, False):
        out = memoryview(out)
        i = 0
        while i < len(out):
            if n == size:
                # a full buffer goes once more follows (the last chunk is BDAT n LAST)
                total += n
                chunk(core, mv, False)
                n = 0
                yield -2        # the buffer is filled again only once it is written
                yield 100
                if failed(core, g, env):
                    return -1   # RFC 3030: no further BDAT once the transaction failed
            k = min(size - n, len(out) - i)
            mv[n:n + k] = out[i:i + k]
            n += k
            i += k
    total += n
    if getattr(core, "one_end", False) and 15 in core.pend:
        yield 0     # the previous message's end is answered first (batch, on_settled)
    last = len(core.got) + len(core.pend)
    chunk(core, mv[:n], True)
    yield -2
    if core.trace:
        core.trace("C: <message data, %d bytes in BDAT>" % total)
    return last


def chunk(core, data, last):
    head = "BDAT " + str(len(data)) + (" LAST" if last else "")
    core.q.append(head.encode() + b"\r\n")
    core.q.append(data)
    core.pend.append(15 if last else 14)
    if core.trace:
        core.trace("C: " + head)


def failed(core, g, env):
    # what the replies so far say: the transaction can deliver nothing (MAIL refused, every
    # RCPT refused, or a chunk refused); env = (index of the reply to MAIL, recipients)
    r = core.got
    e, to = env
    if len(r) > e + len(to) and not core.sendable(r[e:], to) or len(r) > e and r[e][0] != 250:
        return True
    for x in r[g:]:
        if x[0] != 250:
            return True
    return False


def taken(core, r, last):
    # core.verdict for a message in chunks: every chunk's reply a 250, BDAT LAST's among them
    for x in r:
        if x[0] != 250:
            return False
    return len(core.got) > last
