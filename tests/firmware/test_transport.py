# The transport chain's order, budget and outcome rules, over path objects with the path
# interface (enabled(), send(rec, csv, timeout)); the real paths are covered end to end.
from outpost import transport
from outpost.transport import Chain, Down, Refused


class Path:
    def __init__(self, name, outcome=None, enabled=True):
        self.name = name
        self.outcome = outcome
        self.on = enabled
        self.calls = []

    def enabled(self):
        return self.on

    def send(self, rec, csv, timeout):
        self.calls.append(timeout)
        if self.outcome is not None:
            raise self.outcome


REC = {"id": "d-1-1"}


def test_first_path_that_works_wins():
    a, b, c = Path("smtp", Down("refused")), Path("mqtt"), Path("serial")
    logs = []
    assert Chain([a, b, c], 60, logs.append).send(REC, None, {"smtp": 20, "mqtt": 5}) == ("sent", "mqtt")
    assert a.calls == [20] and b.calls == [5] and c.calls == []
    assert logs == ["path smtp: refused"]


def test_permanent_refusal_stops_the_chain():
    a, b = Path("smtp", Refused("550 5.1.1 no such user")), Path("mqtt")
    r = Chain([a, b], 60, lambda m: None).send(REC, None, {})
    assert r == ("dead", "smtp: 550 5.1.1 no such user")
    assert b.calls == []


def test_all_down_lists_reasons_and_skips_disabled():
    a, b, c = Path("smtp", Down("x")), Path("mqtt", enabled=False), Path("serial", Down("no ACK"))
    r = Chain([a, b, c], 60, lambda m: None).send(REC, None, {})
    assert r == ("down", ["smtp: x", "serial: no ACK"])
    assert b.calls == []


def test_no_path_configured():
    assert Chain([Path("smtp", enabled=False)], 60, lambda m: None).send(REC, None, {}) == \
        ("down", ["no path configured"])


def test_timeouts_never_exceed_the_budget():
    a, b = Path("smtp", Down("x")), Path("serial", Down("y"))
    Chain([a, b], 7, lambda m: None).send(REC, None, {"smtp": 20, "serial": 30})
    assert a.calls[0] <= 7 and b.calls[0] <= 7


def test_backoff_doubles_to_the_cap():
    assert [transport.backoff(n, 30, 240) for n in range(7)] == [0, 30, 60, 120, 240, 240, 240]
    assert transport.backoff(100, 5, 600) == 600
