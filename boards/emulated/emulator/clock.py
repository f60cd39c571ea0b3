# The emulated board's clock: world time that tests can move and that sleeps jump over.
#
# world(): UTC seconds in the emulated world = start + jumps + real elapsed * speed.
# sleep(s): with instant=True the world jumps s seconds at once (tests, `--speed 0`);
# otherwise it really waits s / speed seconds.
# The board's RTC is separate: unset (2000-01-01 + uptime) until ntptime sets it.
# A pause point (`stop_at`) lets the harness run the firmware for a given span of world time:
# a sleep that would cross it parks the firmware thread until the harness moves it on.
import threading
import time as _real

Y2000 = 946684800


class Stopped(BaseException):
    # raised inside the firmware thread when the board is shut down; BaseException so the
    # firmware's own `except Exception` handlers cannot swallow it
    pass


class Clock:
    def __init__(self, start, speed=1.0, instant=True):
        self.start = float(start)
        self.speed = speed
        self.instant = instant
        self._jump = 0.0
        self._r0 = _real.monotonic()
        self.rtc_offset = None      # board RTC = world + offset once set; None: never set
        self.boot_world = self.world()
        self.stop_at = None
        self.closed = False
        self.cond = threading.Condition()
        self.parked = False
        self.interrupt = False      # Ctrl-C on the console: KeyboardInterrupt in the firmware

    def world(self):
        return self.start + self._jump + (_real.monotonic() - self._r0) * self.speed

    def elapsed(self):
        return self.world() - self.start

    def board_time(self):
        # what time.time() says on the board
        w = self.world()
        if self.rtc_offset is None:
            return Y2000 + (w - self.boot_world)
        return w + self.rtc_offset

    def set_rtc(self, board_seconds):
        self.rtc_offset = board_seconds - self.world()

    def ntp_set(self):
        self.rtc_offset = 0.0

    def power_on(self):
        # a cold start loses the RTC
        self.rtc_offset = None
        self.boot_world = self.world()

    def advance(self, s):
        # the test moves the world on (no firmware runs meanwhile unless it is sleeping)
        with self.cond:
            self._jump += s
            self.cond.notify_all()

    def sleep(self, s):
        if s < 0:
            s = 0
        target = self.world() + s
        while True:
            with self.cond:
                if self.closed:
                    raise Stopped()
                self._ctrl_c()
                if self.stop_at is not None and target > self.stop_at:
                    # park until the harness allows more world time
                    if self.world() < self.stop_at:
                        self._jump += self.stop_at - self.world()
                    self.parked = True
                    self.cond.notify_all()
                    self.cond.wait(0.5)
                    continue
                self.parked = False
            if self.instant:
                with self.cond:
                    now = self.world()
                    if target > now:
                        self._jump += target - now
                return
            left = target - self.world()
            if left <= 0:
                return
            _real.sleep(min(left / self.speed, 0.2))
            if self.world() >= target:
                return

    def checkpoint(self):
        # a place where a busy firmware loop may be parked (called from ticks_ms)
        if self.closed:
            raise Stopped()
        self._ctrl_c()

    def _ctrl_c(self):
        if self.interrupt:
            self.interrupt = False
            raise KeyboardInterrupt()
