# The wall clock as mail needs it, defined once: UTC Unix seconds whatever the port's epoch
# (some MicroPython ports count from 2000-01-01), and whether the clock was ever set (a
# certificate cannot be checked, nor a Date trusted, before NTP has run).
# now() and offset() read the `time` module given (the caller's clock: a board emulator passes
# its own), or this interpreter's.
import time as _time

EPOCH_2000 = 946684800      # seconds from 1970-01-01 to 2000-01-01
SET_AFTER = 1704067200      # 2024-01-01: a clock earlier than this was never set
_offset = None


def offset(clock=None):
    # seconds to add to clock.time() for Unix time; decided on first use, not at import
    global _offset
    if clock is not None:
        return EPOCH_2000 if clock.gmtime(0)[0] == 2000 else 0
    if _offset is None:
        _offset = EPOCH_2000 if _time.gmtime(0)[0] == 2000 else 0
    return _offset


def now(clock=None):
    return int((clock or _time).time()) + offset(clock)


def is_set(t=None):
    return (now() if t is None else t) >= SET_AFTER
