# Time is injected: schedules, backoff and the watchdog take a clock, so tests never sleep.
import time


class SystemClock:
    def time(self):
        return time.time()


class ManualClock:
    # a clock that only moves when told to (tests)
    def __init__(self, start=1_700_000_000.0):
        self.now = float(start)

    def time(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds
        return self.now
