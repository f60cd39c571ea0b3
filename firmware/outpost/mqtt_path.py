# The MQTT path to the gateway's broker, over TLS when mqtt.tls is set: the kept connection
# (its socket, keepalive and reconnects). Its own module, so a wake that sends by SMTP or serial
# never loads it; connecting (umqtt.simple) is outpost/mqtt_connect.py, loaded only to connect,
# and sending outpost/mqtt_send.py, loaded for what goes out: between sends the board holds
# only this module's code.
import gc
import sys

from outpost import Down, unload
from outpost_contract.rules import backoff

# The broker is reached over one long-lived connection, like a mature MicroPython app does it:
# its Last Will (retained `offline` on outpost/<device>/status) is what tells the gateway within
# 1.5 keepalives that the board died, which only works while a connection is open. The main loop
# calls service() to ping it within the keepalive and to reconnect with backoff after a drop.
# With deep sleep (keep=False) there is one connection per wake-up, closed before sleeping.
RECONNECT_MIN = 5      # seconds before the first reconnect attempt; doubles up to:
RECONNECT_MAX = 300
BOARD = sys.implementation.name == "micropython"   # off the board nothing is unloaded


def _unload():
    # umqtt.simple leaves the heap on the board; unloading takes a little heap too, and
    # without it the module only stays a while
    if BOARD and "umqtt" in sys.modules:
        try:
            unload("umqtt")
        except MemoryError:
            pass


class MqttPath:
    name = "mqtt"

    def __init__(self, cfg, net, log, mono, keep=True):
        self.m = cfg["mqtt"]
        self.device = cfg["device"]
        self.net = net
        self.log = log
        self.mono = mono
        self.keep = keep          # hold the connection between sends (False with deep sleep)
        self.status = "outpost/" + self.device + "/status"
        self.sock = None          # the connection (umqtt.simple's socket); None when closed
        self.raw = None           # the plain socket under it (see settimeout)
        self.pid = 0              # the last packet id sent on it
        self.client = None        # umqtt.simple's client, during an exchange (kept off the board)
        self.fails = 0            # failed connects in a row (reconnect backoff)
        self.next_try = 0
        self.last_tx = 0          # mono time of the last packet sent (pings keep it within keepalive)
        self.connects = 0
        self.app = None           # the app (mqtt_keep.start): a new connection ends its outbox's hold
        self.catalog = None       # [(reading, unit, label)] for Home Assistant discovery
        self.announced = False    # discovery configs went out on a connection since boot

    def enabled(self):
        return bool(self.m["host"])

    def port(self):
        return self.m["port"] or (8883 if self.m["tls"] else 1883)

    # --- the connection ---------------------------------------------------------------
    # Between exchanges the path holds the connection's socket and packet id, not its code:
    # connecting (TLS, the Last Will, discovery) loads outpost/mqtt_connect.py and umqtt.simple
    # only to connect. On the board the exchanges after that (a publish, a ping) are the path's
    # own few packets (see publish below), not umqtt.simple loaded from flash for each one.

    def _client(self):
        # what the exchange speaks through: on the board the path itself (its publish, ping,
        # wait_msg, check_msg and disconnect take umqtt.simple's arguments); off the board
        # umqtt.simple's client over the open connection
        c = self.client
        if c is None:
            if BOARD:
                return self
            from umqtt.simple import MQTTClient
            c = MQTTClient(self.device, self.m["host"], self.port())
            c.sock = self.sock
            c.pid = self.pid
        return c

    def _done(self, c):
        # an exchange is over: the socket and packet id stay (umqtt.simple goes, on the board)
        self.pid = c.pid
        self.client = None if BOARD else c
        if c is not self:
            _unload()

    # --- on the board: the broker's packets read over the open connection (MQTT 3.1.1); what
    # goes out is in mqtt_send.py, PINGREQ aside ---

    def ping(self):
        self.sock.write(b"\xc0\x00")

    def wait_msg(self):
        # the broker's next packet: None for a PINGRESP, else its type
        op = self._packet()[0]
        return None if op == 0xD0 else op

    def check_msg(self):
        # at once: raises when the broker closed the connection (a packet that came is dropped)
        s = self.sock
        s.setblocking(False)
        try:
            b = s.read(1)
        finally:
            s.setblocking(True)
            self.settimeout(self, self.m["timeout"])
        if b == b"":
            raise OSError(-1, "closed by the broker")
        if b:
            self._packet(b[0])

    def _packet(self, op=None):
        # (first byte, body) of the broker's next packet
        if op is None:
            op = self._read(1)[0]
        n = sh = 0
        while True:
            b = self._read(1)[0]
            n |= (b & 0x7F) << sh
            sh += 7
            if b < 0x80:
                return op, (self._read(n) if n else b"")

    def _read(self, n):
        b = self.sock.read(n)
        if not b or len(b) < n:
            raise OSError(-1, "closed by the broker")
        return b

    def settimeout(self, c, timeout):
        # umqtt.simple leaves its socket blocking without a timeout after check_msg/wait_msg:
        # set one before every blocking call, on the plain socket (the one under TLS, where
        # MicroPython keeps timeouts), which mqtt_connect handed to umqtt.simple and remembered
        try:
            c.sock.settimeout(timeout)
        except AttributeError:      # MicroPython's TLS socket
            if self.raw is not None:
                self.raw.settimeout(timeout)

    def _connect(self, timeout):
        if not self.net.connected():
            raise Down("no Wi-Fi")
        try:
            from outpost import mqtt_connect
            c = mqtt_connect.connect(self, timeout)
        except Down as e:
            self._failed()
            raise e
        except Exception as e:      # MemoryError loading the code, say: an outage too
            self._failed()
            gc.collect()
            raise Down(self.what(e))
        finally:
            mqtt_connect = None
            unload("outpost.mqtt_connect")
        self.sock = c.sock
        self._done(c)
        c = None                  # umqtt.simple's code goes with it
        self.fails = 0
        self.next_try = 0
        self.last_tx = self.mono()
        self.connects += 1
        self.log("mqtt: connected to " + self.m["host"] + ":" + str(self.port()) +
                 (" (TLS)" if self.m["tls"] else ""))
        a = self.app
        if a is not None:
            # the broker took a new connection (from the loop, a heartbeat or an alert): the
            # outbox's hold ends, so what waits goes out at the next flush, not at its backoff's end
            if a.hold_until:
                self.log("outbox: a path is back, retrying at the next sample")
            a.hold_until = 0

    def after_step(self, a):
        # app.finish: the heartbeat for the gateway's watchdog, and the latest readings,
        # retained, for a live view (Home Assistant, a dashboard), each when due; a lost one
        # (Down, a MemoryError) is never a reset
        m = a.cfg["mqtt"]
        every = m["heartbeat"]
        if every and a.mono() >= a.next_beat:
            a.next_beat = a.mono() + every
            if self.net.connected():
                try:
                    self.beat(a.mono(), m["timeout"])
                except Exception as e:
                    self.log("heartbeat: " + str(e))
        # at most every mqtt.publish_every seconds, QoS 0, only over a connection kept already
        every = m["publish_every"]
        if not every or a.mono() < a.next_state or not a.readings or self.sock is None:
            return
        a.next_state = a.mono() + every
        try:
            self.state(a.readings, m["timeout"])
        except Exception as e:
            self.log("state: " + str(e))

    def state(self, readings, timeout):
        # retained JSON of the latest readings, QoS 0 (the next one replaces a lost one)
        self._out("state", readings, timeout)

    def what(self, e):
        # one line: mbedTLS's verify messages start with a line break
        return " ".join((e.__class__.__name__ + " " + str(e)).split())

    def _failed(self):
        self.fails += 1
        self.next_try = self.mono() + backoff(self.fails, RECONNECT_MIN, 2, RECONNECT_MAX)

    def abort(self, sock):
        # no DISCONNECT: the broker publishes the Last Will (`offline`), which is the truth
        try:
            sock.close()
        except Exception:
            pass

    def _gone(self):
        # the connection is closed: what an exchange held goes with it
        s = self.sock
        self.sock = self.client = None
        _unload()
        return s

    def _drop(self, why):
        s = self._gone()
        if s is not None:
            self.abort(s)
            self._failed()
            self.log("mqtt: connection lost (" + why + "); reconnecting in " +
                     str(int(self.next_try - self.mono())) + " s")

    def close(self, offline=False, timeout=5):
        """A deliberate disconnect. offline=True (the app stops) publishes retained `offline`
        first; offline=False (deep sleep) leaves `online`: see boards/README.md."""
        if self.sock is None:
            return
        try:
            self._out("close", offline, timeout)
        except Exception:       # a MemoryError loading the code too: the Will says it
            self.abort(self.sock)
        self._gone()

    def hand_over(self):
        """For the SMTP step in this wake (App.hand_over): the open connection, for the App that
        boots after the step to take over (take_over), so that a fallback to MQTT does not
        connect again. None when there is none, or under TLS: then it is closed (two TLS
        sessions at once may not fit in a board's system heap beside Wi-Fi)."""
        if self.sock is None or self.m["tls"]:
            self.close()
            return None
        s = (self.sock, self.raw, self.pid, self.last_tx)
        self._gone()
        return s

    def take_over(self, s):
        self.sock, self.raw, self.pid, self.last_tx = s

    def service(self, timeout):
        """From the main loop: a ping when half the keepalive has passed without sending (and
        its answer, so a dead connection shows), and a reconnect with backoff after a drop.
        Returns True when it (re)connected."""
        if not self.enabled():
            return False
        if self.sock is None:
            if not self.keep or self.mono() < self.next_try or not self.net.connected():
                return False
            try:
                self._connect(timeout)
                return True
            except Down as e:
                self.log("mqtt: " + str(e) + "; next try in " + str(int(self.next_try - self.mono())) + " s")
                return False
        if not self.net.connected():
            self._drop("no Wi-Fi")
            return False
        try:
            c = self._client()
            ka = self.m["keepalive"]
            if ka and self.mono() - self.last_tx >= ka / 2:
                c.ping()
                self.last_tx = self.mono()
                self.settimeout(c, timeout)
                if c.wait_msg() is not None:   # PINGRESP reads as None; we subscribe to nothing
                    raise OSError("unexpected packet from the broker")
            else:
                c.check_msg()   # returns at once; raises when the broker closed the connection
            self._done(c)
        except MemoryError:     # no room for this exchange now: the connection waits for the next call
            c = None
            gc.collect()
        except Exception as e:
            self._drop(self.what(e))
        return False

    def poll_ms(self):
        # longest the main loop may sleep before calling service() again
        ka = self.m["keepalive"]
        if self.sock is None or not ka:
            return 60000
        return max(1000, ka * 250)

    # --- sending: outpost/mqtt_send.py, loaded for what goes out -------------------------

    def _out(self, f, *args):
        from outpost import mqtt_send
        try:
            return getattr(mqtt_send, f)(self, *args)
        finally:
            mqtt_send = None
            if BOARD:
                try:
                    unload("outpost.mqtt_send")
                except MemoryError:     # it stays a while
                    pass

    def send(self, rec, csv, timeout, data=None):
        # data: the record's bytes as the outbox holds them, forwarded unchanged
        self._out("send", rec, csv, timeout, data)

    def beat(self, uptime, timeout):
        # a sign of life for the gateway's watchdog (the retained status goes at each connect)
        self._out("publish", [("outpost/" + self.device + "/heartbeat", str(int(uptime)).encode(),
                               False)], timeout)

    def _publish(self, messages, timeout, qos=1):
        self._out("publish", messages, timeout, qos)
