# The session trace (SMTP(trace=...)): how a command and a reply are shown, with credentials
# redacted. Loaded only when a trace is asked for: a board that traces nothing never pays for it,
# and the core has no trace hooks (Traced is the core that traces).
from usmtp.core import Core


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


class Traced(Core):
    # usmtp.core.Core showing its session to self.trace: each command line as queued (AUTH's
    # credentials redacted), each reply as it arrives, the size of a message's data
    def __init__(self, *a):
        Core.__init__(self, *a)
        self.trace = sink(self.trace)

    def cmd(self, c, arg=None, hide=False):
        Core.cmd(self, c, arg, hide)
        sent(self.trace, self.q[-1][:-2].decode(), hide)

    def dispatch(self, r):
        received(self.trace, r)
        Core.dispatch(self, r)

    def body(self, src):
        n = yield from Core.body(self, src)
        self.trace("C: <message data, %d bytes>" % n)
