# Latency (printed, not asserted): from an MQTT QoS 1 publish of one alert until the upstream
# answered "250" for its message, through a real gateway process (ingest, commit, PUBACK,
# relay). Alerts are published one at a time at a steady pace; reports p50, p99 and max.
import json
import sys
import threading
import time

from gateway_common import Gateway, Publisher, mqtt_subscribed, percentile, record, tmpdir

from peers.mosquitto import Mosquitto
from peers.smtpd import MailServer

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
PACE = 0.01      # seconds between publishes
SENDER = "outpost@example.org"


def main():
    arrived = {}
    lock = threading.Lock()
    with Mosquitto() as broker, MailServer(pipelining=True) as up:
        deliver = up._deliver

        def timed_deliver(msg):          # stamp the moment the server accepts (just before 250)
            with lock:
                arrived[msg.parsed()["Message-ID"]] = time.perf_counter()
            return deliver(msg)

        up._deliver = timed_deliver
        tmp = tmpdir("latency")
        gw = Gateway(tmp, mqtt={"enabled": True, "host": broker.host, "port": broker.port},
                     relay={"host": up.host, "port": up.port, "mode": "plain", "sender": SENDER},
                     digest={"threshold": 10 ** 9, "rate_per_hour": 0})
        try:
            gw.wait_healthy(mqtt_subscribed)
            pub = Publisher(broker, client_id="lat-pub")
            sent = {}
            for i in range(N):
                rec = record(device="lat", seq=i)
                sent["<%s@example.org>" % rec["id"]] = time.perf_counter()
                pub.publish("outpost/lat/alert", json.dumps(rec))
                time.sleep(PACE)          # a steady pace, not a synchronisation
            gw.wait(lambda: len(arrived) >= N, 120)
            pub.close()
        finally:
            gw.stop()
    lat = [1000 * (arrived[k] - t) for k, t in sent.items() if k in arrived]
    print("MQTT publish -> upstream 250: %d alerts, one every %d ms: p50 %.1f ms, p99 %.1f ms, max %.1f ms"
          % (len(lat), PACE * 1000, percentile(lat, 50), percentile(lat, 99), max(lat)))


if __name__ == "__main__":
    main()
