# Wall-clock UTC seconds whatever the port's epoch, whether the clock was ever set, and the one
# time format: the shared rules, read from usmtp.clock where they are defined (not through
# outpost_contract.rules, whose other rules a quiet wake does not need), so board, usmtp and
# gateway draw the line at one date. Mono is the board's own monotonic clock.
import time

import usmtp.clock
from usmtp.clock import iso  # noqa: F401 (the one time format, for the app's log lines)


def now():
    return usmtp.clock.now(time)      # this board's clock, read by the shared rule


def is_set(t=None):
    return usmtp.clock.is_set(now() if t is None else t)


class Mono:
    # seconds since first boot of this power cycle, from ticks (which wrap every ~12 days on
    # MicroPython, so it must be read at least every few days); continues across deep sleep
    def __init__(self, start=0.0, tm=None):
        self.time = tm or time    # the app hands in its `time`
        self.t = start
        self.ms = 0               # whole milliseconds since start: no float drift in a sum
        self.last = self.time.ticks_ms()

    def __call__(self):
        time = self.time
        n = time.ticks_ms()
        self.ms += time.ticks_diff(n, self.last)
        self.last = n
        return self.t + self.ms / 1000
