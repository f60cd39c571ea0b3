# The session trace (SMTP(trace=...)): how a command and a reply are shown, with credentials
# redacted. Loaded only when a trace is asked for: a board that traces nothing never pays for it.


def sink(trace):
    # a callable gets each line; anything else is a file-like object written line by line
    if callable(trace):
        return trace
    return lambda line: trace.write(line + "\n")  # noqa: E731


def sent(trace, cmd, line, arg, redact):
    if redact:
        # AUTH shows its mechanism only; an AUTH answer nothing at all
        line = "<redacted>"
        if cmd == "AUTH":
            line = "AUTH " + arg.partition(" ")[0] + (" <redacted>" if " " in arg else "")
    trace("C: " + line)


def received(trace, r):
    n = len(r.lines)
    for i in range(n):
        trace("S: " + str(r.code) + (" " if i == n - 1 else "-") +
              ((r.enhanced + " ") if (r.enhanced and i == 0) else "") + r.lines[i])
