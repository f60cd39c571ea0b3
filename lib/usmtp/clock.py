# The wall clock as mail needs it, defined once: UTC Unix seconds whatever the port's epoch
# (some MicroPython ports count from 2000-01-01), and whether the clock was ever set (a
# certificate cannot be checked, nor a Date trusted, before NTP has run).
# now() and offset() read the `time` module given (the caller's clock: a board emulator passes
# its own), or this interpreter's.
import time

SET_AFTER = 1704067200      # 2024-01-01: a clock earlier than this was never set


def offset(clock=None):
    # seconds to add to clock.time() for Unix time: 946684800 (1970-01-01 to 2000-01-01) on a
    # port counting from 2000, else 0; asked of the clock at each call, so nothing is decided
    # at import and no state is kept
    return 946684800 if (clock or time).gmtime(0)[0] == 2000 else 0


def now(clock=None):
    return int((clock or time).time()) + offset(clock)


def is_set(t=None):
    return (now() if t is None else t) >= SET_AFTER


def civil(days):
    # days since 1970-01-01 -> (year, month, day); the proleptic Gregorian calendar in 400-year
    # eras of 146097 days, years counted from March so the leap day comes last
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (m < 3)     # (a bool counts 1 or 0)
    return y, m, d


def iso(ts):
    # the one way a time is shown to people (mail bodies, reports, CSV, logs, status): UTC,
    # "2026-11-28T12:45:21Z". Here, beside civil(), so a board's log line loads this module
    # only (outpost_contract.rules re-exports it for the gateway)
    t = int(ts)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (civil(t // 86400) + (t // 3600 % 24, t // 60 % 60,
                                                                    t % 60))
