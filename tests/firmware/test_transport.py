# lane: micropython
# The transport chain's order, budget and outcome rules, over path objects with the path
# interface (enabled(), send(rec, csv, timeout)); the real paths are covered end to end.
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


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t

    def advance(self, s):
        self.t += s


def test_first_path_that_works_wins():
    a, b, c = Path("smtp", Down("refused")), Path("mqtt"), Path("serial")
    logs = []
    assert Chain([a, b, c], 60, logs.append, Clock()).send(REC, None, {"smtp": 20, "mqtt": 5}) == ("sent", "mqtt")
    assert a.calls == [20] and b.calls == [5] and c.calls == []
    assert logs == ["path smtp: refused"]


def test_permanent_refusal_stops_the_chain():
    a, b = Path("smtp", Refused("550 5.1.1 no such user")), Path("mqtt")
    r = Chain([a, b], 60, lambda m: None, Clock()).send(REC, None, {})
    assert r == ("dead", "smtp: 550 5.1.1 no such user")
    assert b.calls == []


def test_all_down_lists_reasons_and_skips_disabled():
    a, b, c = Path("smtp", Down("x")), Path("mqtt", enabled=False), Path("serial", Down("no ACK"))
    r = Chain([a, b, c], 60, lambda m: None, Clock()).send(REC, None, {})
    assert r == ("down", ["smtp: x", "serial: no ACK"])
    assert b.calls == []


def test_no_path_configured():
    assert Chain([Path("smtp", enabled=False)], 60, lambda m: None, Clock()).send(REC, None, {}) == \
        ("down", ["no path configured"])


class SlowPath(Path):
    # fails after spending `spend` seconds (or its whole timeout) of the injected clock
    def __init__(self, name, clock, spend=None):
        Path.__init__(self, name)
        self.clock = clock
        self.spend = spend

    def send(self, rec, csv, timeout):
        self.calls.append(timeout)
        self.clock.advance(timeout if self.spend is None else self.spend)
        raise Down("timeout")


def test_each_path_gets_what_is_left_of_the_budget():
    clock = Clock()
    a, b, c = SlowPath("smtp", clock), Path("mqtt", Down("refused")), Path("serial")
    r = Chain([a, b, c], 25, lambda m: None, clock).send(REC, None, {"smtp": 20, "mqtt": 10, "serial": 30})
    # smtp spent 20 of 25 s; mqtt and serial each get the 5 left
    assert a.calls == [20] and b.calls == [5] and c.calls == [5]
    assert r == ("sent", "serial")


def test_a_spent_budget_ends_the_round():
    clock = Clock()
    a, d = SlowPath("smtp", clock, spend=24.5), Path("serial")
    r = Chain([a, d], 25, lambda m: None, clock).send(REC, None, {"smtp": 30, "serial": 30})
    assert a.calls == [25] and d.calls == []
    assert r == ("down", ["smtp: timeout", "serial: no time left in the budget"])



class Raising(Path):
    def __init__(self, name, exc):
        Path.__init__(self, name)
        self.exc = exc

    def send(self, rec, csv, timeout, **kw):
        self.calls.append(kw)
        raise self.exc


class Taking(Path):
    def send(self, rec, csv, timeout, **kw):
        self.calls.append(kw)


def test_anything_a_path_raises_is_down_and_the_next_path_is_tried():
    # a MemoryError (TLS), a surprise from a path: an outage of that path, never out of send()
    a, b = Raising("smtp", MemoryError("x")), Raising("mqtt", KeyError("k"))
    c = Taking("serial")
    logs = []
    r = Chain([a, b, c], 60, logs.append, Clock()).send(REC, None, {})
    assert r == ("sent", "serial")
    assert "smtp: out of memory" in logs[0] and "mqtt: KeyError" in logs[1]
    r = Chain([a, b], 60, logs.append, Clock()).send(REC, None, {})
    assert r[0] == "down" and len(r[1]) == 2


def test_sent_is_called_once_and_the_gateway_paths_get_the_bytes_unchanged():
    done = []
    smtp, mqtt = Raising("smtp", Down("no route")), Taking("mqtt")
    data = b'{"v":1,"id":"d-1-1"}'
    r = Chain([smtp, mqtt], 60, lambda m: None, Clock()).send(REC, None, {},
                                                              lambda: done.append(1), data)
    assert r == ("sent", "mqtt") and done == [1]
    assert list(smtp.calls[0]) == ["sent"]     # smtp calls sent() itself, on its 250
    assert mqtt.calls == [{"data": data}]                      # forwarded, not re-encoded


def test_the_smtp_path_gets_the_record_as_journalled_for_its_step():
    smtp = Raising("smtp", Down("no route"))
    data = b'{"v":1,"id":"d-1-1"}'
    Chain([smtp], 60, lambda m: None, Clock()).send(REC, None, {}, None, data, 0, data)
    assert smtp.calls == [{"payload": data}]


class Maker:
    # make(name)/drop(name, path) for a chain of names: what was made and dropped, in order
    def __init__(self, paths, fail=()):
        self.paths = paths
        self.fail = fail
        self.log = []

    def make(self, name):
        self.log.append("make " + name)
        if name in self.fail:
            raise MemoryError("no room for " + name)
        return self.paths.get(name)

    def drop(self, name, p):
        self.log.append("drop " + name + ("" if p is None else " " + p.name))


def test_named_paths_are_made_when_reached_and_dropped_after_their_attempt():
    m = Maker({"smtp": Raising("smtp", Down("no route")), "mqtt": Taking("mqtt"),
               "serial": Taking("serial")})
    r = Chain(["smtp", "mqtt", "serial"], 60, lambda s: None, Clock(), None, m.make, m.drop).send(
        REC, None, {})
    assert r == ("sent", "mqtt")
    # the SMTP path is gone before MQTT is made; serial is never made
    assert m.log == ["make smtp", "drop smtp smtp", "make mqtt", "drop mqtt mqtt"]


def test_a_path_that_cannot_be_made_is_an_outage_of_that_path_and_one_not_configured_is_skipped():
    m = Maker({"serial": Taking("serial")}, fail=("smtp",))
    logs = []
    r = Chain(["smtp", "mqtt", "serial"], 60, logs.append, Clock(), None, m.make, m.drop).send(
        REC, None, {})
    assert r == ("sent", "serial")
    assert logs == ["path smtp: out of memory"]
    assert m.log == ["make smtp", "make mqtt", "make serial", "drop serial serial"]
    m = Maker({}, fail=("smtp",))
    r = Chain(["smtp", "mqtt"], 60, logs.append, Clock(), None, m.make, m.drop).send(REC, None, {})
    assert r == ("down", ["smtp: out of memory"])


def test_a_path_is_dropped_even_when_it_ends_the_chain():
    m = Maker({"smtp": Raising("smtp", Refused("550 no such user")), "mqtt": Taking("mqtt")})
    r = Chain(["smtp", "mqtt"], 60, lambda s: None, Clock(), None, m.make, m.drop).send(REC, None, {})
    assert r == ("dead", "smtp: 550 no such user")
    assert m.log == ["make smtp", "drop smtp smtp"]


def test_unloading_a_path_that_runs_out_of_memory_does_not_fail_the_round():
    # dropping a path after its attempt unloads its modules, which takes a little heap too:
    # a MemoryError there leaves them loaded a while, the chain goes on to the next path
    paths = {"smtp": Path("smtp", Down("refused")), "mqtt": Path("mqtt")}
    dropped = []

    def drop(name, p):
        dropped.append(name)
        if name == "smtp":
            raise MemoryError()
    chain = Chain(["smtp", "mqtt"], 60, [].append, Clock(), make=paths.get, drop=drop)
    assert chain.send(REC, None, {}) == ("sent", "mqtt")
    assert dropped == ["smtp", "mqtt"]
