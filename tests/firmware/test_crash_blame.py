# lane: micropython
# outpost.crash: which resets count against the alert being sent, and its plain form.
import os

from outpost import crash


class Machine:
    PWRON_RESET, HARD_RESET, WDT_RESET, DEEPSLEEP_RESET, SOFT_RESET = 1, 2, 3, 4, 5

    def __init__(self, cause):
        self.cause = cause

    def reset_cause(self):
        return self.cause


MARK = "test-crash-reset.exc"


def test_only_the_watchdog_or_mains_mark_is_blamed():
    m = Machine
    assert crash.blamed(m(m.WDT_RESET), MARK)
    for cause in (m.PWRON_RESET, m.HARD_RESET, m.DEEPSLEEP_RESET, m.SOFT_RESET):
        assert not crash.blamed(m(cause), MARK)


def test_mains_mark_is_blamed_once():
    m = Machine
    open(MARK, "w").close()
    assert crash.blamed(m(m.HARD_RESET), MARK)
    assert not crash.blamed(m(m.HARD_RESET), MARK)      # read and removed


def test_the_plain_form_drops_readings_cuts_the_body_and_says_why():
    rec = {"v": 1, "id": "b-1-1", "device": "b", "severity": "critical", "kind": "report",
           "subject": "s", "body": "x" * 5000, "readings": {"t": {"value": 1, "unit": "C"}},
           "repeats": "b-1-0"}
    r = crash.plain(rec, "the board crashed 3 times while sending it")
    assert "readings" not in r and r["repeats"] == "b-1-0" and r["id"] == "b-1-1"
    assert len(r["body"]) < 1600
    assert r["body"].endswith("(plain form: the board crashed 3 times while sending it)")
    assert "readings" in rec and len(rec["body"]) == 5000       # the journalled one untouched
    assert crash.plain({"id": "b-1-2"}, "why")["body"] == "(plain form: why)"
    if MARK in os.listdir():
        os.remove(MARK)
