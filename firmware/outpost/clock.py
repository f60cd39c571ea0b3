# Wall-clock UTC seconds whatever the port's epoch, and whether the clock was ever set.
import time

# ports with a 2000 epoch count from 2000-01-01; alert records and mail want Unix seconds
EPOCH = 946684800 if time.gmtime(0)[0] == 2000 else 0
SET_AFTER = 1700000000  # a clock before late 2023 was never set by NTP


def now():
    return int(time.time()) + EPOCH


def is_set(t=None):
    return (now() if t is None else t) >= SET_AFTER


class Mono:
    # seconds since first boot of this power cycle, from ticks (which wrap every ~12 days on
    # MicroPython, so it must be read at least every few days); continues across deep sleep
    def __init__(self, start=0.0):
        self.t = start
        self.last = time.ticks_ms()

    def __call__(self):
        n = time.ticks_ms()
        self.t += time.ticks_diff(n, self.last) / 1000
        self.last = n
        return self.t
