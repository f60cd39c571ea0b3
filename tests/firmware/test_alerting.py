# lane: micropython
# An event becomes a journalled alert (outpost/alerting.py): when the journal's writer does not
# fit in the heap, the alert is not lost: it is made again at the next step, with its id.
from outpost import alerting


class Outbox:
    def __init__(self, fail):
        self.fail = fail
        self.items = []
        self.dropped = 0

    def add(self, payload):
        if self.fail:
            raise MemoryError()
        self.items.append(payload)
        return []

    def has(self, rid):
        return False


class App:
    def __init__(self, fail):
        self.cfg = {"device": "shed"}
        self.ob = Outbox(fail)
        self.unsaved = []
        self.tried = {}
        self.logs = []
        self.seq = 0

    def next_id(self):
        self.seq += 1
        return "shed-1-" + str(self.seq)

    def log(self, msg):
        self.logs.append(msg)


EVENT = {"kind": "threshold", "severity": "critical", "subject": "door 1 (above 0.5)"}


def test_an_alert_the_journal_could_not_take_waits_for_the_next_step():
    a = App(fail=True)
    alerting.new_alert(a, dict(EVENT))
    assert len(a.unsaved) == 1 and a.unsaved[0][0]["id"] == "shed-1-1"
    assert "journalled at the next step" in a.logs[-1]
    a.ob.fail = False
    ev, csv = a.unsaved.pop()
    alerting.new_alert(a, ev, csv)
    assert len(a.ob.items) == 1 and b'"id":"shed-1-1"' in a.ob.items[0] and a.seq == 1
