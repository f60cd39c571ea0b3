# Reading the outbox's journal (outpost/outbox.py has its format): the frames of a file a block
# at a time, and each frame applied to the records recovered so far. Loaded at boot when there
# is a journal, and unloaded after it is read.
from outpost.outbox import MAGIC, _crc, _meta


def scan(data):
    # -> (list of (kind, payload), skipped byte count)
    import io
    skipped = [0]
    out = list(frames(io.BytesIO(data), skipped))
    return out, skipped[0]


BLOCK = 512


def frames(f, skipped):
    """Yields (kind, payload) for each complete frame read from the file `f`, a block at a
    time: the heap holds one frame and a block, never the whole journal (at boot, beside the
    app, a journal near compact_at did not fit). skipped[0] counts the bytes skipped."""
    buf = b""
    pos = 0
    eof = False
    while True:
        if pos > BLOCK:
            buf = buf[pos:]
            pos = 0
        if len(buf) - pos < 8 and not eof:
            more = f.read(BLOCK)
            if more:
                buf += more
            else:
                eof = True
            continue
        if pos >= len(buf):
            return
        if buf[pos] == MAGIC and len(buf) - pos >= 8:
            ln = (buf[pos + 2] << 8) | buf[pos + 3]
            need = 8 + ln
            while len(buf) - pos < need and not eof:
                more = f.read(max(BLOCK, need - (len(buf) - pos)))
                if more:
                    buf += more
                else:
                    eof = True
            if len(buf) - pos >= need:
                end = pos + 4 + ln
                c = (buf[end] << 24) | (buf[end + 1] << 16) | (buf[end + 2] << 8) | buf[end + 3]
                if c == _crc(buf[pos + 1:end]) and chr(buf[pos + 1]) in "ADXPCS":
                    yield chr(buf[pos + 1]), buf[pos + 4:end]
                    pos += need
                    continue
        pos += 1
        skipped[0] += 1


def replay(ob, items, kind, payload):
    # one journal frame applied to the records recovered so far
    if kind == "A":
        try:
            rid, sev = _meta(payload)
        except ValueError:
            return
        for it in items:
            if it[0] == rid:
                break
        else:
            items.append([rid, sev, payload])
    elif kind == "S":
        rid, _, why = payload.decode().partition(" ")
        for it in items:
            if it[0] == rid and len(it) == 3:
                it.append(why)
    elif kind == "C":
        parts = payload.split()
        ob.dropped = int(parts[0])
        ob.dead = int(parts[1])
    else:
        rid = payload.decode().split(" ")[0]
        if kind == "P":
            ob.dropped += 1
        elif kind == "X":
            ob.dead += 1
        for i in range(len(items)):
            if items[i][0] == rid:
                del items[i]
                break
