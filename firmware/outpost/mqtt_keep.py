# The app's MQTT connection between sends, when mqtt.host is set: the path made at boot and kept
# through the loop (one connection per wake-up with deep sleep), pinged within its keepalive
# (MqttPath.service), the heartbeat and the live readings sent over it after each step
# (MqttPath.after_step). This module only starts it, at boot, and goes after: a board without
# MQTT never loads it.
from outpost.mqtt_path import MqttPath


def start(a, saved):
    # one kept connection; with deep sleep one per wake-up (closed before sleeping)
    cfg = a.cfg
    a.mqtt = MqttPath(cfg, a.net, a.log, a.mono, keep=not cfg["deep_sleep"])
    a.mqtt.app = a
    if saved is not None and saved.get("mq"):
        a.mqtt.take_over(saved["mq"])     # open through the SMTP step (App.hand_over)
    if cfg["mqtt"]["discovery"]:
        cat = []
        for d in a.drivers:
            for k in d.units:
                cat.append((k, d.units[k], a.meta.get(k, {}).get("label")))
        a.mqtt.catalog = cat
        a.mqtt.announced = bool(saved and saved.get("disc"))
