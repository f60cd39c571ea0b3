# The App after the SMTP step boots on the heap the step left. When that heap has no room for
# it, outpost/run.py keeps the state in RTC memory and deep-sleeps 1 ms for a fresh heap (one
# reset, the step's outcome waiting in mail.res), never a crash; at a reset there is no state
# to keep, and the MemoryError goes to main.py as before.
import importlib
import json

import pytest


class Slept(BaseException):
    pass


class RTC:
    data = None

    def memory(self, data=None):
        RTC.data = data


class Machine:
    slept = None

    def RTC(self):
        return RTC()

    def deepsleep(self, ms):
        Machine.slept = ms
        raise Slept()


class Board:
    FS_ROOT = ""


CFG = {"log": False, "deep_sleep": False}
STATE = {"m": "op1", "boot": 2, "seq": 5, "mono": 40.0, "states": [None], "rep": None,
         "next_report": None, "last_report": None, "next_beat": 0, "ntp_at": 1.0, "down": 0,
         "hold": 0, "tried": {}, "disc": False}


def test_an_app_that_cannot_boot_after_the_smtp_step_sleeps_for_a_fresh_heap(monkeypatch):
    # as run.main finds them now: an emulated board's run (another test) loads them afresh
    run = importlib.import_module("outpost.run")
    sendwake = importlib.import_module("outpost.sendwake")
    runs = []

    def run_app(cfg, board, machine, time, hop, wdt, first=None):
        runs.append(hop)
        if hop is None:
            return dict(STATE, mq=("socket", None, 7, 0), readings={"door": (1, "")},
                        hist={"door": []}, t0=3.0, resume="shed-2-5"), None
        raise MemoryError("memory allocation failed")
    monkeypatch.setattr(run, "start", lambda root: CFG)
    monkeypatch.setattr(run, "_run_app", run_app)
    monkeypatch.setattr(sendwake, "step", lambda root, cfg, feed: True)
    with pytest.raises(Slept):
        run.main(Board(), Machine(), None)
    assert len(runs) == 2 and Machine.slept == 1
    kept = json.loads(RTC.data)
    assert kept == STATE    # what a deep-sleep wake boots from, without the socket or readings


def test_at_a_reset_the_memory_error_goes_to_main_py(monkeypatch):
    run = importlib.import_module("outpost.run")
    def run_app(cfg, board, machine, time, hop, wdt, first=None):
        raise MemoryError("memory allocation failed")
    monkeypatch.setattr(run, "start", lambda root: CFG)
    monkeypatch.setattr(run, "_run_app", run_app)
    Machine.slept = None
    with pytest.raises(MemoryError):
        run.main(Board(), Machine(), None)
    assert Machine.slept is None
