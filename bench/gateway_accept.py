# Durable accept rate of the gateway (printed, not asserted):
#  - MQTT: alerts/s from the first QoS 1 publish until the gateway has sent PUBACK for every
#    one, each after its spool commit (counted by outpost_acknowledged_total);
#  - SMTP: submissions/s to "250" (which the gateway sends only after the commit), from
#    several concurrent client connections.
#  - MQTT with independent publishers: mosquitto_pub -q 1 -l (Mosquitto's own C client, one
#    per device, ~1 KB records), so the figure is the gateway's, not a Python publisher's;
#  - SMTP with Postfix's smtp-source: 20 concurrent sessions of 1 KB messages (-s 20 -l 1024).
# The relay is off, so only ingress + spool are measured. Goals: >= 5,000/s for MQTT with an
# independent publisher, >= 1,000 msg/s for SMTP. The machine may be shared: see `uptime`.
#   python bench/gateway_accept.py [N_MQTT] [N_SMTP]
import contextlib
import json
import os
import smtplib
import socket
import subprocess
import sys
import threading
import time

from gateway_common import Gateway, Publisher, alert_json, free_port, mqtt_subscribed, record, tmpdir
from peers.mosquitto import Mosquitto

N_MQTT = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
N_SMTP = int(sys.argv[2]) if len(sys.argv) > 2 else 5000


@contextlib.contextmanager
def mqtt_rig(name, inflight):
    # a broker that queues up to 100,000 alerts, and a gateway subscribed to it with its relay off
    extra = "max_queued_messages 100000\nmax_inflight_messages %d" % inflight
    with Mosquitto(extra_config=extra) as broker:
        tmp = tmpdir(name)
        gw = Gateway(tmp, mqtt={"enabled": True, "host": broker.host, "port": broker.port},
                     relay={"enabled": False})
        try:
            gw.wait_healthy(mqtt_subscribed)
            yield broker, gw, tmp
        finally:
            gw.stop()


def bench_mqtt(inflight):
    with mqtt_rig("accept-mqtt", inflight) as (broker, gw, tmp):
        pub = Publisher(broker, client_id="bench-pub", inflight=1000)
        payloads = [alert_json("bench%d" % (i % 10), i) for i in range(N_MQTT)]
        t0 = time.perf_counter()
        infos = [pub.publish("outpost/bench%d/alert" % (i % 10), p) for i, p in enumerate(payloads)]
        for info in infos:
            info.wait_for_publish(600)
        dt_pub = time.perf_counter() - t0
        gw.wait(lambda: gw.metrics()["outpost_acknowledged_total"] >= N_MQTT, 600, 0.02)
        dt = time.perf_counter() - t0
        pub.close()
        print("MQTT QoS 1 -> PUBACK after commit: %d alerts in %.2f s = %.0f alerts/s "
              "(broker max_inflight_messages %d; the publisher alone took %.2f s)"
              % (N_MQTT, dt, N_MQTT / dt, inflight, dt_pub))


def bench_mqtt_backlog(inflight):
    # the broker already holds N alerts for the gateway's session (published while it was
    # stopped): the rate is the gateway's own, not one Python publisher's
    extra = "max_queued_messages 100000\nmax_inflight_messages %d" % inflight
    with Mosquitto(extra_config=extra) as broker:
        tmp = tmpdir("accept-backlog")
        sect = dict(mqtt={"enabled": True, "host": broker.host, "port": broker.port}, relay={"enabled": False})
        gw = Gateway(tmp, **sect)
        gw.wait_healthy(mqtt_subscribed)
        gw.stop()
        with Publisher(broker, client_id="bench-pub", inflight=1000) as pub:
            infos = [pub.publish("outpost/bench%d/alert" % (i % 10), alert_json("bench%d" % (i % 10), i))
                     for i in range(N_MQTT)]
            for info in infos:
                info.wait_for_publish(600)
        t0 = time.perf_counter()
        gw = Gateway(tmp, **sect)
        try:
            gw.wait(lambda: gw.metrics()["outpost_acknowledged_total"] >= N_MQTT, 600, 0.02)
            dt = time.perf_counter() - t0
            print("MQTT backlog of %d queued at the broker -> all PUBACKed after commit: %.2f s = %.0f alerts/s "
                  "(from gateway process start; broker max_inflight_messages %d)" % (N_MQTT, dt, N_MQTT / dt, inflight))
        finally:
            gw.stop()


def kb_record(device, seq):
    # an alert record of about 1 KB, on one line (mosquitto_pub -l sends one message per line)
    r = record(device=device, seq=seq, body="x" * 800)
    r["readings"] = {"t": {"value": 21.5, "unit": "C"}, "rh": {"value": 55.0, "unit": "%"}}
    return json.dumps(r)


def bench_mqtt_mosquitto_pub(devices=10, inflight=1000):
    with mqtt_rig("accept-mqttpub", inflight) as (broker, gw, tmp):
        per = N_MQTT // devices
        files = []
        for d in range(devices):
            path = str(tmp / ("pub%d.txt" % d))
            with open(path, "w") as f:
                for i in range(per):
                    f.write(kb_record("pub%d" % d, i) + "\n")
            files.append(path)
        size = os.path.getsize(files[0]) / per
        t0 = time.perf_counter()
        procs = [subprocess.Popen(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                                   "-M", "100", "-t", "outpost/pub%d/alert" % d, "-l"],
                                  stdin=open(files[d], "rb")) for d in range(devices)]
        for p in procs:
            p.wait(600)
        dt_pub = time.perf_counter() - t0
        n = per * devices
        gw.wait(lambda: gw.metrics()["outpost_acknowledged_total"] >= n, 600, 0.25)   # /metrics costs CPU: poll gently
        dt = time.perf_counter() - t0
        print("MQTT QoS 1 from %d mosquitto_pub -l publishers (%.0f-byte records) -> PUBACK after commit: "
              "%d alerts in %.2f s = %.0f alerts/s (publishers done after %.2f s)"
              % (devices, size, n, dt, n / dt, dt_pub))


def smtp_gateway(tag):
    tmp = tmpdir(tag)
    port = free_port()
    gw = Gateway(tmp, smtp_ingress={"enabled": True, "port": port, "require_tls": False,
                                    "max_sessions_per_client": 100,
                                    "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]},
                 relay={"enabled": False})

    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return True
        except OSError:
            return False
    gw.wait(listening, 30, 0.05)
    return gw, port


def bench_smtp_source(sessions=20, size=1024):
    gw, port = smtp_gateway("accept-smtpsource")
    try:
        t0 = time.perf_counter()
        subprocess.run(["/usr/sbin/smtp-source", "-d", "-s", str(sessions), "-m", str(N_SMTP), "-l", str(size),
                        "-f", "board@lan.example", "-t", "me@example.org", "127.0.0.1:%d" % port], check=True)
        dt = time.perf_counter() - t0
        acked = gw.metrics()["outpost_acknowledged_total"]
        print("SMTP smtp-source -s %d -m %d -l %d -> 250 after commit: %.2f s = %.0f msg/s (%d acknowledged)"
              % (sessions, N_SMTP, size, dt, N_SMTP / dt, acked))
    finally:
        gw.stop()


def bench_smtp(clients=4):
    gw, port = smtp_gateway("accept-smtp")
    try:
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
    print(open("/proc/loadavg").read().strip(), "(load average before the run)")
    bench_smtp_source()
    bench_mqtt_mosquitto_pub()
    bench_mqtt(20)        # mosquitto's default in-flight window per client
    bench_mqtt(1000)
    bench_mqtt_backlog(20)
    bench_mqtt_backlog(1000)
    bench_smtp()
