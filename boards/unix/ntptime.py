# `ntptime` for the MicroPython unix port: the host keeps its own clock (set by NTP already), so
# settime() only checks that the clock reads as set; host and timeout are accepted as on a board.
import time

host = "pool.ntp.org"
timeout = 1


def settime():
    if time.time() < 1700000000:
        raise OSError(110, "ETIMEDOUT")
