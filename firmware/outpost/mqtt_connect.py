# Connecting to the broker (mqtt_path.MqttPath._connect): the umqtt.simple client, its
# socket timeouts, TLS as the umqtt.simple in the image takes it, the Last Will, the retained
# `online` and Home Assistant discovery. Loaded only to connect and unloaded after: between
# sends the path holds the connection's socket, not this code.
import gc

from outpost import Down, unload


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
    # name in its certificate.
    def __init__(self, ctx, hostname):
        self.ctx = ctx
        self.hostname = hostname

    def wrap_socket(self, sock, server_hostname=None, **kw):
        gc.collect()  # the handshake needs the largest free block we can give it
        return self.ctx.wrap_socket(sock, server_hostname=self.hostname)


def _tls(m, legacy):
    # the broker's CA as the umqtt.simple in the image takes it (usmtp/cacert.py): before
    # 1.4 ssl_params go to ssl.wrap_socket, whose cadata MicroPython takes as one DER
    # certificate (PEM: ValueError 'invalid cert'); 1.4 and later take an SSLContext
    from outpost import clock
    from usmtp import cacert
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


def connect(p, timeout):
    """Connects path p (an MqttPath): returns the connected umqtt.simple client, with p.raw set
    to its plain socket (where MicroPython keeps timeouts, also under TLS); raises Down."""
    import umqtt.simple as um
    m = p.m
    # umqtt.simple makes its socket with socket.socket() and, before 1.4, never gives it a
    # timeout: hand it one that has one, and remember it (see _Sockets)
    if not isinstance(um.socket, _Sockets):
        um.socket = _Sockets(um.socket)
    sockets = um.socket
    sockets.timeout = timeout
    sockets.raw = None
    c = um.MQTTClient(p.device, m["host"], p.port(), m["username"] or None,
                      m["password"] or None, m["keepalive"])
    # which API, by the client's shape rather than by an exception: before 1.4 a client
    # keeps ssl_params (and connect() takes no timeout); 1.4 takes ssl= an SSLContext-like
    # object (1.5 and later take both: ssl_params then, with the same DER)
    legacy = hasattr(c, "ssl_params")
    if m["tls"]:
        if legacy:
            c.ssl = True
            c.ssl_params = _tls(m, True)
        else:
            c.ssl = _tls(m, False)
    c.set_last_will(p.status, b"offline", True, 1)
    gc.collect()
    try:
        if legacy:
            c.connect()
        else:
            c.connect(timeout=timeout)
        p.raw = sockets.raw
        p.settimeout(c, timeout)
        # the gateway reads this as "in service"; the Last Will replaces it if we vanish
        c.publish(p.status, b"online", True, 1)
        if m["discovery"] and not p.announced and p.catalog is not None:
            _announce(p, c)
    except Exception as e:  # OSError, MQTTException, a TLS failure: an outage of this path
        p.abort(c.sock or sockets.raw)
        raise Down(p.what(e))
    return c


def _announce(p, c):
    # Home Assistant MQTT discovery, retained, once per boot: loaded only when enabled
    from outpost import discovery
    try:
        for topic, payload in discovery.configs(p.device, p.catalog, p.m["discovery_prefix"],
                                                p.status, "outpost/" + p.device + "/state"):
            c.publish(topic, payload, True, 1)
    finally:
        unload("outpost.discovery")
    p.announced = True
