# The rules board and gateway share, each defined once. Both configs, the alert record, the
# firmware and the gateway ingest call this module. What usmtp itself needs (the address and
# display-name rule, the connection modes, the clock) lives in usmtp, which stays standalone,
# and is re-exported here, so a caller outside usmtp has one place to look. The re-exports load
# on first use (module __getattr__), so a board that only needs backoff() or iso() at boot does
# not pay for the address checks. iso() is usmtp.clock's, beside the calendar it reads.
_FROM_CHECKS = ("MODES", "TOKEN_CHARS", "address_problem", "display_name_problem",
                "mailbox_problem", "mode_problem", "split_mailbox", "token_problem")
_FROM_CLOCK = {"now": "now", "clock_is_set": "is_set", "SET_AFTER": "SET_AFTER", "iso": "iso"}


def __getattr__(name):
    # "import usmtp.x": MicroPython's "from usmtp import x" would ask usmtp's own __getattr__
    if name in _FROM_CHECKS:
        import usmtp.checks
        return getattr(usmtp.checks, name)
    if name in _FROM_CLOCK:
        import usmtp.clock
        return getattr(usmtp.clock, _FROM_CLOCK[name])
    raise AttributeError(name)


SEVERITIES = ("info", "warning", "critical")
MAX_DEVICE = 64
MAX_ID = 128


def severity_problem(s):
    if s in SEVERITIES:
        return None
    return "must be one of " + ", ".join(SEVERITIES) + ", not " + repr(s)


def severity_rank(s):
    # info 0, warning 1, critical 2 (anything else counts as a warning): what gives way first
    # when room runs short, and what goes first when a path comes back
    return SEVERITIES.index(s) if s in SEVERITIES else 1


def backoff(attempt, base, factor, cap, jitter=0, rand=None):
    # seconds to wait after `attempt` failures in a row: 0 before the first, then base,
    # base*factor, ... never above cap; jitter (0..1) spreads a backlog's retries apart with
    # rand() in [0, 1). Multiplies step by step, so a long outage never overflows an int.
    if attempt <= 0:
        return 0
    d = base
    for _ in range(attempt - 1):
        if d >= cap:
            break
        d = d * factor
    if d > cap:
        d = cap
    if jitter:
        d = d * (1.0 + jitter * (2.0 * rand() - 1.0))
    return d


def format_date(ts):
    # the Date header: "Sat, 28 Nov 2026 12:45:21 +0000" (usmtp's writer makes it)
    from usmtp.writer import format_date as f
    return f(int(ts))
