# Watchdog with an injected clock: a silent board gives exactly one alert, its return one
# more; Last Will offline counts as silent; flapping inside the guard is not mailed.
import json

from gateway_helpers import make_cfg
from outpost_gateway.clock import ManualClock
from outpost_gateway.spool import Seen, Spool
from outpost_gateway.watchdog import Watchdog


def setup(tmp_path, **wd):
    clock = ManualClock()
    cfg = make_cfg(tmp_path, watchdog=dict({"min_interval": 60.0, "factor": 3.0, "flap_guard": 600.0,
                                            "offline_grace": 0.0}, **wd))
    spool = Spool(str(tmp_path / "s.db"), clock).open()
    return clock, spool, Watchdog(cfg, spool, clock)


def kinds(spool):
    out = []
    for r in spool.list(limit=1000):
        a = spool.show(r["id"])
        out.append((json.loads(bytes(a["payload"]))["kind"], a["device"]))
    return out


def test_silent_board_one_alert_then_back_one_more(tmp_path):
    clock, spool, wd = setup(tmp_path)
    t = clock.time()
    for i in range(5):                      # a board reporting every 100 s
        spool.write([Seen("b1", t + 100 * i)])
    clock.now = t + 400 + 250               # within 3 x 100 s: fine
    assert wd.check() == []
    clock.now = t + 400 + 301               # overdue
    made = wd.check()
    assert [a.kind for a in made] == ["device-silent"]
    assert made[0].rcpts == ["ops@example.org"]
    for step in range(10):                  # still silent: no more alerts
        clock.advance(1000)
        assert wd.check() == []
    assert wd.silent_boards() == ["b1"]
    spool.write([Seen("b1", clock.advance(5))])
    made = wd.check()
    assert [a.kind for a in made] == ["device-back"]
    assert wd.check() == []
    assert wd.silent_boards() == []
    assert kinds(spool) == [("device-silent", "b1"), ("device-back", "b1")]


def test_configured_interval_and_last_will(tmp_path):
    clock, spool, wd = setup(tmp_path, intervals={"b2": 120.0})
    t = clock.time()
    spool.write([Seen("b2", t)])            # one message: interval comes from config
    clock.now = t + 119
    assert wd.check() == []
    clock.now = t + 121
    assert [a.kind for a in wd.check()] == ["device-silent"]
    # Last Will of another board: silent at once, no interval needed
    spool.write([Seen("b3", t + 121, "online")])
    spool.write([Seen("b3", t + 122, "offline")])
    made = wd.check(t + 122)
    assert [(a.kind, a.device) for a in made] == [("device-silent", "b3")]
    spool.write([Seen("b3", t + 130, "online")])
    assert [(a.kind, a.device) for a in wd.check(t + 130)] == [("device-back", "b3")]


def test_flapping_board_is_not_a_storm(tmp_path):
    clock, spool, wd = setup(tmp_path, flap_guard=600.0)
    t = clock.time()
    spool.write([Seen("b4", t, "online")])
    mailed = []
    # offline/online every 30 s for 10 minutes
    for i in range(20):
        now = t + 30 * i + 1
        spool.write([Seen("b4", now, "offline" if i % 2 == 0 else "online")])
        mailed += [a.kind for a in wd.check(now)]
    assert mailed == ["device-silent", "device-back"]
    # once the guard has passed, a new silence is mailed again
    now = t + 30 * 20 + 700
    spool.write([Seen("b4", now, "offline")])
    assert [a.kind for a in wd.check(now)] == ["device-silent"]


def test_alert_bursts_do_not_teach_a_faster_rhythm(tmp_path):
    clock, spool, wd = setup(tmp_path)
    t = clock.time()
    for i in range(4):                              # heartbeats every 10 minutes
        spool.write([Seen("b6", t + 600 * i)])
    t = t + 1800
    for i in range(50):                             # then a burst of alerts, a second apart
        spool.write([Seen("b6", t + 1 + i, None, learn=False)])
    b = spool.boards()[0]
    assert abs(b["gap"] - 600) < 1e-6 and b["last_seen"] == t + 50
    # the next heartbeat is due 600 s after the last one: no false "silent" before 3 x 600 s
    assert wd.check(t + 1700) == []
    assert [a.kind for a in wd.check(t + 1851)] == ["device-silent"]


def test_unknown_rhythm_is_not_judged(tmp_path):
    clock, spool, wd = setup(tmp_path)
    spool.write([Seen("b5", clock.time())])
    assert wd.check(clock.time() + 100000) == []


def test_silent_and_back_mailed_end_to_end(tmp_path, monkeypatch):
    # heartbeats over a real broker into the running gateway, the watchdog on an injected
    # clock, and the two notices relayed to a real upstream: exactly one each. The periodic
    # pass is an hour away: "back" comes from the heartbeat waking the watchdog.
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from gateway_helpers import wait_for
    from outpost_gateway.service import Gateway
    from peers.mosquitto import Mosquitto
    from peers.smtpd import MailServer

    monkeypatch.setattr(Gateway, "WATCHDOG_EVERY", 3600.0)
    clock = ManualClock()
    with Mosquitto() as broker, MailServer() as up:
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                       "client_id": "gw-wd"},
                       relay={"port": up.port, "mode": "plain"},
                       watchdog={"intervals": {"wd1": 60.0}})
        gw = Gateway(cfg, clock=clock)
        gw.start()
        board = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="wd1",
                            protocol=mqtt.MQTTv5)
        board.connect(broker.host, broker.port)
        board.loop_start()
        try:
            assert wait_for(lambda: gw.mqtt.subscribed, 30)
            board.publish("outpost/wd1/heartbeat", b"10", qos=1).wait_for_publish(20)
            assert wait_for(lambda: [b["device"] for b in gw.spool.boards()] == ["wd1"], 30)
            clock.advance(61)
            gw.watchdog.check()
            gw.watchdog.check()
            msg = up.wait_for(1, timeout=30)[0]
            assert msg.parsed()["Subject"].endswith("Board wd1 is silent")
            board.publish("outpost/wd1/heartbeat", b"80", qos=1).wait_for_publish(20)
            msgs = up.wait_for(2, timeout=30)
            assert msgs[1].parsed()["Subject"].endswith("Board wd1 is back")
            assert wait_for(lambda: gw.spool.counts()["done"] == 2, 30)
            assert len(up.messages) == 2
        finally:
            board.disconnect()
            board.loop_stop()
            gw.stop()
            gw.spool.close()


def test_a_will_that_online_follows_at_once_is_no_silence(tmp_path):
    # a reset board reconnects under its client id: the broker publishes the old session's
    # Will "offline", and the board's "online" follows; neither is mailed
    clock, spool, wd = setup(tmp_path, offline_grace=10.0)
    t = clock.time()
    spool.write([Seen("b8", t, "online")])
    spool.write([Seen("b8", t + 1, "offline")])
    assert wd.check(t + 1) == []
    spool.write([Seen("b8", t + 1.2, "online")])
    assert wd.check(t + 6) == [] and wd.check(t + 30) == []
    # a Will that lasts is a silence, mailed once the grace has passed
    spool.write([Seen("b8", t + 40, "offline")])
    assert wd.check(t + 41) == []
    assert wd.check(t + 46) == []
    assert [a.kind for a in wd.check(t + 51)] == ["device-silent"]
    assert wd.check(t + 56) == []
