# A scripted upstream for the relay: the same face as outpost_gateway.upstream.UpstreamPool
# (send_all, probe, parallel, idle, drop, close), no socket. Each message it is handed meets
# the next step of a script: "250", a 4xx/5xx refusal of that message, or a failure of the
# whole connection ("421", "stall", "hangup"); while `down` is set no connection opens at all.
# Time is the test's clock: every message costs `latency`, a stall costs the relay's timeout.
# It records what an upstream would see: every attempt (time, Message-ID, what it got).
from usmtp.errors import (SMTPConnectError, SMTPRecipientsRefused, SMTPTimeout,
                          SMTPTransientError)

from outpost_gateway.upstream import Sent

CONNECTION_FAULTS = ("421", "stall", "hangup")


def message_id_of(msg):
    for line in bytes(msg).split(b"\r\n"):
        if not line:
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"message-id":
            return value.strip().decode()
    raise AssertionError("a message without a Message-ID")


class Attempt:
    __slots__ = ("at", "mid", "rcpt", "step", "answered", "charged")

    def __init__(self, at, mid, rcpt, step, answered, charged=None):
        self.at = at
        self.mid = mid
        self.rcpt = rcpt
        self.step = step            # what the upstream did with it
        self.answered = answered    # the relay got the reply
        self.charged = charged      # attempts the relay had counted when it sent it


class ScriptedUpstream:
    LIMIT_HOLD = 300.0

    def __init__(self, clock, script=None, latency=0.05, timeout=30.0, on_reply=None, charged=None):
        # script(mid, n) -> step for the n-th attempt (1, 2, ...) of that message; default "250"
        self.clock = clock
        self.script = script or (lambda mid, n: "250")
        self.latency = latency
        self.timeout = timeout
        self.on_reply = on_reply        # hook: called after each on_result (tests look then)
        self.charged = charged          # hook: mid -> the relay's attempt count for it now
        self.down = False
        self.attempts = []
        self.tries = {}                 # Message-ID -> attempts so far
        self.probes = []                # (time, answered)

    # -- the pool's face ----------------------------------------------------------------------
    def parallel(self):
        return 1

    def idle(self, now):
        return None

    def drop(self):
        pass

    def close(self):
        pass

    def probe(self):
        self.clock.advance(self.latency)
        self.probes.append((self.clock.time(), not self.down))
        if self.down:
            raise SMTPConnectError("connection refused (scripted outage)")

    def send_all(self, batch, on_result):
        sent = Sent(len(batch))
        if self.down:
            self.clock.advance(self.latency)
            err = SMTPConnectError("connection refused (scripted outage)")
            err.at_open = True
            sent.add(0, len(batch), err)
            sent.results = [err] * len(batch)
            return sent
        broke = None
        answered = False
        for i, (frm, rcpts, msg) in enumerate(batch):
            if broke is not None:
                sent.results[i] = broke          # never reached the upstream: unanswered
                continue
            mid = message_id_of(msg)
            n = self.tries[mid] = self.tries.get(mid, 0) + 1
            step = self.script(mid, n)
            charged = self.charged(mid) if self.charged is not None else None
            self.clock.advance(self.latency)
            if step in CONNECTION_FAULTS:
                if step == "stall":
                    self.clock.advance(self.timeout)
                    broke = SMTPTimeout("timed out waiting for the reply to EOD (scripted)")
                elif step == "421":
                    broke = SMTPTransientError(421, "4.3.2 closing (scripted)", None, "MAIL")
                else:
                    broke = SMTPConnectError("the connection was lost (scripted hangup)")
                self.attempts.append(Attempt(self.clock.time(), mid, rcpts[0], step, False, charged))
                sent.results[i] = broke
                continue
            self.attempts.append(Attempt(self.clock.time(), mid, rcpts[0], step, True, charged))
            answered = True
            code = int(step[:3])
            if code == 250:
                on_result(i, {}, "250 2.0.0 ok (scripted)")
            else:
                on_result(i, SMTPRecipientsRefused({rcpts[0]: (code, "scripted " + step)}), step)
            if self.on_reply is not None:
                self.on_reply(mid, step)
        sent.add(0, len(batch), None if (broke is None or answered) else broke)
        return sent

    # -- what the upstream saw ------------------------------------------------------------------
    def accepted(self):
        return [a for a in self.attempts if a.step == "250"]
