# The hop to the SMTP step (sending.hop raises it, then App.hand_over once the send's frames have
# unwound) hands a plain kept MQTT connection to the App after the step, and only once nothing
# else can fail; a hop with no room even then goes in a send wake (a deep sleep of 1 ms), the
# connection closed.
import pytest

from outpost import app, sending


class Mqtt:
    announced = False

    def __init__(self):
        self.sock = "socket"
        self.closed = False

    def hand_over(self):
        s, self.sock = self.sock, None
        return (s, None, 7, 0)

    def close(self):
        self.closed = True


class Slept(Exception):
    pass


class Machine:
    def __init__(self):
        self.slept = []

    def deepsleep(self, ms):
        self.slept.append(ms)
        raise Slept()      # does not return on a board


class App(app.App):
    # the real App's hand_over and state, on what they read
    def __init__(self):
        self.mqtt = Mqtt()
        self.machine = Machine()
        self.lines = []
        self.t0 = self.feed_ms = 0
        self.readings = self.hist = self.meta = self.crashed = {}
        self.next_state = 0
        self.current = "shed-1-1"
        self.auth_warned = False
        self.chain = self.smtp = self.drivers = "held"
        self.cfg = {"log": True}

    def drop_step(self):
        self.chain = self.smtp = self.drivers = None

    def log(self, msg):
        self.lines.append(msg)


def test_the_hop_unwinds_first_then_the_connection_goes_with_the_state(monkeypatch):
    monkeypatch.setattr(App, "state", lambda a, s: {"m": "op1"})
    a = App()
    with pytest.raises(BaseException) as ei:
        sending.hop(a, False)
    # by name: an emulated board's run loads the package afresh, and its Hop with it
    assert type(ei.value).__name__ == "Hop"
    assert a.mqtt.sock == "socket"      # nothing built or handed over before the stack unwinds
    d = a.hand_over()
    assert d["mq"] == ("socket", None, 7, 0) and a.mqtt.sock is None
    assert a.machine.slept == []


def test_a_hop_with_no_room_for_its_state_goes_in_a_send_wake(monkeypatch):
    def full(a, s):
        raise MemoryError("memory allocation failed")
    monkeypatch.setattr(App, "state", full)
    a = App()
    with pytest.raises(Slept):
        a.hand_over()
    assert a.machine.slept == [1] and a.mqtt.closed and a.mqtt.sock == "socket"
    assert any("out of memory" in l and "goes in a send wake" in l for l in a.lines)
