# Mosquitto SIGKILLed with alerts in flight (acknowledged to the boards, queued for the
# gateway's persistent session, not yet delivered): whatever the broker acknowledged and saved
# (autosave_interval) arrives once it is started again; what it acknowledged after its last
# save is the window the docs state (host/mosquitto/outpost.conf, README "Broker crash").
import json
import os
import time

from gateway_helpers import Publisher, make_cfg, record, wait_for
from outpost_gateway.clock import SystemClock
from outpost_gateway.ingest import Ingest
from outpost_gateway.metrics import Metrics
from outpost_gateway.mqtt_ingress import MqttIngress
from outpost_gateway.spool import Spool
from peers.mosquitto import Mosquitto
from test_gateway_mqtt import alert_topic


def ingress(cfg, spool):
    ing = MqttIngress(cfg, Ingest(cfg, spool, Metrics(), SystemClock()))
    ing.start()
    assert wait_for(lambda: ing.subscribed, 30)
    return ing


def test_broker_killed_with_alerts_in_flight_saved_ones_arrive(tmp_path):
    with Mosquitto(extra_config="autosave_interval 1") as broker:
        cfg = make_cfg(tmp_path, mqtt={"enabled": True, "host": broker.host, "port": broker.port,
                                       "client_id": "gw-crash"})
        spool = Spool(str(tmp_path / "s.db"), SystemClock()).open()
        spool.start_writer()
        try:
            ing = ingress(cfg, spool)       # the gateway's persistent session exists...
            ing.stop()                      # ...and it is away: the broker queues for it
            pub = Publisher(broker)
            saved = [record(device="flight", seq=i) for i in range(50)]
            try:
                for r in saved:
                    pub.publish(alert_topic(r), json.dumps(r)).wait_for_publish(20)   # PUBACKed
            finally:
                pub.close()
            db = os.path.join(broker.dir, "mosquitto.db")
            acked = time.time()
            # the broker's next autosave (every second while something changed) takes them
            assert wait_for(lambda: os.path.exists(db) and os.path.getmtime(db) > acked + 0.2, 20)
            broker.kill()                   # SIGKILL: no save on the way out
            broker.start()                  # same port, same persistence file
            ing = ingress(cfg, spool)
            try:
                assert wait_for(lambda: spool.counts()["alerts"] == len(saved), 30), spool.counts()
            finally:
                ing.stop()
            assert all(spool.show(r["id"]) is not None for r in saved)
        finally:
            spool.close()
