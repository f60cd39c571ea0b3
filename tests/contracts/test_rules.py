# lane: micropython
# The shared rules (outpost_contract.rules) and usmtp's one classification of failures, on both
# runtimes: backoff, the time format, severities, device names, the clock-set line.
from outpost_contract import rules
from usmtp import errors
from usmtp.errors import (SMTPAuthError, SMTPConnectError, SMTPDataError, SMTPPermanentError,
                          SMTPProtocolError, SMTPRecipientsRefused, SMTPSenderRefused, SMTPTimeout,
                          SMTPTLSError, SMTPTransientError, SMTPUsageError)


def test_backoff_doubles_to_the_cap_from_zero():
    assert [rules.backoff(n, 30, 2, 240) for n in range(7)] == [0, 30, 60, 120, 240, 240, 240]
    assert rules.backoff(100, 5, 2, 600) == 600
    assert rules.backoff(10 ** 6, 5, 2, 600) == 600       # no overflow on a long outage
    assert rules.backoff(3, 10, 3, 1000) == 90


def test_backoff_jitter_spreads_around_the_delay():
    assert rules.backoff(3, 30, 2, 3600, 0.2, lambda: 0.5) == 120
    lo = rules.backoff(3, 30, 2, 3600, 0.2, lambda: 0.0)
    hi = rules.backoff(3, 30, 2, 3600, 0.2, lambda: 0.999999)
    assert abs(lo - 96) < 1e-6 and 143.9 < hi < 144.0001


def test_iso_is_the_one_time_format():
    assert rules.iso(0) == "1970-01-01T00:00:00Z"
    assert rules.iso(951782400) == "2000-02-29T00:00:00Z"
    assert rules.iso(1795870110) == "2026-11-28T12:48:30Z"
    assert rules.iso(4107542400) == "2100-03-01T00:00:00Z"
    assert rules.format_date(1795870110) == "Sat, 28 Nov 2026 12:48:30 +0000"


def test_severities_and_tokens():
    assert rules.SEVERITIES == ("info", "warning", "critical")
    assert rules.severity_problem("critical") is None
    assert "must be one of info, warning, critical" in rules.severity_problem("panic")
    assert [rules.severity_rank(s) for s in rules.SEVERITIES] == [0, 1, 2]
    assert rules.token_problem("freezer-1.shed_2") is None
    for bad in ("", "x" * 65, "é", "a b", "a/b", 7):
        assert rules.token_problem(bad), bad


def test_clock_set_line():
    assert not rules.clock_is_set(0) and not rules.clock_is_set(rules.SET_AFTER - 1)
    assert rules.clock_is_set(rules.SET_AFTER) and rules.clock_is_set(1795870110)
    assert rules.now() > rules.SET_AFTER      # the test machine's clock is set


def test_modes():
    assert rules.MODES == ("tls", "starttls", "opportunistic", "plain")
    assert rules.mode_problem("starttls") is None and "ssl" in rules.mode_problem("ssl")


def test_outcome_one_classification():
    cases = [
        (SMTPTransientError(451, "try later"), "retry"),
        (SMTPPermanentError(550, "no such user"), "refused"),
        (SMTPDataError(554, "spam"), "refused"),
        (SMTPDataError(452, "full"), "retry"),
        (SMTPSenderRefused(553, "bad sender"), "refused"),
        (SMTPSenderRefused(451, "later"), "retry"),
        (SMTPRecipientsRefused({"a@x": (550, "no")}), "refused"),
        (SMTPRecipientsRefused({"a@x": (550, "no"), "b@x": (450, "later")}), "retry"),
        (SMTPAuthError(535, "bad credentials"), "reconfigure"),
        (SMTPAuthError(454, "temporary auth failure"), "reconfigure"),
        (SMTPTLSError("certificate verify failed"), "reconfigure"),
        (SMTPConnectError("refused"), "retry"),
        (SMTPTimeout("reply"), "retry"),
        (SMTPProtocolError("garbage"), "retry"),
        (OSError(113, "no route"), "retry"),
        (MemoryError(), "retry"),
        (SMTPUsageError("CR in header"), "refused"),
    ]
    for exc, want in cases:
        assert errors.outcome(exc) == want, (exc, want)
