# Writing the outbox's journal (outpost/outbox.py has its format and policy): an alert added
# before its first attempt (the full-outbox policy), its outcome, a record set aside, and the
# compaction. Loaded when an alert is journalled or a send settles; a quiet wake never loads it.
import os

from outpost.outbox import _meta, frame
from outpost_contract.rules import severity_rank


def append(ob, data):
    with open(ob.path, "ab") as f:
        f.write(data)
    ob.size += len(data)
    ob.writes += 1
    if ob.size > ob.compact_at:
        compact(ob)


def compact(ob):
    tmp = ob.path + ".tmp"
    with open(tmp, "wb") as f:
        fr = frame("C", (str(ob.dropped) + " " + str(ob.dead)).encode())
        f.write(fr)
        size = len(fr)
        for it in ob.items:
            fr = frame("A", it[2])
            if len(it) > 3:
                fr += frame("S", (it[0] + " " + it[3]).encode())
            f.write(fr)
            size += len(fr)
    try:
        os.rename(tmp, ob.path)
    except OSError:  # FAT cannot rename over a file; open() handles a cut here
        os.remove(ob.path)
        os.rename(tmp, ob.path)
    ob.size = size
    ob.writes += 1


def pending_bytes(ob):
    n = 0
    for it in ob.items:
        n += len(it[2])
    return n


def add(ob, payload):
    """Journal a record before its first send attempt. Returns the ids dropped to make
    room (possibly the new record's own id, when the policy refuses it)."""
    rid, sev = _meta(payload)
    if ob.has(rid):
        return []
    if len(payload) > ob.max_bytes:
        ob.dropped += 1
        ob.log("outbox: DROPPED " + rid + " (" + str(len(payload)) + " bytes, larger than the outbox)")
        append(ob, frame("P", rid.encode()))
        return [rid]
    items = ob.items + [[rid, sev, payload]]
    total = pending_bytes(ob) + len(payload)
    dropped = []
    while total > ob.max_bytes:
        victim = None
        for it in items:
            if len(it) > 3:
                continue    # set aside: kept for the owner to see, never dropped
            if victim is None or severity_rank(it[1]) < severity_rank(victim[1]):
                victim = it
        if victim is None:
            break
        # strict "<": among equal severity the oldest goes; the newcomer (last) goes only
        # when it is below everything pending
        items.remove(victim)
        total -= len(victim[2])
        dropped.append(victim[0])
    out = b""
    for d in dropped:
        ob.dropped += 1
        ob.log("outbox: full, DROPPED " + d + " (" + str(ob.dropped) + " dropped so far)")
        if d != rid:
            out += frame("P", d.encode())
    if rid in dropped:
        out += frame("P", rid.encode())
    else:
        out += frame("A", payload)
    ob.items = items
    append(ob, out)
    return dropped


def done(ob, rid):
    if not ob.has(rid):
        return
    ob.items = [it for it in ob.items if it[0] != rid]
    append(ob, frame("D", rid.encode()))


def fail(ob, rid, reason):
    # refused for good (5xx): out of the queue, counted, reason kept in the journal
    if not ob.has(rid):
        return
    ob.items = [it for it in ob.items if it[0] != rid]
    ob.dead += 1
    append(ob, frame("X", (rid + " " + reason[:200]).encode()))


def set_aside(ob, rid, reason):
    # kept in the journal and counted, but no longer tried: it crashed the board
    for it in ob.items:
        if it[0] == rid and len(it) == 3:
            it.append(reason[:200])
            append(ob, frame("S", (rid + " " + it[3]).encode()))
            ob.log("outbox: SET ASIDE " + rid + " (" + it[3] + ")")
