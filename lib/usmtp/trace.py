# The session trace (SMTP(trace=...)): how a command and a reply are shown, with credentials
# redacted. Loaded only when a trace is asked for: a board that traces nothing never pays for it.


def sink(trace):
    # a callable gets each line; anything else is a file-like object written line by line
    if callable(trace):
        return trace
    return lambda line: trace.write(line + "\n")  # noqa: E731


def sent(trace, line, hide):
    # AUTH shows its mechanism only, never a credential
    if hide:
        line = line.rpartition(" ")[0] + " <redacted>" if line.count(" ") > 1 else line
    trace("C: " + line)


def received(trace, r):
    # a reply (code, text) as the server sent it, one line each
    t = r[1].split("\n")
    for i in range(len(t)):
        trace("S: %d%s%s" % (r[0], " " if i == len(t) - 1 else "-", t[i]))
