# The app's MQTT connection between sends, when mqtt.host is set: opened at boot, kept
# through the loop (one per wake-up with deep sleep), pinged within its keepalive, the
# heartbeat and the live readings sent over it. A board without MQTT never loads this.
from outpost.mqtt_path import MqttPath


def start(a, saved):
    # one kept connection; with deep sleep one per wake-up (closed before sleeping)
    cfg = a.cfg
    a.mqtt = MqttPath(cfg, a.net, a.log, a.mono, keep=not cfg["deep_sleep"])
    a.mqtt.on_up = lambda: path_back(a)
    if saved is not None and saved.get("mq"):
        a.mqtt.take_over(saved["mq"])     # open through the SMTP step (rtc.send_step)
    if cfg["mqtt"]["discovery"]:
        cat = []
        for d in a.drivers:
            for k in d.units:
                cat.append((k, d.units[k], a.meta.get(k, {}).get("label")))
        a.mqtt.catalog = cat
        a.mqtt.announced = bool(saved and saved.get("disc"))


def heartbeat(a):
    every = a.cfg["mqtt"]["heartbeat"]
    if not every or a.mono() < a.next_beat:
        return
    a.next_beat = a.mono() + every
    if not a.net.connected():
        return
    try:
        a.mqtt.beat(a.mono(), a.cfg["mqtt"]["timeout"])
    except Exception as e:   # Down, or a MemoryError: a lost beat, never a reset
        a.log("heartbeat: " + str(e))


def publish_state(a, readings):
    # the latest readings, retained, for a live view (Home Assistant, a dashboard): at most
    # every mqtt.publish_every seconds, QoS 0, only over a connection the loop already keeps
    every = a.cfg["mqtt"]["publish_every"]
    if not every or a.mono() < a.next_state or not readings:
        return
    if a.mqtt.sock is None:
        return
    a.next_state = a.mono() + every
    try:
        a.mqtt.state(readings, a.cfg["mqtt"]["timeout"])
    except Exception as e:
        a.log("state: " + str(e))


def path_back(a):
    # the broker took a new connection (from the loop, a heartbeat or an alert): the
    # outbox's hold ends, so what waits goes out at the next flush, not at the end of backoff
    if a.hold_until:
        a.log("outbox: a path is back, retrying at the next sample")
    a.hold_until = 0

