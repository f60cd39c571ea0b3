# AMQP ingress for a RabbitMQ cluster (the only module that imports pika, and only when the
# [amqp] section is enabled: pika comes with the `amqp` extra). Boards publish MQTT unchanged;
# RabbitMQ's MQTT plugin routes `outpost/<device>/<kind>` to amq.topic as
# `outpost.<device>.<kind>`, and every gateway consumes one durable quorum queue bound there, as
# competing consumers. A delivery is acknowledged only after the spool commit, like PUBACK on
# the MQTT path, so what a gateway dies holding goes to another gateway at once. Bad input is
# acknowledged and kept in `rejected`, as on the MQTT path (board_topics.handle).
#
# One thread owns the connection (pika is not thread-safe): acknowledgements decided in the
# spool writer thread are handed to it with add_callback_threadsafe. When the node goes away
# the thread connects to the next URL in amqp.urls, round and round, until one answers.
import logging
import random
import ssl
import threading
import time
from urllib.parse import unquote, urlsplit

from . import board_topics
from .ingest import show

log = logging.getLogger("outpost.amqp")

EXTRA_HINT = "the [amqp] ingress needs pika: pip install 'outpost-gateway[amqp]'"


def _pika():
    try:
        import pika
        import pika.exceptions
    except ImportError:
        raise RuntimeError(EXTRA_HINT) from None
    return pika


def parse_url(url):
    # amqp://host[:port][/vhost] or amqps://... -> (tls, host, port, vhost); ValueError names
    # what is wrong. Credentials go in amqp.username/password, never in a URL (URLs are logged).
    u = urlsplit(url)
    if u.scheme not in ("amqp", "amqps"):
        raise ValueError("must start with amqp:// or amqps://")
    if u.username is not None or u.password is not None:
        raise ValueError("must not hold a user or password (set amqp.username and amqp.password)")
    if not u.hostname:
        raise ValueError("has no host")
    if u.query or u.fragment:
        raise ValueError("must not have a query or fragment")
    try:
        port = u.port
    except ValueError:
        raise ValueError("has a bad port") from None
    tls = u.scheme == "amqps"
    port = port or (5671 if tls else 5672)
    vhost = unquote(u.path[1:]) if len(u.path) > 1 else "/"
    return tls, u.hostname, port, vhost


def routing_prefix(topic_prefix):
    # the MQTT plugin turns the topic's "/" into the routing key's "."
    return topic_prefix.strip("/").replace("/", ".")


def bindings(topic_prefix):
    # "#" rather than "*" for the device level: a topic whose device name holds a "." (which
    # the MQTT plugin leaves as a word separator) would match no "*" binding and be PUBACKed
    # and dropped by the broker; with "#" it reaches the gateway and is refused with a reason
    p = routing_prefix(topic_prefix)
    # state: the boards' readings for the status page
    return [p + ".#." + k for k in board_topics.KINDS + ("state",)]


def split_key(prefix, key):
    # routing key -> (device, kind); device is None when the key is not <prefix>.<device>.<kind>
    if not key.startswith(prefix + "."):
        return None, ""
    device, _, kind = key[len(prefix) + 1:].rpartition(".")
    return device, kind


class AmqpIngress:
    BOUNCE_DELAY = 5.0      # seconds before a delivery the spool refused goes back to the queue
    RETRY_MAX = 5.0         # seconds between rounds over amqp.urls while no node answers

    def __init__(self, cfg, ingest):
        self.cfg = cfg["amqp"]
        self.ingest = ingest
        self.prefix = routing_prefix(self.cfg["topic_prefix"])
        self.nodes = [parse_url(u) for u in self.cfg["urls"]]
        self.connected = False
        self.consuming = False
        self.node = None            # "host:port" of the node in use
        self.last_error = None
        self.refusing = None        # "full" or "error" while the spool refuses alerts
        self.step_error = None
        self.restarts = 0
        self.connects = 0
        self._stopped = threading.Event()
        self._thread = None
        self._next = 0
        self._setup_error = None

    # -- life cycle ------------------------------------------------------------------------
    def start(self):
        _pika()     # a missing extra is said at start, in words, not at the first delivery
        # pika logs every refused connect with a traceback; this module says it once, in words
        logging.getLogger("pika").setLevel(logging.CRITICAL)
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="amqp", daemon=True)
        self._thread.start()

    def stop(self):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(30)
        self.connected = self.consuming = False

    def alive(self):
        return self._thread is not None and self._thread.is_alive()

    def supervise(self):
        # called by the gateway every few seconds: a connection thread that died is started again
        if self._stopped.is_set() or self.alive():
            return False
        self.restarts += 1
        self.connected = self.consuming = False
        log.error("AMQP connection thread is gone; starting it again (restart %d)", self.restarts)
        self._thread = threading.Thread(target=self._run, name="amqp", daemon=True)
        self._thread.start()
        return True

    # -- the connection thread -------------------------------------------------------------
    def _run(self):
        pika = _pika()
        delay = 0.2
        failed = 0
        while not self._stopped.is_set():
            tls, host, port, vhost = self.nodes[self._next % len(self.nodes)]
            self.node = "%s:%d" % (host, port)
            try:
                conn = pika.BlockingConnection(self._params(pika, tls, host, port, vhost))
            except (pika.exceptions.AMQPError, OSError) as e:
                self._down("cannot connect to %s: %s" % (self.node, _why(e)), failed == 0)
                failed += 1
                self._next += 1
                if failed % len(self.nodes) == 0:
                    # a whole round failed: wait a little (with jitter: gateways spread out)
                    self._stopped.wait(delay * (0.75 + random.random() / 2))
                    delay = min(delay * 2, self.RETRY_MAX)
                continue
            try:
                self._session(pika, conn)
                failed, delay = 0, 0.2
            except (pika.exceptions.AMQPError, OSError) as e:
                if not self.consuming:
                    # refused while declaring or binding (permissions, a queue declared with
                    # other arguments): the operator must act; said once, retried slowly
                    self._refused_setup("%s refused the queue setup: %s" % (self.node, _why(e)))
                else:
                    self._down("lost %s: %s" % (self.node, _why(e)), True)
                    self._next += 1     # the next node first: this one may be the one that died
                    failed = 0
            finally:
                self.connected = self.consuming = False
                try:
                    if conn.is_open:
                        conn.close()
                except Exception:
                    pass

    def _refused_setup(self, text):
        if text != self._setup_error:
            log.error("AMQP: %s; retrying every %.0f s", text, self.RETRY_MAX)
        self._setup_error = text
        self.last_error = text
        self._stopped.wait(self.RETRY_MAX * (0.75 + random.random() / 2))

    def _down(self, text, loud):
        self.connected = self.consuming = False
        self.last_error = text
        if loud:
            log.warning("AMQP: %s; trying the next node", text)
        else:
            log.debug("AMQP: %s", text)

    def _params(self, pika, tls, host, port, vhost):
        c = self.cfg
        ssl_options = None
        if tls:
            ca = c["ca_data"]
            if ca is not None and b"-----BEGIN" in ca:
                ca = ca.decode("ascii", "replace")
            ctx = ssl.create_default_context(cadata=ca)     # verified, with SNI
            ssl_options = pika.SSLOptions(ctx, server_hostname=host)
        return pika.ConnectionParameters(
            host=host, port=port, virtual_host=vhost,
            credentials=pika.PlainCredentials(c["username"], c["password"], erase_on_connect=False),
            ssl_options=ssl_options, heartbeat=int(c["heartbeat"]), connection_attempts=1,
            socket_timeout=c["connect_timeout"], stack_timeout=c["connect_timeout"] * 2,
            blocked_connection_timeout=None, client_properties={"connection_name": c["name"]})

    def _session(self, pika, conn):
        c = self.cfg
        ch = conn.channel()
        # the queue and its bindings must exist before boards publish (a publish that matches
        # no binding is PUBACKed and dropped): declared on every connect, never deleted
        ch.queue_declare(c["queue"], durable=True, arguments={"x-queue-type": "quorum"})
        for key in bindings(c["topic_prefix"]):
            ch.queue_bind(c["queue"], c["exchange"], routing_key=key)
        ch.basic_qos(prefetch_count=c["prefetch"])
        cancelled = []
        ch.add_on_cancel_callback(lambda frame: cancelled.append(frame))

        def on_message(channel, method, props, body):
            self._message(conn, channel, method, body)

        ch.basic_consume(c["queue"], on_message, auto_ack=False)
        self.connected = self.consuming = True
        self.connects += 1
        self.last_error = self._setup_error = None
        log.info("AMQP connected to %s, consuming %r (prefetch %d)", self.node, c["queue"], c["prefetch"])
        while not self._stopped.is_set():
            conn.process_data_events(time_limit=0.5)
            if cancelled:
                # the queue was deleted or moved: declare it again on a fresh connection
                raise pika.exceptions.AMQPChannelError("the broker cancelled the consumer")
        # a clean stop: unacknowledged deliveries go back to the queue (the spool dedupes them)
        try:
            conn.close()
        except Exception:
            pass

    # -- one delivery (connection thread) -------------------------------------------------
    def _message(self, conn, ch, method, body):
        key = method.routing_key
        tag = method.delivery_tag
        try:
            device, kind = split_key(self.prefix, key)
            origin = key

            def answer(res, why=None):
                # the spool writer thread: the ack is sent by the connection thread
                if res in ("new", "dup", "bad", "seen", "ack"):
                    self._later(conn, lambda: _settle(ch, tag, True))
                    if res not in ("bad", "ack") and self.refusing:
                        log.info("AMQP: the spool takes alerts again")
                        self.refusing = None
                else:
                    self._refused(conn, ch, tag, res)

            if device is None:
                self.ingest.refuse("amqp", "bad-topic", "unexpected routing key %s" % show(key), body)
                answer("bad")
            elif "." in device:
                self.ingest.refuse("amqp", "bad-device",
                                   "routing key %s: a device name with '.' cannot cross RabbitMQ's MQTT "
                                   "plugin (it reads '.' as a level); rename the board" % show(key), body, show(key))
                answer("bad")
            else:
                board_topics.handle(self.ingest, "amqp", device, kind, body, origin, answer)
            self.step_error = None
        except Exception as e:
            # a bug or an input nobody foresaw: refused for good (acknowledged, kept)
            self.step_error = "%s: %s" % (type(e).__name__, e)
            try:
                self.ingest.failed("amqp", show(key), e, body, "a message")
            finally:
                _settle(ch, tag, True)

    def _later(self, conn, fn):
        try:
            conn.add_callback_threadsafe(fn)
        except Exception:
            # that connection is gone: the broker delivers the message again, the spool dedupes
            pass

    def _refused(self, conn, ch, tag, res):
        # spool full or failing: the delivery stays with the broker and goes back to the queue
        # after BOUNCE_DELAY (never at once: that would loop). Logged once per episode.
        if self.refusing is None:
            log.error("AMQP: spool answered %s; alerts stay in the queue and come back every %.0f s",
                      res, self.BOUNCE_DELAY)
        self.refusing = res
        self._later(conn, lambda: conn.call_later(self.BOUNCE_DELAY, lambda: _settle(ch, tag, False)))

    def status(self):
        return {"connected": self.connected, "consuming": self.consuming, "node": self.node,
                "error": self.last_error, "spool_refusing": self.refusing}


def _settle(ch, tag, ok):
    try:
        if ok:
            ch.basic_ack(tag)
        else:
            ch.basic_nack(tag, requeue=True)
    except Exception:
        # the channel closed meanwhile: the broker redelivers, the spool dedupes
        pass


def _why(e):
    text = str(e) or type(e).__name__
    return text if len(text) < 300 else text[:300] + "..."
