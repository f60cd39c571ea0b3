# The wall clock as mail needs it, defined once: UTC Unix seconds whatever the port's epoch
# (some MicroPython ports count from 2000-01-01), and whether the clock was ever set (a
# certificate cannot be checked, nor a Date trusted, before NTP has run).
import time

EPOCH_2000 = 946684800      # seconds from 1970-01-01 to 2000-01-01
SET_AFTER = 1704067200      # 2024-01-01: a clock earlier than this was never set
_offset = None


def offset():
    # seconds to add to time.time() for Unix time; decided on first use, not at import
    global _offset
    if _offset is None:
        _offset = EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0
    return _offset


def now():
    return int(time.time()) + offset()


def is_set(t=None):
    return (now() if t is None else t) >= SET_AFTER
