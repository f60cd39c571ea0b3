# MQTT ingress (the only module that imports paho-mqtt). Persistent MQTT 5 session: a fixed
# client id, clean_start False and a session expiry, so alerts published while the gateway is
# down wait at the broker. Acks are manual: PUBACK goes out only after the spool commit, so an
# alert the gateway dies holding is delivered again by the broker.
#
# Survival: every callback catches what its step can raise, logs it with the topic, and
# acknowledges an input it cannot take (kept in the spool's `rejected` table), so no message
# can kill the network thread or come back after every restart. alive() and step_error tell
# the gateway's supervisor whether this path works; supervise() restarts a dead network thread.
import logging
import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from . import board_topics
from .board_topics import KINDS
from .ingest import show

log = logging.getLogger("outpost.mqtt")


def new_client(m, client_id, reconnect=True, manual_ack=True):
    # a paho client for the [mqtt] section m (login, TLS); also used by fleet.py, so that this
    # module stays the only one importing paho
    c = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=mqtt.MQTTv5, manual_ack=manual_ack, reconnect_on_failure=reconnect)
    if m["username"]:
        c.username_pw_set(m["username"], m["password"] or None)
    if m["tls"]:
        # mqtt.ca as the config check read it (PEM or DER); None: the system's CA store
        ca = m["ca_data"]
        if ca is not None and b"-----BEGIN" in ca:
            ca = ca.decode("ascii", "replace")
        c.tls_set_context(ssl.create_default_context(cadata=ca))
    c.reconnect_delay_set(1, 30)
    return c


def session_properties(expiry, packet="CONNECT"):
    # MQTT 5 properties carrying a session expiry (CONNECT, or DISCONNECT to end a session)
    props = Properties(getattr(PacketTypes, packet))
    props.SessionExpiryInterval = int(expiry)
    return props


class _PahoNoise(logging.Filter):
    # paho's network thread logs "Client is not connected" at ERROR when it runs between a
    # bounce's disconnect() and loop_stop(): expected there, so it is kept at DEBUG
    def filter(self, record):
        if record.levelno >= logging.ERROR and str(record.msg).startswith("Client is not connected"):
            record.levelno = logging.DEBUG
            record.levelname = "DEBUG"
        return True


class MqttIngress:
    BOUNCE_DELAY = 5.0      # seconds before reconnecting after the spool refused a message
    def __init__(self, cfg, ingest, client_id=None, reconnect=True):
        # client_id, reconnect: fleet.py's takeover of a dead peer's session (its id, and no
        # reconnecting on its own)
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
        self.step_error = None  # what the last message's handling raised, until one goes through
        self.restarts = 0       # network threads the supervisor had to restart
        self._stopped = True
        self.client_id = client_id or m["client_id"]
        c = new_client(m, self.client_id, reconnect)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        # a callback that raises anyway is logged by paho instead of ending its thread
        c.suppress_exceptions = True
        paho_log = logging.getLogger("outpost.mqtt.paho")
        if not any(isinstance(f, _PahoNoise) for f in paho_log.filters):
            paho_log.addFilter(_PahoNoise())
        c.enable_logger(paho_log)
        self.client = c

    def topics(self):
        out = []
        for k in KINDS:
            t = self.prefix + "/+/" + k
            if self.cfg["shared_group"]:
                t = "$share/" + self.cfg["shared_group"] + "/" + t
            out.append((t, 1))
        # the readings for the status page: every gateway of a fleet wants them all, and a
        # shared subscription would not hand over the retained ones (QoS 0, as published)
        out.append((self.prefix + "/+/state", 0))
        return out

    def start(self):
        self.client.connect_async(self.cfg["host"], self.cfg["port"], self.cfg["keepalive"],
                                  clean_start=False, properties=session_properties(self.cfg["session_expiry"]))
        self._stopped = False
        self.client.loop_start()

    def stop(self):
        self._stopped = True
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    def alive(self):
        # the network thread runs (paho keeps it in _thread; there is no public accessor)
        t = getattr(self.client, "_thread", None)
        return t is not None and t.is_alive()

    def supervise(self):
        # called by the gateway every few seconds: a network thread that died is started again
        if self._stopped or self._bouncing or self.alive():
            return False
        self.restarts += 1
        self.connected = False
        self.subscribed = False
        log.error("MQTT network thread is gone; starting it again (restart %d)", self.restarts)
        try:
            self.client._thread = None      # paho refuses loop_start() while it holds the dead one
            try:
                # a fresh connection: what died with the thread is unknown, and the broker
                # resends whatever was not acknowledged
                self.client.reconnect()
            except Exception as e:      # broker away: the restarted loop keeps retrying
                self.last_error = "reconnect failed: %s" % e
            self.client.loop_start()
        except Exception as e:
            self.last_error = "restart failed: %s" % e
            log.error("MQTT restart failed: %s", e)
        return True

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
        try:
            self._message(client, msg)
            self.step_error = None
        except Exception as e:
            # a bug or an input nobody foresaw: that message is refused for good (acknowledged,
            # kept in `rejected`), the next one is read as usual
            topic = getattr(msg, "topic", "?")
            self.step_error = "%s: %s" % (type(e).__name__, e)
            try:
                self.ingest.failed("mqtt", show(topic), e, msg.payload, "a message")
                if msg.qos:
                    client.ack(msg.mid, msg.qos)
            except Exception:
                log.exception("MQTT: could not acknowledge a message that failed")

    def _message(self, client, msg):
        gen = self._gen
        mid, qos = msg.mid, msg.qos
        topic = msg.topic
        rest = topic[len(self.prefix) + 1:] if topic.startswith(self.prefix + "/") else ""
        device, _, kind = rest.partition("/")

        def answer(res, why=None):
            if res in ("new", "dup", "bad", "seen", "ack"):
                # bad input is acknowledged too: it is refused for good, redelivery cannot fix it
                if qos and gen == self._gen:
                    client.ack(mid, qos)
                if res not in ("bad", "ack") and self.refusing:
                    log.info("MQTT: the spool takes alerts again")
                    self.refusing = None
            else:
                self._bounce(res)

        board_topics.handle(self.ingest, "mqtt", device, kind, msg.payload, topic, answer,
                            retain=bool(msg.retain))

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
            except Exception as e:     # OSError, or EMFILE inside paho: the supervisor follows up
                self.last_error = str(e)
                log.warning("MQTT reconnect failed: %s", e)
                self._bouncing = False
                try:
                    self.client.loop_start()
                except Exception:
                    pass

        t = threading.Timer(self.BOUNCE_DELAY, later)
        t.daemon = True
        t.start()
