# The `time` module the firmware sees on the emulated board: MicroPython's API (time, ticks_*,
# sleep_ms, gmtime/localtime as 8-tuples, mktime) on the emulated clock.
from emulator import state

_PERIOD = 1 << 30


def _clock():
    return state.board.clock


def time():
    return int(_clock().board_time())


def time_ns():
    return int(_clock().board_time() * 1000000000)


def sleep(s):
    _clock().sleep(s)


def sleep_ms(ms):
    _clock().sleep(ms / 1000)


def sleep_us(us):
    _clock().sleep(us / 1000000)


def ticks_ms():
    c = _clock()
    c.checkpoint()
    return int(c.elapsed() * 1000) % _PERIOD


def ticks_us():
    return int(_clock().elapsed() * 1000000) % _PERIOD


def ticks_cpu():
    return ticks_us()


def ticks_add(t, delta):
    return (t + delta) % _PERIOD


def ticks_diff(a, b):
    d = (a - b) % _PERIOD
    if d >= _PERIOD // 2:
        d -= _PERIOD
    return d


def gmtime(secs=None):
    import time as real
    if secs is None:
        secs = time()
    t = real.gmtime(secs)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday, t.tm_yday)


localtime = gmtime


def mktime(t):
    import calendar
    return calendar.timegm(tuple(t[:6]) + (0, 0, 0))
