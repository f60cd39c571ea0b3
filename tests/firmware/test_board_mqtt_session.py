"""The board's MQTT session against a real Mosquitto, the unchanged firmware on the emulated
board: one kept connection for every alert and heartbeat, pings within the keepalive, the Last
Will when the connection dies, `online` again after the reconnect, retained `offline` on a
deliberate stop, `online` kept across deep sleep, and MQTT over TLS (a wrong CA or name refused,
the alert going on to the next path). Connections are counted in the broker's own log."""
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from emu_fixtures import RISE, base_config, emu  # noqa: F401 (fixture)
from mqtt_reader import MqttReader
from peers.certs import TestCA
from peers.mosquitto import Mosquitto
from serial_gateway import SerialGateway

ALERT = "outpost/shed/alert"
STATUS = "outpost/shed/status"
BEAT = "outpost/shed/heartbeat"
COLD = {"freezer.temperature": -18.0}

pytestmark = pytest.mark.peers


@pytest.fixture
def tls_broker():
    with Mosquitto(tls=True) as b:
        yield b


def log_lines(broker, needle):
    return [l for l in broker.log().splitlines() if needle in l]


def connections(broker):
    # Mosquitto logs "New client connected from <addr> on port <p> as <client id> (...)"
    return len(log_lines(broker, " as shed ("))


def wait_log(broker, needle, n=1, timeout=10):
    end = time.monotonic() + timeout
    while len(log_lines(broker, needle)) < n:
        if time.monotonic() > end:
            raise TimeoutError("%r not %d times in the broker log:\n%s" % (needle, n, broker.log()))
        time.sleep(0.02)


def statuses(reader):
    return [m[1] for m in reader.on(STATUS)]


def retained(broker, topic, timeout=10):
    # what a subscriber arriving now is told: the retained message, as the gateway would see it
    got = []
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="retained-check")
    c.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)

    def on_message(c, u, msg):
        got.append((msg.payload, msg.retain))
        done.set()
    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        if not done.wait(timeout):
            raise TimeoutError("no retained message on " + topic)
    finally:
        c.loop_stop()
        c.disconnect()
    assert got[0][1] is True, got
    return got[0][0]


def mqtt_only(broker, **mqtt_over):
    cfg = base_config(mqtt=broker, order=("mqtt",))
    cfg["mqtt"].update(mqtt_over)
    return cfg


def test_one_connection_carries_every_alert_and_heartbeat(emu, broker, reader):
    # the door opens every 4 minutes (an info alert each time); a heartbeat every 5 minutes
    def script(name, t):
        if name == "door":
            return 1 if int(t // 120) % 2 else 0
        return -18.0
    cfg = mqtt_only(broker, heartbeat=300)
    cfg["sensors"].append({"name": "door", "type": "digital", "pin": 27})
    cfg["rules"].append({"sensor": "door", "above": 0.5, "cooldown": 0, "severity": "info",
                         "resolved": False})
    board = emu(cfg, script)
    board.run(3600)
    assert len(reader.wait_for(ALERT, 12)) <= 16
    assert len(reader.wait_for(BEAT, 11)) <= 13
    assert connections(broker) == 1
    assert statuses(reader) == [b"online"]
    assert len([l for l in board.lines if "mqtt: connected to" in l]) == 1


@pytest.mark.slow
def test_pings_keep_the_connection_within_the_keepalive(emu, broker, reader):
    # real time here: the broker drops a client that sends nothing for 1.5 x 3 s; samples are
    # 30 s apart and there are no heartbeats, so only the board's pings (every 1.5 s) can keep
    # it connected for 10 s
    board = emu(mqtt_only(broker, keepalive=3, heartbeat=0), COLD, speed=1.0, instant=False)
    board.run(10)
    assert reader.wait_for(STATUS, 1)[0][1] == b"online"
    log = broker.log()
    assert connections(broker) == 1, log
    assert "exceeded timeout" not in log and "shed closed its connection" not in log, log
    assert statuses(reader) == [b"online"]


def test_cut_connection_fires_the_will_and_the_reconnect_says_online(emu, broker, reader):
    board = emu(mqtt_only(broker), COLD)
    board.run(120)
    assert reader.wait_for(STATUS, 1)[0][1] == b"online"
    assert board.drop_tcp() == 1            # the board's TCP connection dies under it
    got = reader.wait_for(STATUS, 2)        # the broker publishes the Last Will at once
    assert got[1][1] == b"offline"
    wait_log(broker, "Client shed closed its connection")
    board.run(120)                          # noticed at the next check, reconnect after 5 s
    assert [m[1] for m in reader.wait_for(STATUS, 3)] == [b"online", b"offline", b"online"]
    assert connections(broker) == 2
    assert retained(broker, STATUS) == b"online"
    assert any("mqtt: connection lost" in l for l in board.lines)


def test_wifi_loss_fires_the_will_and_the_return_sends_the_alert_at_once(emu, broker, reader):
    cfg = mqtt_only(broker)
    cfg["wifi"]["backoff_max"] = 30
    # an outbox hold of at least 600 s: only the MQTT reconnect can end it sooner
    cfg["transport"].update(retry_min=600, retry_max=1800)
    board = emu(cfg, RISE)
    board.run(600)
    board.wifi_up = False                   # the freezer warms past -12 C at about 740 s
    board.run(200)
    assert [m[1] for m in reader.wait_for(STATUS, 2)] == [b"online", b"offline"]
    assert reader.on(ALERT) == []
    assert any("kept shed-1-1 in the outbox" in l for l in board.lines)
    board.wifi_up = True
    board.run(300)                          # 1100 s: well before the hold would have ended
    assert [m[1] for m in reader.wait_for(STATUS, 3)] == [b"online", b"offline", b"online"]
    assert [r[1] for r in reader.wait_for(ALERT, 1)][0].startswith(b'{"')
    assert len(reader.on(ALERT)) == 1 and connections(broker) == 2


def test_broker_crash_and_restart(emu, broker):
    cfg = mqtt_only(broker)
    cfg["transport"].update(retry_min=600, retry_max=1800)
    board = emu(cfg, RISE)
    board.run(300)
    wait_log(broker, " as shed (")
    broker.kill()                           # no Will from a dead broker; the board notices
    board.run(600)                          # the alert (~740 s) waits in the outbox
    assert any("mqtt: connection lost" in l for l in board.lines)
    assert any("kept shed-1-1 in the outbox" in l for l in board.lines)
    broker.start()
    reader = MqttReader(broker.host, broker.port)
    try:
        board.run(400)                      # reconnect backoff reaches 300 s at most (a retry
        assert reader.wait_for(ALERT, 1)    # due right at 300 s must fall inside the run)
        assert reader.wait_for(STATUS, 1)[-1][1] == b"online"
    finally:
        reader.close()
    assert any("sent shed-1-1 via mqtt" in l for l in board.lines)
    assert connections(broker) == 2         # before the crash and after the restart


def test_stopping_the_app_leaves_offline_retained(emu, broker, reader):
    board = emu(mqtt_only(broker), COLD)
    board.run(120)
    board.interrupt()                       # Ctrl-C on the console
    assert [m[1] for m in reader.wait_for(STATUS, 2)] == [b"online", b"offline"]
    wait_log(broker, "Client shed disconnected.")    # a clean DISCONNECT, not the Will
    assert "shed closed its connection" not in broker.log()
    assert retained(broker, STATUS) == b"offline"
    assert any("stopping: status offline" in l for l in board.lines)


def test_emulator_hang_up_leaves_online_like_a_quiet_board(emu, broker, reader):
    # run.py ends a run this way (see its --for): the gateway then notices the board by its
    # overdue heartbeat, as with a power cut, rather than by an instant Last Will
    board = emu(mqtt_only(broker), COLD)
    board.run(120)
    board.close(hang_up=True)
    wait_log(broker, "Client shed disconnected.")
    assert [m[1] for m in reader.wait_for(STATUS, 1)] == [b"online"]
    assert "shed closed its connection" not in broker.log()
    assert retained(broker, STATUS) == b"online"


def test_deep_sleep_connects_per_wake_and_keeps_online(emu, broker, reader):
    cfg = mqtt_only(broker, heartbeat=600)
    cfg.update(deep_sleep=True, sample_every=60)
    board = emu(cfg, RISE)
    board.run(3600)
    beats = reader.wait_for(BEAT, 6)
    assert len(reader.wait_for(ALERT, 1)) == 1
    wait_log(broker, "Client shed disconnected.", connections(broker))
    n = connections(broker)
    # a connection only for a wake-up with something to send (about 60 wake-ups in the hour)
    assert len(beats) <= n <= len(beats) + 1, n
    assert len(log_lines(broker, "Client shed disconnected.")) == n
    assert "shed closed its connection" not in broker.log()
    # `offline` would make the gateway's watchdog mail "board silent" at every sleep
    assert set(statuses(reader)) == {b"online"}
    assert retained(broker, STATUS) == b"online"
    assert board.boots > 50


def tls_config(broker, **over):
    cfg = base_config(order=("mqtt", "serial"), serial=True)
    cfg["mqtt"] = dict({"host": broker.host, "port": broker.tls_port, "tls": True,
                        "ca": broker.ca_pem.decode(), "server_hostname": "localhost",
                        "timeout": 5}, **over)
    return cfg


@pytest.mark.parametrize("legacy", [False, True], ids=["umqtt-1.4-context", "umqtt-legacy-ssl_params"])
def test_mqtt_over_tls(emu, tls_broker, legacy):
    import umqtt.simple
    umqtt.simple.LEGACY = legacy
    reader = MqttReader(tls_broker.host, tls_broker.port)
    try:
        with SerialGateway() as gw:
            board = emu(tls_config(tls_broker), RISE, uart_urls={1: gw.url})
            board.run(1200)
            rec = reader.wait_for(ALERT, 1)
            assert gw.records == []
    finally:
        reader.close()
    assert b'"id":"shed-1-1"' in rec[0][1].replace(b" ", b"")
    assert any("mqtt: connected to 127.0.0.1:%d (TLS)" % tls_broker.tls_port in l for l in board.lines)
    assert connections(tls_broker) == 1      # configured with the TLS port only


@pytest.mark.parametrize("legacy", [False, True], ids=["umqtt-1.4-context", "umqtt-legacy-ssl_params"])
@pytest.mark.parametrize("wrong", ["ca", "name"])
def test_mqtt_tls_refuses_a_wrong_ca_or_name_and_the_alert_goes_by_serial(emu, tls_broker, wrong, legacy):
    import umqtt.simple
    umqtt.simple.LEGACY = legacy
    over = {"ca": TestCA().ca_pem.decode()} if wrong == "ca" else {"server_hostname": "gateway.example"}
    with SerialGateway() as gw:
        board = emu(tls_config(tls_broker, **over), RISE, uart_urls={1: gw.url})
        board.run(1200)
        gw.wait_frames(1)
    assert [r["id"] for r in gw.records] == ["shed-1-1"]
    refused = [l for l in board.lines if "path mqtt: " in l]
    assert refused and "certificate" in refused[0].lower(), refused
    assert any("sent shed-1-1 via serial" in l for l in board.lines)
    assert connections(tls_broker) == 0      # never got as far as MQTT CONNECT


def test_mqtt_tls_waits_for_the_clock(emu, tls_broker):
    # no NTP: the certificate's dates cannot be checked, so the TLS path is not even tried
    with SerialGateway() as gw:
        board = emu(tls_config(tls_broker), RISE, uart_urls={1: gw.url}, ntp=False)
        board.run(1200)
        gw.wait_frames(1)
    assert any("path mqtt: clock not set" in l for l in board.lines)
    assert [r["id"] for r in gw.records] == ["shed-1-1"]
    assert connections(tls_broker) == 0
