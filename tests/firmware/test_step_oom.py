# A step that runs out of heap between the rules and the journal (the alert's code cannot load,
# or the heap is gone while it is written) loses no alert: the rules have already moved on (the
# episode is open, it will not fire again), so the alert waits in App.unsaved and the next step
# journals it.
import importlib
import time

import pytest


def mod(name):
    # as the app finds it now: an emulated board's run (another test) loads the package afresh
    return importlib.import_module(name)


class Door:
    name = "door"
    units = {"door": ""}

    def read(self):
        return {"door": 1}


class Net:
    def up(self):
        return True


def an_app(tmp_path):
    cfg = {"device": "shed", "log": False, "sample_every": 60}
    a = mod("outpost.app").App(cfg, None, None, time)
    a.mono = lambda: 100.0
    a.net = Net()
    a.fitted = [{"name": "door", "type": "digital", "pin": 4}]
    a.drivers = [Door()]
    a.rules = [{"sensor": "door", "above": 0.5, "severity": "critical"}]
    a.states = [None]
    a.hist = {"door": []}
    a.meta = {}
    a.boot_no = 3
    a.seq = 0
    a.ob = mod("outpost.outbox").Outbox(str(tmp_path / "outbox.bin"))
    a.ob.open()
    a.do_report = lambda readings: None
    a.finish = lambda: 60
    return a


def journalling_short_once(monkeypatch):
    # alerting.new_alert runs out of memory the first time only; returns the ids it was asked
    alerting = mod("outpost.alerting")
    real = alerting.new_alert
    calls = []

    def short_once(a_, ev, csv=None):
        calls.append(ev["id"])
        if len(calls) == 1:
            raise MemoryError("memory allocation failed")
        return real(a_, ev, csv)
    monkeypatch.setattr(alerting, "new_alert", short_once)
    return calls


def test_an_alert_the_step_could_not_journal_goes_at_the_next_step(tmp_path, monkeypatch):
    a = an_app(tmp_path)
    calls = journalling_short_once(monkeypatch)
    with pytest.raises(MemoryError):
        a.step()
    assert len(a.ob) == 0 and [ev["id"] for ev, _ in a.unsaved] == ["shed-3-1"]
    a.step()        # the door is still open: no new event, the waiting one is journalled
    assert calls == ["shed-3-1", "shed-3-1"]
    assert [it[0] for it in a.ob.items] == ["shed-3-1"] and a.unsaved == []
    a.step()
    assert len(a.ob) == 1 and calls == ["shed-3-1", "shed-3-1"]


class Stop(BaseException):
    pass


def test_a_step_short_of_heap_goes_on_once_in_a_clean_heap(tmp_path, monkeypatch):
    # App.run: the first step in a row that runs out of memory ends the App with its state
    # (the Hop: run.py unloads the app and boots another from it, in the same wake); that
    # App's first step journals what waited, without a new sample
    a = an_app(tmp_path)
    a.boot = lambda hop, wdt: None
    a.drop_step = lambda: None
    a.rep = a.next_report = a.last_report = None
    a.next_beat = a.next_state = 0
    a.net.ntp_at = None
    calls = journalling_short_once(monkeypatch)
    hop = a.run()
    assert hop["oom"] == 1 and [ev["id"] for ev, _ in hop["unsaved"]] == ["shed-3-1"]
    assert len(a.ob) == 0 and hop["t0"] == 100.0
    b = an_app(tmp_path)
    b.boot = lambda hop, wdt: None
    b.unsaved = hop["unsaved"]          # (startup.boot restores it)
    reads = []
    b.drivers[0].read = lambda: reads.append(1) or {"door": 1}

    def idle(s):
        raise Stop()
    b.idle = idle
    with pytest.raises(Stop):
        b.run(hop)
    assert [it[0] for it in b.ob.items] == ["shed-3-1"] and b.unsaved == [] and reads == []
    assert calls == ["shed-3-1", "shed-3-1"] and b.oom == 0     # a step that went through


@pytest.mark.parametrize("fails, kept", [(1, "without its CSV"), (2, "subject only")])
def test_a_record_too_large_for_the_heap_is_journalled_smaller(tmp_path, monkeypatch, fails, kept):
    # alerts.to_payload running out of memory: the record goes without its CSV, then without
    # its body, before anything is lost or the board reset
    a = an_app(tmp_path)
    lines = []
    a.log = lines.append
    alerts = mod("outpost.alerts")
    real = alerts.to_payload
    tries = []

    def short(rec, csv=None):
        tries.append((csv is not None, "body" in rec))
        if len(tries) <= fails:
            raise MemoryError("memory allocation failed")
        return real(rec, csv)
    monkeypatch.setattr(alerts, "to_payload", short)
    ev = {"kind": "threshold", "severity": "critical", "subject": "door 1", "body": "open",
          "rule": 0, "state": "firing"}
    mod("outpost.alerting").new_alert(a, ev, "time_utc,door\r\n1,1\r\n")
    assert tries[:fails + 1] == [(True, True), (False, True), (False, False)][:fails + 1]
    assert len(a.ob) == 1 and a.unsaved == []
    rid, sev, payload = list(a.ob.pending({}))[0]
    rec, data, csv = alerts.from_payload(payload)
    assert rid == ev["id"] and csv is None and (("body" in rec) == (fails == 1))
    assert any(kept in l for l in lines), lines
