# The MQTT path to the gateway's broker (umqtt.simple), over TLS when mqtt.tls is set. Its own
# module, so a wake that sends by SMTP or serial never loads it.
import gc
import time

from outpost.smtp_path import Down, unload
from outpost_contract.rules import backoff

# The broker is reached over one long-lived connection, like a mature MicroPython app does it:
# its Last Will (retained `offline` on outpost/<device>/status) is what tells the gateway within
# 1.5 keepalives that the board died, which only works while a connection is open. The main loop
# calls service() to ping it within the keepalive and to reconnect with backoff after a drop.
# With deep sleep (keep=False) there is one connection per wake-up, closed before sleeping.
RECONNECT_MIN = 5      # seconds before the first reconnect attempt; doubles up to:
RECONNECT_MAX = 300
PID_LIMIT = 60000      # umqtt.simple's packet id is not wrapped at 65535: reconnect before


class _Sockets:
    # Stands in for the `socket` module inside umqtt.simple: every socket it makes starts with
    # our timeout, and the last one is kept (raw), so each wait can be bounded again after
    # umqtt.simple's setblocking(True), also under TLS, whatever umqtt.simple's version.
    def __init__(self, mod):
        self.mod = mod
        self.timeout = 10
        self.raw = None

    def socket(self, *a):
        s = self.mod.socket(*a)
        s.settimeout(self.timeout)
        self.raw = s
        return s

    def __getattr__(self, name):
        return getattr(self.mod, name)


class _Tls:
    # Given to umqtt.simple as its `ssl` (umqtt.simple >= 1.4 calls ssl.wrap_socket(sock,
    # server_hostname=<the host it connected to>)). It wraps with our verifying context and our
    # certificate name instead: on a LAN the broker is usually an IP address, which is not the
    # name in its certificate. It keeps the plain socket, where MicroPython sets timeouts.
    def __init__(self, ctx, hostname):
        self.ctx = ctx
        self.hostname = hostname
        self.raw = None
        self.timeout = None

    def wrap_socket(self, sock, server_hostname=None, **kw):
        self.raw = sock
        if self.timeout is not None:
            sock.settimeout(self.timeout)   # bounds the handshake even if connect() took none
        gc.collect()  # the handshake needs the largest free block we can give it
        return self.ctx.wrap_socket(sock, server_hostname=self.hostname)


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
        self.client = None
        self.tls = None
        self.sockets = None
        self.fails = 0            # failed connects in a row (reconnect backoff)
        self.next_try = 0
        self.last_tx = 0          # mono time of the last packet sent (pings keep it within keepalive)
        self.connects = 0
        self.on_up = None         # called after each successful connect
        self.catalog = None       # [(reading, unit, label)] for Home Assistant discovery
        self.announced = False    # discovery configs went out on a connection since boot

    def enabled(self):
        return bool(self.m["host"])

    def port(self):
        return self.m["port"] or (8883 if self.m["tls"] else 1883)

    # --- the connection ---------------------------------------------------------------

    def _settimeout(self, c, timeout):
        # umqtt.simple leaves its socket blocking without a timeout after check_msg/wait_msg:
        # set one before every blocking call, on the plain socket (the one under TLS, where
        # MicroPython keeps timeouts), which _Sockets handed to umqtt.simple and remembered
        try:
            c.sock.settimeout(timeout)
        except AttributeError:      # MicroPython's TLS socket
            raw = self.tls.raw if self.tls is not None else None
            if raw is None and self.sockets is not None:
                raw = self.sockets.raw
            if raw is not None:
                raw.settimeout(timeout)

    def _tls(self, legacy):
        # the broker's CA as the umqtt.simple in the image takes it (usmtp/cacert.py): before
        # 1.4 ssl_params go to ssl.wrap_socket, whose cadata MicroPython takes as one DER
        # certificate (PEM: ValueError 'invalid cert'); 1.4 and later take an SSLContext
        from outpost import clock
        from usmtp import cacert
        m = self.m
        if not clock.is_set():
            raise Down("clock not set (NTP has not succeeded): cannot verify the broker certificate")
        name = m["server_hostname"] or m["host"]
        try:
            if legacy:
                return {"server_hostname": name, "cert_reqs": 2,    # ssl.CERT_REQUIRED
                        "cadata": cacert.der(m["ca"])}
            import ssl
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.verify_mode = ssl.CERT_REQUIRED    # MicroPython's default is CERT_NONE
            cacert.load(ctx, m["ca"])
            return _Tls(ctx, name)
        except ValueError as e:
            raise Down("mqtt.ca: " + str(e))
        finally:
            unload("usmtp.cacert")

    def _new_client(self, timeout):
        import umqtt.simple as um
        m = self.m
        # umqtt.simple makes its socket with socket.socket() and, before 1.4, never gives it a
        # timeout: hand it one that has one, and remember it (see _Sockets)
        if not isinstance(um.socket, _Sockets):
            um.socket = _Sockets(um.socket)
        self.sockets = um.socket
        self.sockets.timeout = timeout
        c = um.MQTTClient(self.device, m["host"], self.port(), m["username"] or None,
                          m["password"] or None, m["keepalive"])
        # which API, by the client's shape rather than by an exception: before 1.4 a client
        # keeps ssl_params (and connect() takes no timeout); 1.4 takes ssl= an SSLContext-like
        # object (1.5 and later take both: ssl_params then, with the same DER)
        self.legacy = hasattr(c, "ssl_params")
        self.tls = None
        if not m["tls"]:
            return c
        if self.legacy:
            c.ssl = True
            c.ssl_params = self._tls(True)
            self.tls = _Tls(None, c.ssl_params["server_hostname"])   # for the log and timeouts
        else:
            self.tls = c.ssl = self._tls(False)
        return c

    def _connect(self, timeout):
        if not self.net.connected():
            raise Down("no Wi-Fi")
        try:
            c = self._new_client(timeout)
        except Down as e:
            self._failed()
            raise e
        except Exception as e:      # MemoryError importing umqtt.simple, say: an outage too
            self._failed()
            gc.collect()
            raise Down(self._what(e))
        c.set_last_will(self.status, b"offline", True, 1)
        if self.tls is not None:
            self.tls.timeout = timeout
        gc.collect()
        try:
            if self.legacy:
                c.connect()
            else:
                c.connect(timeout=timeout)
            self._settimeout(c, timeout)
            # the gateway reads this as "in service"; the Last Will replaces it if we vanish
            c.publish(self.status, b"online", True, 1)
            if self.m["discovery"] and not self.announced and self.catalog is not None:
                self._announce(c)
        except Exception as e:  # OSError, MQTTException, a TLS failure: an outage of this path
            self._abort(c)
            self._failed()
            raise Down(self._what(e))
        self.client = c
        self.fails = 0
        self.next_try = 0
        self.last_tx = self.mono()
        self.connects += 1
        self.log("mqtt: connected to " + self.m["host"] + ":" + str(self.port()) +
                 (" (TLS)" if self.tls else ""))
        if self.on_up is not None:
            self.on_up()

    def _announce(self, c):
        # Home Assistant MQTT discovery, retained, once per boot: loaded only when enabled
        from outpost import discovery
        try:
            for topic, payload in discovery.configs(self.device, self.catalog, self.m["discovery_prefix"],
                                                    self.status, "outpost/" + self.device + "/state"):
                c.publish(topic, payload, True, 1)
        finally:
            unload("outpost.discovery")
        self.announced = True

    def state(self, readings, timeout):
        # retained JSON of the latest readings, QoS 0 (the next one replaces a lost one)
        import json
        d = {}
        for k in readings:
            d[k] = readings[k][0]
        self._publish([("outpost/" + self.device + "/state", json.dumps(d).encode(), True)],
                      timeout, 0)

    def _what(self, e):
        # one line: mbedTLS's verify messages start with a line break
        return " ".join((e.__class__.__name__ + " " + str(e)).split())

    def _failed(self):
        self.fails += 1
        self.next_try = self.mono() + backoff(self.fails, RECONNECT_MIN, 2, RECONNECT_MAX)

    def _abort(self, c):
        # no DISCONNECT: the broker publishes the Last Will (`offline`), which is the truth
        try:
            c.sock.close()
        except Exception:
            pass

    def _drop(self, why):
        c = self.client
        self.client = None
        if c is not None:
            self._abort(c)
            self._failed()
            self.log("mqtt: connection lost (" + why + "); reconnecting in " +
                     str(int(self.next_try - self.mono())) + " s")

    def close(self, offline=False, timeout=5):
        """A deliberate disconnect. offline=True (the app stops) publishes retained `offline`
        first; offline=False (deep sleep) leaves `online`: see boards/README.md."""
        c = self.client
        self.client = None
        if c is None:
            return
        try:
            self._settimeout(c, timeout)
            if offline:
                c.publish(self.status, b"offline", True, 1)
            c.disconnect()
        except Exception:
            self._abort(c)

    def service(self, timeout):
        """From the main loop: a ping when half the keepalive has passed without sending (and
        its answer, so a dead connection shows), and a reconnect with backoff after a drop.
        Returns True when it (re)connected."""
        if not self.enabled():
            return False
        c = self.client
        if c is None:
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
            ka = self.m["keepalive"]
            if ka and self.mono() - self.last_tx >= ka / 2:
                c.ping()
                self.last_tx = self.mono()
                self._settimeout(c, timeout)
                if c.wait_msg() is not None:   # PINGRESP reads as None; we subscribe to nothing
                    raise OSError("unexpected packet from the broker")
            else:
                c.check_msg()   # returns at once; raises when the broker closed the connection
        except Exception as e:
            self._drop(self._what(e))
        return False

    def poll_ms(self):
        # longest the main loop may sleep before calling service() again
        ka = self.m["keepalive"]
        if self.client is None or not ka:
            return 60000
        return max(1000, ka * 250)

    # --- sending ----------------------------------------------------------------------

    def send(self, rec, csv, timeout, data=None):
        # data: the record's bytes as the outbox holds them, forwarded unchanged (no second
        # parse and encode on the board)
        topic = "outpost/" + self.device + ("/report" if rec["kind"] == "report" else "/alert")
        if data is None or csv:
            from outpost import alerts
            data = alerts.gateway_record(rec, csv)
        self._publish([(topic, data, False)], timeout)

    def beat(self, uptime, timeout):
        # a sign of life for the gateway's watchdog (the retained status goes at each connect)
        self._publish([("outpost/" + self.device + "/heartbeat", str(int(uptime)).encode(), False)],
                      timeout)

    def _publish(self, messages, timeout, qos=1):
        if not self.net.connected():
            if self.client is not None:
                self._drop("no Wi-Fi")
            raise Down("no Wi-Fi")
        if self.client is not None and self.client.pid >= PID_LIMIT:
            self.close()
        t0 = time.ticks_ms()
        fresh = self.client is None
        while True:
            if self.client is None:
                self._connect(timeout)   # raises Down
            c = self.client
            try:
                self._settimeout(c, timeout)
                for topic, data, retain in messages:
                    c.publish(topic, data, retain, qos)  # QoS 1: returns only after the PUBACK
                self.last_tx = self.mono()
                return
            except Exception as e:
                self._drop(self._what(e))
                left = timeout - time.ticks_diff(time.ticks_ms(), t0) / 1000
                if fresh or left < 1:
                    raise Down(self._what(e))
                # a kept connection may have died since it was last used: one fresh try
                fresh = True
                timeout = left
