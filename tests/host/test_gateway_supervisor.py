# Liveness: a path whose thread is gone, or whose last step failed, shows up in /health (503,
# naming the path) and in `status`; the supervisor starts it again, and alerts flow once more.
# The gateway runs in-process with real peers (Mosquitto, a pty pair, a loopback upstream);
# threads are ended the blunt way a bug would end them (an exception no handler expects).
import io
import json

import pytest

from gateway_helpers import Publisher, free_port, http_json as health, make_cfg, record, wait_for
from outpost_gateway import admin
from outpost_gateway.service import Gateway
from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer
from test_gateway_serial import Board, frame


# the threads these tests end on purpose die with an exception pytest would report
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


class Killed(BaseException):
    # what no loop catches (as a bug in a library could raise): the thread ends
    pass


@pytest.fixture
def gw(tmp_path):
    with Mosquitto() as broker, MailServer() as up:
        http = free_port()
        board = Board(str(tmp_path / "ttyB"))
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                       "client_id": "gw-sup"},
                       serial={"ports": [str(tmp_path / "ttyB")], "reopen_interval": 0.2},
                       relay={"port": up.port, "mode": "plain", "backoff_base": 0.2, "backoff_max": 0.5},
                       digest={"threshold": 1000, "rate_per_hour": 0},
                       http={"enabled": True, "port": http})
        g = Gateway(cfg)
        g.SUPERVISE_EVERY = 0.5
        g.start()
        pub = Publisher(broker, client_id="sup-board")
        try:
            assert wait_for(lambda: g.mqtt.subscribed and g.serial[0].is_open, 30)
            yield g, http, pub, board, up
        finally:
            pub.close()
            g.stop()
            g.spool.close()


def test_dead_mqtt_thread_is_reported_and_restarted(gw):
    g, http, pub, board, up = gw
    g.SUPERVISE_EVERY = 3600.0          # see the failure before the repair
    g.mqtt.client.loop_stop()           # the network thread is gone, not by our stop()
    code, h = health(http)
    assert code == 503 and h["failed"]["mqtt"] == "network thread gone"
    assert any(p.startswith("mqtt failed") for p in h["problems"])
    out = io.StringIO()
    g.spool.set_state("status", g.status())
    assert admin.status(g.cfg, g.spool, False, out) == 0
    assert "mqtt: FAILED (network thread gone)" in out.getvalue()
    assert g.supervise() == ["mqtt"]
    assert wait_for(lambda: g.mqtt.subscribed and health(http)[0] == 200, 30)
    rec = record(device="m1", seq=1)
    pub.publish("outpost/m1/alert", json.dumps(rec))
    assert wait_for(lambda: g.spool.show(rec["id"]) is not None, 30)


def test_dead_serial_reader_is_restarted_by_the_supervisor(gw, monkeypatch):
    g, http, pub, board, up = gw
    ser = g.serial[0]
    real = ser._read_loop
    calls = []

    def dies_once(s):
        if not calls:
            calls.append(1)
            raise Killed()
        return real(s)
    monkeypatch.setattr(ser, "_read_loop", dies_once)
    board.unplug()                      # the reader reopens the port, and meets the "bug"
    board.plug()
    assert wait_for(lambda: ser.restarts >= 1 and ser.alive(), 30)
    assert wait_for(lambda: health(http)[0] == 200, 30)
    rec = record(device="s1", seq=1)
    board.send(frame(rec))
    assert board.reply(30) == ("ACK", rec["id"])


def test_failing_relay_pass_is_reported_then_clears(gw, monkeypatch):
    g, http, pub, board, up = gw
    real = g.relay.run_once
    state = {"fail": True}

    def flaky():
        if state["fail"]:
            raise RuntimeError("a bug met on some row")
        return real()
    monkeypatch.setattr(g.relay, "run_once", flaky)
    g.wake.set()
    assert wait_for(lambda: "relay" in g.failed(), 30)
    code, h = health(http)
    assert code == 503 and h["failed"]["relay"].startswith("last pass failed: RuntimeError")
    state["fail"] = False
    rec = record(device="r1", seq=1)
    pub.publish("outpost/r1/alert", json.dumps(rec))
    assert wait_for(lambda: len(up.messages) >= 1, 30)
    assert wait_for(lambda: health(http)[0] == 200, 30)


def test_dead_relay_thread_is_restarted(gw, monkeypatch):
    g, http, pub, board, up = gw
    real = g.relay.run_once
    calls = []

    def dies_once():
        if not calls:
            calls.append(1)
            raise Killed()
        return real()
    monkeypatch.setattr(g.relay, "run_once", dies_once)
    g.wake.set()
    assert wait_for(lambda: g.loops["relay"]["restarts"] >= 1, 30)
    rec = record(device="r2", seq=1)
    pub.publish("outpost/r2/alert", json.dumps(rec))
    assert wait_for(lambda: len(up.messages) >= 1, 30)
    assert wait_for(lambda: health(http)[0] == 200, 30)


def test_dead_spool_writer_is_restarted(gw):
    g, http, pub, board, up = gw
    from outpost_gateway.spool import Seen

    def boom(res):
        raise Killed()
    # a callback that raises what the writer does not catch ends its thread
    g.spool.submit(Seen("w1", 1.0), boom)
    assert wait_for(lambda: g.writer_restarts >= 1 and g.spool.writer_running(), 30)
    rec = record(device="w2", seq=1)
    pub.publish("outpost/w2/alert", json.dumps(rec))
    assert wait_for(lambda: g.spool.show(rec["id"]) is not None, 30)
    assert wait_for(lambda: health(http)[0] == 200, 30)


def test_a_message_whose_handling_raises_is_acknowledged_kept_and_reported(gw, monkeypatch):
    # a bug met on one input: that message is refused for good (acknowledged, in `rejected`),
    # /health names the path until the next message goes through, and the thread lives on
    g, http, pub, board, up = gw
    real = g.ingest.offer
    state = {"fail": True}

    def offer(payload, source, done, **kw):
        if state["fail"]:
            raise RuntimeError("bug met on this input")
        return real(payload, source, done, **kw)
    monkeypatch.setattr(g.ingest, "offer", offer)
    bad = record(device="e1", seq=1)
    pub.publish("outpost/e1/alert", json.dumps(bad)).wait_for_publish(30)
    assert wait_for(lambda: [r for r in g.spool.rejected() if "bug met" in r["reason"]], 30)
    code, h = health(http)
    assert code == 503 and h["failed"]["mqtt"].startswith("last message failed: RuntimeError")
    board.send(frame(bad))
    assert board.reply(30) == ("NAK", None, "error")
    assert g.failed()["serial " + g.serial[0].port].startswith("last line failed")
    state["fail"] = False
    good = record(device="e1", seq=2)
    pub.publish("outpost/e1/alert", json.dumps(good))
    board.send(frame(record(device="e1", seq=3)))
    assert board.reply(30)[0] == "ACK"
    assert wait_for(lambda: g.spool.show(good["id"]) is not None, 30)
    assert wait_for(lambda: health(http)[0] == 200, 30)
    assert g.mqtt.alive() and g.serial[0].alive()
    # acknowledged: a reconnect of the gateway's session does not bring the bad one back
    assert g.spool.show(bad["id"]) is None
