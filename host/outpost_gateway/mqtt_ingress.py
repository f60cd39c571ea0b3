# MQTT ingress (the only module that imports paho-mqtt). Persistent MQTT 5 session: a fixed
# client id, clean_start False and a session expiry, so alerts published while the gateway is
# down wait at the broker. Acks are manual: PUBACK goes out only after the spool commit, so an
# alert the gateway dies holding is delivered again by the broker.
import logging
import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("outpost.mqtt")

KINDS = ("alert", "report", "status", "heartbeat")


class MqttIngress:
    BOUNCE_DELAY = 5.0      # seconds before reconnecting after the spool refused a message
    def __init__(self, cfg, ingest):
        m = cfg["mqtt"]
        self.cfg = m
        self.ingest = ingest
        self.prefix = m["topic_prefix"].rstrip("/")
        self.connected = False
        self.subscribed = False
        self.last_error = None
        self._gen = 0           # connection generation: an ack must not cross a reconnect
        self._bouncing = False
        self.refusing = None    # "full" or "error" while the spool refuses alerts (logged once)
        c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=m["client_id"],
                        protocol=mqtt.MQTTv5, manual_ack=True)
        if m["username"]:
            c.username_pw_set(m["username"], m["password"] or None)
        if m["tls"]:
            # mqtt.ca as the config check read it (PEM or DER); None: the system's CA store
            ca = m["ca_data"]
            if ca is not None and b"-----BEGIN" in ca:
                ca = ca.decode("ascii", "replace")
            c.tls_set_context(ssl.create_default_context(cadata=ca))
        c.reconnect_delay_set(1, 30)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        self.client = c

    def topics(self):
        out = []
        for k in KINDS:
            t = self.prefix + "/+/" + k
            if self.cfg["shared_group"]:
                t = "$share/" + self.cfg["shared_group"] + "/" + t
            out.append((t, 1))
        return out

    def start(self):
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = int(self.cfg["session_expiry"])
        self.client.connect_async(self.cfg["host"], self.cfg["port"], self.cfg["keepalive"],
                                  clean_start=False, properties=props)
        self.client.loop_start()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    # -- paho callbacks (network thread): only hand over to the spool, never send mail -----
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = "connect refused: " + str(reason_code)
            log.error("MQTT broker refused the connection: %s", reason_code)
            return
        self._gen += 1
        self.connected = True
        self.last_error = None
        log.info("MQTT connected to %s:%d (session present: %s)", self.cfg["host"], self.cfg["port"],
                 flags.session_present)
        client.subscribe(self.topics())

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        bad = [str(rc) for rc in reason_codes if rc.is_failure]
        if bad:
            self.last_error = "subscribe refused: " + ", ".join(bad)
            log.error("MQTT broker refused a subscription: %s", ", ".join(bad))
        else:
            self.subscribed = True

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected = False
        self.subscribed = False
        if reason_code.is_failure:
            self.last_error = "disconnected: " + str(reason_code)
            log.warning("MQTT disconnected: %s", reason_code)

    def _on_message(self, client, userdata, msg):
        gen = self._gen
        mid, qos = msg.mid, msg.qos
        rest = msg.topic[len(self.prefix) + 1:] if msg.topic.startswith(self.prefix + "/") else ""
        device, _, kind = rest.partition("/")

        def answer(res, why=None):
            if res in ("new", "dup", "bad", "seen"):
                # bad input is acknowledged too: it is refused for good, redelivery cannot fix it
                if qos and gen == self._gen:
                    client.ack(mid, qos)
                if res != "bad" and self.refusing:
                    log.info("MQTT: the spool takes alerts again")
                    self.refusing = None
            else:
                self._bounce(res)

        if kind in ("alert", "report"):
            self.ingest.offer(msg.payload, "mqtt", answer, device=device)
        elif kind == "status":
            st = msg.payload.decode("utf-8", "replace").strip().lower()
            if st not in ("online", "offline"):
                self.ingest.refuse("mqtt", "bad-status", "status of %r is %r, not online/offline" % (device, st))
                answer("bad")
            else:
                self.ingest.seen(device, st, answer)
        elif kind == "heartbeat":
            self.ingest.seen(device, None, answer, learn=True)
        else:
            self.ingest.refuse("mqtt", "bad-topic", "unexpected topic %r" % msg.topic)
            answer("bad")

    def _bounce(self, res):
        # spool full or failing: leave the message unacknowledged and reconnect a little later,
        # so the broker delivers it again then
        if self._bouncing:
            return
        self._bouncing = True
        if self.refusing is None:
            # once per episode: the broker redelivers every BOUNCE_DELAY while it lasts
            log.error("MQTT: spool answered %s; alerts stay unacknowledged with the broker, which"
                      " resends them after a reconnect every %.0f s", res, self.BOUNCE_DELAY)
        self.refusing = res

        def later():
            try:
                self.client.disconnect()
                self.client.loop_stop()
                # cleared before the reconnect: the broker redelivers at once, and a refusal
                # then must be able to schedule the next bounce (else nothing ever resends it)
                self._bouncing = False
                self.client.reconnect()
                self.client.loop_start()
            except OSError as e:
                self.last_error = str(e)
                self._bouncing = False
                self.client.loop_start()

        t = threading.Timer(self.BOUNCE_DELAY, later)
        t.daemon = True
        t.start()
