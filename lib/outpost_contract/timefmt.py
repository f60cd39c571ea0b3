# The one way a time is shown to people (mail bodies, reports, CSV, the board's log lines,
# status pages): UTC, "2026-11-28T12:45:21Z". A file of its own, beside the calendar it reads
# (usmtp.clock.civil), so a board's log line loads neither the contract's other rules nor
# anything more of usmtp than its clock; outpost_contract.rules re-exports it.
from usmtp.clock import civil


def iso(ts):
    t = int(ts)
    days = t // 86400
    s = t - days * 86400
    y, m, d = civil(days)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, m, d, s // 3600, s // 60 % 60, s % 60)
