"""The kept MQTT connection on the real MicroPython unix port: between exchanges the board holds
its socket and packet id, not umqtt.simple's code (firmware/outpost/mqtt_path.py), so every ping,
heartbeat, state and alert makes the client again over the same connection."""
import os
import sys
import time

from realboard import RealBoard
from test_board_real import board_config, door_open, mqtt_cfg

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "firmware"))


def test_one_kept_connection_carries_pings_heartbeats_state_and_the_alert(tmp_path):
    from mqtt_reader import MqttReader
    from peers.mosquitto import Mosquitto
    with Mosquitto() as broker:
        reader = MqttReader(broker.host, broker.port)
        try:
            # Mosquitto drops a client silent for 1.5 x 2 s (checked about once a second, so
            # about 5 s in practice): between heartbeats and states (6 s apart) only the
            # board's pings keep the connection
            cfg = board_config(mqtt=mqtt_cfg(broker, keepalive=2, heartbeat=6, publish_every=6),
                               order=("mqtt",))
            with RealBoard(tmp_path, cfg, heapsize="128k") as b:
                b.start()
                b.wait_for("mqtt: connected", timeout=60)
                reader.wait_for("outpost/unix1/heartbeat", 2, timeout=20)
                reader.wait_for("outpost/unix1/state", 2, timeout=20)
                door_open(b)
                b.wait_for("sent unix1-1-1 via mqtt", timeout=30)
                reader.wait_for("outpost/unix1/alert", 1)
                time.sleep(0.5)     # the broker's log catches up
                log = broker.log()
                assert log.count(" as unix1 (") == 1, log
                assert "exceeded timeout" not in log, log
                assert [m[1] for m in reader.on("outpost/unix1/status")] == [b"online"]
                assert b.count("mqtt: connected") == 1 and b.count("connection lost") == 0
                assert b.count("Traceback") == 0 and b.count("out of memory") == 0
        finally:
            reader.close()
