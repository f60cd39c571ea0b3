# A wake from deep sleep with nothing to say (outpost/quiet.py): what makes a wake one the app
# must run (a rule firing on its sample, something in the outbox, the report or NTP due, a
# crash to account for, an MQTT link), and what a quiet one leaves in RTC memory.
import json
import time

import pytest

from outpost import quiet
from usmtp import clock as shared_clock


class Slept(BaseException):
    pass


class Time:
    # MicroPython's ticks, as the board's clock (clock.Mono reads them)
    ms = 0

    def ticks_ms(self):
        return Time.ms

    def ticks_diff(self, a, b):
        return a - b

    def time(self):
        return time.time()

    def gmtime(self, t=None):
        return time.gmtime(t)


class Pin:
    IN = 0
    PULL_UP = 1
    PULL_DOWN = 2
    level = 0

    def __init__(self, n, mode=None, pull=None):
        pass

    def value(self):
        return Pin.level


class Machine:
    Pin = Pin

    def __init__(self, state):
        self.mem = json.dumps(state).encode() if state is not None else b""
        self.slept = None
        self.wdt = None

    def RTC(self):
        m = self

        class R:
            def memory(self, data=None):
                if data is None:
                    return m.mem
                m.mem = data
        return R()

    def WDT(self, timeout):
        self.wdt = timeout
        return ("wdt", timeout)

    def deepsleep(self, ms):
        self.slept = ms
        raise Slept()


class Board:
    FS_ROOT = ""
    BOARD = {"name": "test"}


def config(**kw):
    cfg = {"log": False, "deep_sleep": True, "sample_every": 60, "watchdog": 30,
           "sensors": [{"name": "door", "type": "digital", "pin": 27}],
           "rules": [{"sensor": "door", "above": 0.5, "cooldown": 0}],
           "ntp": {"every": 86400}, "mqtt": {"host": ""},
           "report": {"at": "", "every": 0, "csv_every": 300, "max_rows": 288, "tz_offset_min": 0}}
    cfg.update(kw)
    return cfg


def state(**kw):
    # what the App saved at its last deep sleep (App.state, less the RAM-only keys)
    d = {"m": "op1", "boot": 1, "seq": 0, "mono": 100.0, "states": [None], "rep": None,
         "next_report": None, "last_report": None, "next_beat": 0, "ntp_at": 90.0, "down": 0,
         "hold": 0, "tried": {}, "disc": False, "pend": 0}
    d.update(kw)
    return d


@pytest.fixture(autouse=True)
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)     # (the crash marks are looked for in the current folder)
    Pin.level = 0


def test_a_quiet_wake_samples_applies_the_rules_and_sleeps_with_its_state():
    m = Machine(state())
    with pytest.raises(Slept):
        quiet.wake(config(), Board(), m, Time())
    kept = json.loads(m.mem)
    assert m.wdt == 30000 and 59000 <= m.slept <= 60000
    assert kept["states"][0]["on"] is False and kept["mono"] >= 159.0
    assert kept["rep"]["stats"]["door"][0] == 1     # the sample is in the report
    for k in ("boot", "seq", "tried", "ntp_at", "pend"):
        assert kept[k] == state()[k]


@pytest.mark.parametrize("why", ["rule", "pend", "old state", "ntp", "report", "crash", "mqtt", "rtc"])
def test_a_wake_with_work_is_handed_to_the_app_unchanged(why):
    cfg, st = config(), state()
    if why == "rule":
        Pin.level = 1
    elif why == "pend":
        st["pend"] = 2
    elif why == "old state":
        del st["pend"]              # saved by a firmware that did not say
    elif why == "ntp":
        st["ntp_at"] = 100.0 - 86400
    elif why == "report":
        st["next_report"] = shared_clock.now() - 1
    elif why == "crash":
        open("inflight", "w").close()
    elif why == "mqtt":
        cfg["mqtt"]["host"] = "broker.lan"
    elif why == "rtc":
        st = None
    m = Machine(st)
    before = m.mem
    first, wdt = quiet.wake(cfg, Board(), m, Time())
    assert m.slept is None and m.mem == before
    if why == "mqtt":
        assert wdt is None      # the app starts its own
    else:
        assert wdt == ("wdt", 30000)
    if why in ("rule", "report"):
        readings, errors = first         # the app's first step takes this sample
        assert readings == {"door": (Pin.level, "")} and errors == {}
    else:
        assert first is None


def test_a_look_that_fails_leaves_the_wake_to_the_app():
    class Broken(Machine):
        def RTC(self):
            raise OSError("rtc")
    m = Broken(state())
    assert quiet.wake(config(), Board(), m, Time()) == (None, ("wdt", 30000))
