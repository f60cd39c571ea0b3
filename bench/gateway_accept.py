# Durable accept rate of the gateway (printed, not asserted):
#  - MQTT: alerts/s from the first QoS 1 publish until the gateway has sent PUBACK for every
#    one, each after its spool commit (counted by outpost_acknowledged_total);
#  - SMTP: submissions/s to "250" (which the gateway sends only after the commit), from
#    several concurrent client connections.
# The relay is off, so only ingress + spool are measured. Goal: >= 5,000/s for MQTT.
import smtplib
import sys
import threading
import time

from gateway_common import Gateway, alert_json, tmpdir

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from peers.mosquitto import Mosquitto

N_MQTT = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
N_SMTP = int(sys.argv[2]) if len(sys.argv) > 2 else 2000


def bench_mqtt(inflight):
    extra = "max_queued_messages 100000\nmax_inflight_messages %d" % inflight
    with Mosquitto(extra_config=extra) as broker:
        tmp = tmpdir("accept-mqtt")
        gw = Gateway(tmp, mqtt={"enabled": True, "host": broker.host, "port": broker.port},
                     relay={"enabled": False})
        try:
            gw.wait(lambda: ((gw.health() or {}).get("mqtt") or {}).get("subscribed"), 60)
            pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-pub",
                              protocol=mqtt.MQTTv5)
            pub.max_inflight_messages_set(1000)
            pub.max_queued_messages_set(0)
            pub.connect(broker.host, broker.port)
            pub.loop_start()
            payloads = [alert_json("bench%d" % (i % 10), i) for i in range(N_MQTT)]
            t0 = time.perf_counter()
            infos = [pub.publish("outpost/bench%d/alert" % (i % 10), p, qos=1) for i, p in enumerate(payloads)]
            for info in infos:
                info.wait_for_publish(600)
            dt_pub = time.perf_counter() - t0
            gw.wait(lambda: gw.metrics()["outpost_acknowledged_total"] >= N_MQTT, 600, 0.02)
            dt = time.perf_counter() - t0
            pub.disconnect()
            pub.loop_stop()
            print("MQTT QoS 1 -> PUBACK after commit: %d alerts in %.2f s = %.0f alerts/s "
                  "(broker max_inflight_messages %d; the publisher alone took %.2f s)"
                  % (N_MQTT, dt, N_MQTT / dt, inflight, dt_pub))
        finally:
            gw.stop()


def bench_mqtt_backlog(inflight):
    # the broker already holds N alerts for the gateway's session (published while it was
    # stopped): the rate is the gateway's own, not one Python publisher's
    extra = "max_queued_messages 100000\nmax_inflight_messages %d" % inflight
    with Mosquitto(extra_config=extra) as broker:
        tmp = tmpdir("accept-backlog")
        sect = dict(mqtt={"enabled": True, "host": broker.host, "port": broker.port}, relay={"enabled": False})
        gw = Gateway(tmp, **sect)
        gw.wait(lambda: ((gw.health() or {}).get("mqtt") or {}).get("subscribed"), 60)
        gw.stop()
        pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="bench-pub",
                          protocol=mqtt.MQTTv5)
        pub.max_inflight_messages_set(1000)
        pub.max_queued_messages_set(0)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        infos = [pub.publish("outpost/bench%d/alert" % (i % 10), alert_json("bench%d" % (i % 10), i), qos=1)
                 for i in range(N_MQTT)]
        for info in infos:
            info.wait_for_publish(600)
        pub.disconnect()
        pub.loop_stop()
        t0 = time.perf_counter()
        gw = Gateway(tmp, **sect)
        try:
            gw.wait(lambda: gw.metrics()["outpost_acknowledged_total"] >= N_MQTT, 600, 0.02)
            dt = time.perf_counter() - t0
            print("MQTT backlog of %d queued at the broker -> all PUBACKed after commit: %.2f s = %.0f alerts/s "
                  "(from gateway process start; broker max_inflight_messages %d)" % (N_MQTT, dt, N_MQTT / dt, inflight))
        finally:
            gw.stop()


def bench_smtp(clients=4):
    tmp = tmpdir("accept-smtp")
    gw = Gateway(tmp, smtp_ingress={"enabled": True, "port": 0, "require_tls": False,
                                    "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]},
                 relay={"enabled": False})
    try:
        gw.wait(lambda: (gw.health() or {}).get("smtp_ingress"), 30)
        port = gw.health()["smtp_ingress"]["port"]
        per = N_SMTP // clients
        errors = []

        def worker(k):
            try:
                c = smtplib.SMTP("127.0.0.1", port, timeout=60)
                for i in range(per):
                    msg = ("From: b@lan.example\r\nTo: me@example.org\r\nSubject: t %d\r\n"
                           "Message-ID: <bench-%d-%d@lan.example>\r\n\r\nbody\r\n" % (i, k, i)).encode()
                    c.sendmail("b@lan.example", ["me@example.org"], msg)
                c.quit()
            except Exception as e:   # report, do not hide
                errors.append(e)

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        dt = time.perf_counter() - t0
        if errors:
            print("SMTP errors:", errors[:3])
        n = per * clients
        print("SMTP submission -> 250 after commit: %d messages over %d connections in %.2f s = %.0f msg/s"
              % (n, clients, dt, n / dt))
    finally:
        gw.stop()


if __name__ == "__main__":
    bench_mqtt(20)        # mosquitto's default in-flight window per client
    bench_mqtt(1000)
    bench_mqtt_backlog(20)
    bench_mqtt_backlog(1000)
    bench_smtp()
