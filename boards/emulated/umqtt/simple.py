# Stand-in for micropython-lib's `umqtt.simple` on the emulated board: the same API
# (MQTTClient(client_id, server, port, user, password, keepalive, ssl), set_last_will, connect,
# publish, subscribe, wait_msg, check_msg, ping, disconnect), speaking MQTT 3.1.1 over a real
# socket to a real broker. QoS 0 and 1, like the original (a QoS 1 publish waits for PUBACK).
#
# TLS as umqtt.simple 1.4+ does it: `ssl` is an SSLContext (anything with wrap_socket), called
# as ssl.wrap_socket(sock, server_hostname=server). With LEGACY = True it behaves like the older
# releases instead: MQTTClient(..., ssl=True, ssl_params={...}) and MicroPython's
# ssl.wrap_socket(sock, **ssl_params) (cert_reqs defaults to CERT_NONE there, as on the board;
# cadata must be one DER certificate: PEM raises ValueError('invalid cert'), as on the board).
# Like the original, wait_msg()/check_msg() leave the socket blocking with no timeout.
import errno
import socket
import ssl as _ssl
import struct

LEGACY = False   # True: the pre-1.4 constructor (ssl=True, ssl_params=...)


class MQTTException(Exception):
    pass


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


class MQTTClient:
    def __init__(self, client_id, server, port=0, user=None, password=None, keepalive=0,
                 ssl=None, ssl_params=None):
        if ssl_params is not None and not LEGACY:
            raise TypeError("__init__() got an unexpected keyword argument 'ssl_params'")
        if port == 0:
            port = 8883 if ssl else 1883
        self.client_id = client_id
        self.sock = None
        self.server = server
        self.port = port
        self.ssl = ssl
        if LEGACY:      # 1.4 and later keep no ssl_params (the firmware reads the API from that)
            self.ssl_params = ssl_params or {}
        self.pid = 0
        self.cb = None
        self.user = user
        self.pswd = password
        self.keepalive = keepalive
        self.lw_topic = None
        self.lw_msg = None
        self.lw_qos = 0
        self.lw_retain = False

    def _read(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise OSError(-1, "connection closed by the broker")
            data += chunk
        return data

    def _write(self, data):
        from emulator import state
        if state.board is not None and not state.board.wifi_up:
            raise OSError(errno.EHOSTUNREACH, "EHOSTUNREACH")   # the radio link is gone
        self.sock.sendall(data)

    def _recv_len(self):
        n = 0
        sh = 0
        while True:
            b = self._read(1)[0]
            n |= (b & 0x7F) << sh
            if not b & 0x80:
                return n
            sh += 7

    def set_callback(self, f):
        self.cb = f

    def set_last_will(self, topic, msg, retain=False, qos=0):
        if not 0 <= qos <= 2 or not topic:
            raise ValueError("last will needs a topic and qos 0-2")
        self.lw_topic = topic
        self.lw_msg = msg
        self.lw_qos = qos
        self.lw_retain = retain

    def connect(self, clean_session=True, timeout=None):
        from emulator import state
        if state.board is not None and not state.board.wifi_up:
            raise OSError(errno.EHOSTUNREACH, "EHOSTUNREACH")
        sock = socket.socket()
        sock.settimeout(timeout)
        try:
            sock.connect(socket.getaddrinfo(self.server, self.port)[0][-1])
            if self.ssl is True and LEGACY:
                sock = _mp_wrap_socket(sock, **self.ssl_params)
            elif self.ssl:
                sock = self.ssl.wrap_socket(sock, server_hostname=self.server)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        if state.board is not None:
            # so the harness can cut it (drop_tcp) or hang up (close); closed ones are forgotten
            state.board.mqtt_clients = [c for c in state.board.mqtt_clients if c.is_open()] + [self]
        flags = 0x02 if clean_session else 0
        payload = _str(self.client_id)
        if self.lw_topic:
            flags |= 0x04 | (self.lw_qos << 3) | (0x20 if self.lw_retain else 0)
            payload += _str(self.lw_topic) + _str(self.lw_msg)
        if self.user:
            flags |= 0x80
            payload += _str(self.user)
            if self.pswd:
                flags |= 0x40
                payload += _str(self.pswd)
        var = _str(b"MQTT") + bytes((4, flags)) + struct.pack("!H", self.keepalive)
        body = var + payload
        self._write(b"\x10" + _varint(len(body)) + body)
        resp = self._read(4)
        if resp[0] != 0x20 or resp[1] != 0x02:
            raise MQTTException(29)
        if resp[3] != 0:
            raise MQTTException(resp[3])
        return resp[2] & 1

    def is_open(self):
        # the emulator's question, not umqtt.simple API
        return self.sock is not None and self.sock.fileno() != -1

    def disconnect(self):
        try:
            self._write(b"\xe0\x00")
        finally:
            self.sock.close()
            self.sock = None

    def ping(self):
        self._write(b"\xc0\x00")

    def publish(self, topic, msg, retain=False, qos=0):
        if isinstance(topic, str):
            topic = topic.encode()
        if isinstance(msg, str):
            msg = msg.encode()
        hdr = 0x30 | (qos << 1) | (1 if retain else 0)
        body = _str(topic)
        pid = 0
        if qos > 0:
            self.pid = self.pid % 65535 + 1
            pid = self.pid
            body += struct.pack("!H", pid)
        body += msg
        self._write(bytes((hdr,)) + _varint(len(body)) + body)
        if qos == 1:
            while True:
                op = self.wait_msg()
                if op == 0x40:
                    sz = self._read(1)
                    if sz != b"\x02":
                        raise MQTTException("bad PUBACK")
                    rcv = self._read(2)
                    if (rcv[0] << 8 | rcv[1]) == pid:
                        return
        elif qos == 2:
            raise MQTTException("QoS 2 not supported")

    def subscribe(self, topic, qos=0):
        if self.cb is None:
            raise MQTTException("subscribe needs set_callback() first")
        if isinstance(topic, str):
            topic = topic.encode()
        self.pid = self.pid % 65535 + 1
        body = struct.pack("!H", self.pid) + _str(topic) + bytes((qos,))
        self._write(b"\x82" + _varint(len(body)) + body)
        while True:
            op = self.wait_msg()
            if op == 0x90:
                resp = self._read(4)
                if resp[0] != 0x03 or (resp[1] << 8 | resp[2]) != self.pid:
                    raise MQTTException("bad SUBACK")
                if resp[3] == 0x80:
                    raise MQTTException(resp[3])
                return

    def wait_msg(self):
        try:
            res = self.sock.recv(1)
        except (BlockingIOError, _ssl.SSLWantReadError):
            res = None      # check_msg(): nothing waiting
        self.sock.setblocking(True)
        if res is None:
            return None
        if res == b"":
            raise OSError(-1, "connection closed by the broker")
        op = res[0]
        if op == 0xD0:  # PINGRESP
            if self._read(1)[0] != 0:
                raise MQTTException("bad PINGRESP")
            return None
        if op & 0xF0 != 0x30:
            return op
        sz = self._recv_len()
        tl = self._read(2)
        tl = tl[0] << 8 | tl[1]
        topic = self._read(tl)
        sz -= tl + 2
        pid = 0
        if op & 6:
            p = self._read(2)
            pid = p[0] << 8 | p[1]
            sz -= 2
        msg = self._read(sz)
        if self.cb:
            self.cb(topic, msg)
        if op & 6 == 2:
            self._write(b"\x40\x02" + struct.pack("!H", pid))
        elif op & 6 == 4:
            raise MQTTException("QoS 2 not supported")
        return None

    def check_msg(self):
        self.sock.setblocking(False)
        return self.wait_msg()


def _mp_wrap_socket(sock, server_side=False, key=None, cert=None, cert_reqs=0, cadata=None,
                    server_hostname=None, do_handshake=True):
    # MicroPython's ssl.wrap_socket, which the pre-1.4 umqtt.simple calls with its ssl_params
    if server_side or key or cert:
        raise ValueError("the stand-in does client TLS only")
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    if cert_reqs == _ssl.CERT_NONE:
        ctx.check_hostname = False
        ctx.verify_mode = _ssl.CERT_NONE
    else:
        ctx.verify_mode = _ssl.CERT_REQUIRED
        ctx.check_hostname = server_hostname is not None
        if cadata is not None:
            # as MicroPython's mbedTLS: one DER certificate, PEM text (str or bytes) refused
            if isinstance(cadata, str) or b"-----BEGIN" in cadata:
                raise ValueError("invalid cert")
            try:
                ctx.load_verify_locations(cadata=cadata)
            except _ssl.SSLError:
                raise ValueError("invalid cert")
    return ctx.wrap_socket(sock, server_hostname=server_hostname,
                           do_handshake_on_connect=do_handshake)
