# CHUNKING (RFC 3030) for the core: the body in BDAT chunks of core.bdat_size bytes, line ends
# normalised, no dot-stuffing. Loaded only when the server offers CHUNKING. The chunks are
# filled into one buffer allocated once and written from it (WRITE), never grown piece by piece.

from usmtp.core import FLUSH, MAX_OUTSTANDING, WRITE, CRLFNormalizer, chunks


def bdat(core, tx, pipe):
    norm = CRLFNormalizer()
    size = core.bdat_size
    buf = bytearray(size)
    mv = memoryview(buf)
    n = 0
    total = 0
    for c in chunks(tx.source):
        out = memoryview(norm.feed(c))
        i = 0
        while i < len(out):
            k = min(size - n, len(out) - i)
            mv[n:n + k] = out[i:i + k]
            n += k
            i += k
            if n < size:
                continue
            total += n
            _chunk(core, tx, mv, False)
            n = 0
            yield WRITE         # the buffer is filled again only once it is written
            if not pipe:
                yield 0
                if tx.bdat_err is not None:
                    return
            else:
                yield MAX_OUTSTANDING
                if _failed(tx):
                    return      # RFC 3030: no further BDAT once the transaction failed
        yield FLUSH
    tail = norm.end()           # at most 2 bytes
    if n + len(tail) <= size:
        mv[n:n + len(tail)] = tail
        last = mv[:n + len(tail)]
    else:
        last = bytes(mv[:n]) + tail
    total += len(last)
    if pipe and getattr(core, "one_end", False) and _end_pending(core):
        yield 0                 # the previous message's end is answered first (batch.send_many)
    _chunk(core, tx, last, True)
    yield WRITE
    if core.trace:
        core.trace("C: <message data, %d bytes in BDAT>" % total)


def _failed(tx):
    # what the replies read so far say: this transaction can no longer deliver anything
    if tx.bdat_err is not None or (tx.mail is not None and tx.mail.code != 250):
        return True
    return len(tx.rcpt) == len(tx.rcpts) and not tx.accepted()


def _end_pending(core):
    for p in core._pending:
        if p[0] == "BDAT-LAST" or p[0] == "EOD":
            return True
    return False


def _chunk(core, tx, data, last):
    head = "BDAT " + str(len(data)) + (" LAST" if last else "")
    core._raw(head.encode() + b"\r\n")
    core._raw(data)
    core._pending.append(("BDAT-LAST" if last else "BDAT", None, tx))
    if core.trace:
        core.trace("C: " + head)
