# What a board publishes under <prefix>/<device>/<kind>, handled the same way whichever broker
# carried it (MQTT from Mosquitto, AMQP from a RabbitMQ cluster): the kind and the device name
# are checked, alerts and reports go to the spool, status and heartbeat tell the watchdog.
# answer(result) is called once, after the spool commit or at once for bad input ("bad": the
# broker must acknowledge it too, redelivery cannot fix it; it is kept in `rejected`) and for
# readings ("ack": the status page's charts; the next one replaces one lost, so no commit waits).
from .ingest import show

KINDS = ("alert", "report", "status", "heartbeat")


def handle(ingest, source, device, kind, payload, origin, answer, retain=False):
    if kind == "state" and device and "/" not in device:
        # retain: the broker's stored copy, handed over at subscribe time (a replay)
        why = ingest.device_problem(device)
        if why is None:
            ingest.readings(device, payload, replay=retain, origin=origin, source=source)
        else:
            ingest.refuse(source, "bad-device", "topic %s: %s" % (show(origin), why), payload, show(origin))
        answer("ack")
        return
    if kind not in KINDS:
        ingest.refuse(source, "bad-topic", "unexpected topic %s" % show(origin), payload)
        answer("bad")
        return
    # the name in the topic is checked like a record's (status and heartbeat included):
    # nothing the contract refuses reaches the watchdog or the spool
    why = ingest.device_problem(device)
    if why is not None:
        ingest.refuse(source, "bad-device", "topic %s: %s" % (show(origin), why), payload, show(origin))
        answer("bad")
        return
    if kind in ("alert", "report"):
        ingest.offer(payload, source, answer, device=device, origin=origin)
    elif kind == "status":
        st = bytes(payload[:16]).decode("utf-8", "replace").strip().lower()
        # "config error": the board found its config broken at boot (firmware/outpost/cfgerror.py)
        if st not in ("online", "offline", "config error"):
            ingest.refuse(source, "bad-status", "status of %r is %s, not online/offline/config error"
                          % (device, show(payload)), payload, origin)
            answer("bad")
        else:
            ingest.seen(device, st, answer)
    else:
        ingest.seen(device, None, answer, learn=True)
