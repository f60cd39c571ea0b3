# Golden transcripts against the sans-I/O core, for the pytest lane and the MicroPython lane.
#
# A transcript is text with one line per protocol line:
#     S: 220 mx.example ESMTP          (server bytes, fed to the core)
#     C: EHLO [127.0.0.1]              (client bytes the core must have written by then)
# Consecutive C: lines are one expected write burst (what a pipelining client sends before it
# needs the next reply); consecutive S: lines are fed together. "S:" lines may end with "\\"
# to be fed without CRLF (partial lines), and "S: <EOF>" closes the connection.

from usmtp.core import Core

DONE = 0            # what Core.poll() returns: done, bytes to write (1), bytes needed (2)
NEED_DATA = 2


def state(core):
    """The core's state by name (the table's states are small ints on the board; usmtp.phrases
    names them for errors, from 40 on)."""
    from usmtp.phrases import PHRASES
    return PHRASES[40 + core.state]


def row(st, cmd):
    """The table's row for a reply to cmd in state st, by name: [state, command, success code
    or "-", state after success, state after failure ("-": unchanged)], or None."""
    from usmtp.core import T, VERBS
    from usmtp.phrases import PHRASES
    names = PHRASES[40:47]
    s = names.index(st)
    k = VERBS.split().index(cmd)
    for i in range(0, len(T), 5):
        if T[i + 1] == k and (T[i] == s or T[i] == 9):
            return [st, cmd, str(T[i + 2] + 200) if T[i + 2] else "-",
                    names[T[i + 3]] if T[i + 3] != 9 else "-",
                    names[T[i + 4]] if T[i + 4] != 9 else "-"]
    return None

# the envelope of a message from a@x to b@y up to DATA's 354, one command at a time and
# pipelined (one burst, then the three replies): the start of many transcripts
ENVELOPE_STEPWISE = """
C: MAIL FROM:<a@x>
S: 250 ok
C: RCPT TO:<b@y>
S: 250 ok
C: DATA
S: 354 go
"""
ENVELOPE_PIPELINED = """
C: MAIL FROM:<a@x>
C: RCPT TO:<b@y>
C: DATA
S: 250 ok
S: 250 ok
S: 354 go
"""


def parse(text):
    steps = []
    for raw in text.strip().split("\n"):
        line = raw.strip()
        if not line:
            continue
        who, _, rest = line.partition(": ")
        if who not in ("C", "S") and line in ("C:", "S:"):
            who, rest = line[0], ""
        if who not in ("C", "S"):
            raise ValueError("bad transcript line " + repr(raw))
        if who == "S" and rest == "<EOF>":
            data = b""
        elif rest.endswith("\\"):
            data = rest[:-1].encode()
        else:
            data = rest.encode() + b"\r\n"
        if steps and steps[-1][0] == who and data and steps[-1][1]:
            steps[-1] = (who, steps[-1][1] + data)
        else:
            steps.append((who, data))
    return steps


def new_core(**kw):
    # the SMTP constructor's names for the core's options
    k = Core
    if kw.get("trace"):
        from usmtp.trace import Traced as k     # the core that shows its session
    return k(kw.get("mode", "plain"), kw.get("local_hostname", "[127.0.0.1]"),
             kw.get("allow_plaintext_auth", False), kw.get("trace"),
             kw.get("pipelining", True), kw.get("chunking", True), kw.get("flush_at", 2048))


def run(core, op, text):
    """Run op on core against the transcript; return the op's result (exceptions propagate).
    Fails when the core writes anything other than what the transcript says, or leaves part
    of the transcript unused."""
    steps = parse(text)
    core.start(op)
    sent = b""
    i = 0
    err = None

    def take_burst(i, sent):
        # where the transcript has a C: burst next, what the core wrote so far must be it:
        # (the step after it, nothing left unmatched); elsewhere (i, sent) as they are
        if i < len(steps) and steps[i][0] == "C":
            if sent != steps[i][1]:
                raise AssertionError("client wrote %r, transcript expects %r" % (sent, steps[i][1]))
            return i + 1, b""
        return i, sent

    while True:
        sent += bytes(core.data_to_send())
        try:
            step = core.poll()
        except Exception as e:
            err = e
            step = DONE
        sent += bytes(core.data_to_send())
        if step == DONE:
            break
        if step != NEED_DATA:
            continue
        # the core wants a reply: everything it wrote so far must match the next C: burst
        i, sent = take_burst(i, sent)
        if sent:
            raise AssertionError("client wrote %r where the transcript has none" % (sent,))
        if i >= len(steps):
            raise AssertionError("core waits for data the transcript does not have")
        who, data = steps[i]
        if who != "S":
            raise AssertionError("core waits for the server but transcript expects client " +
                                 repr(data))
        i += 1
        core.receive_data(data)
    i, sent = take_burst(i, sent)
    if sent:
        raise AssertionError("client wrote %r after the transcript ended" % (sent,))
    if i != len(steps):
        raise AssertionError("transcript not used up: %r (op ended with %r)" % (steps[i:], err))
    if err is not None:
        raise err
    return core.result


def opened(text="", **kw):
    """A core that has been greeted and EHLOed with the given extension lines."""
    core = new_core(**kw)
    lines = ["S: 220 mx.example ESMTP", "C: EHLO [127.0.0.1]"]
    ext = [e for e in text.split(",") if e]
    if not ext:
        lines.append("S: 250 mx.example")
    else:
        lines.append("S: 250-mx.example")
        for j in range(len(ext)):
            lines.append("S: 250" + ("-" if j < len(ext) - 1 else " ") + ext[j])
    run(core, core.op_open(), "\n".join(lines))
    return core
