# The hop to the SMTP step (rtc.send_step) hands a plain kept MQTT connection to the App after
# the step, and only once nothing else can fail: a hop that runs out of memory on the way
# leaves the connection with the path, for the next path of the chain to use.
import pytest

from outpost import rtc


class Mqtt:
    announced = False

    def __init__(self):
        self.sock = "socket"

    def hand_over(self):
        s, self.sock = self.sock, None
        return (s, None, 7, 0)


class App:
    def __init__(self):
        self.mqtt = Mqtt()
        self.t0 = self.feed_ms = 0
        self.readings = self.hist = self.meta = self.crashed = {}
        self.next_state = 0
        self.current = "shed-1-1"
        self.auth_warned = False
        self.hop = None


def test_the_connection_goes_with_the_hop(monkeypatch):
    monkeypatch.setattr(rtc, "state", lambda a, s, ram=False: {"m": "op1"})
    a = App()
    with pytest.raises(BaseException) as ei:
        rtc.send_step(a)
    # by name: an emulated board's run loads the package afresh, and its Hop with it
    assert type(ei.value).__name__ == "Hop"
    assert a.hop["mq"] == ("socket", None, 7, 0) and a.mqtt.sock is None


def test_a_hop_that_runs_out_of_memory_leaves_the_connection_with_the_path(monkeypatch):
    def full(a, s, ram=False):
        raise MemoryError("memory allocation failed")
    monkeypatch.setattr(rtc, "state", full)
    a = App()
    with pytest.raises(MemoryError):
        rtc.send_step(a)
    assert a.mqtt.sock == "socket" and a.hop is None
