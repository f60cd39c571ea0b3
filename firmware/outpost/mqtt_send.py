# What the MQTT path (mqtt_path.MqttPath) sends: an alert or report record, the heartbeat, the
# live readings and a deliberate disconnect, and on the board the PUBLISH packet itself (MQTT
# 3.1.1; umqtt.simple's client off the board). Loaded for what goes out and unloaded after.
import time

from outpost import Down

PID_LIMIT = 60000      # umqtt.simple's packet id is not wrapped at 65535: reconnect before


def send(p, rec, csv, timeout, data=None):
    # data: the record's bytes as the outbox holds them, forwarded unchanged (no second
    # parse and encode on the board)
    topic = "outpost/" + p.device + ("/report" if rec["kind"] == "report" else "/alert")
    if data is None or csv:
        from outpost import alerts
        data = alerts.gateway_record(rec, csv)
    publish(p, [(topic, data, False)], timeout)


def state(p, readings, timeout):
    import json
    d = {}
    for k in readings:
        d[k] = readings[k][0]
    publish(p, [("outpost/" + p.device + "/state", json.dumps(d).encode(), True)], timeout, 0)


def publish(p, messages, timeout, qos=1):
    if not p.net.connected():
        if p.sock is not None:
            p._drop("no Wi-Fi")
        raise Down("no Wi-Fi")
    if p.sock is not None and p.pid >= PID_LIMIT:
        p.close()
    t0 = time.ticks_ms()
    fresh = p.sock is None
    while True:
        if p.sock is None:
            p._connect(timeout)     # raises Down
        c = p._client()             # a MemoryError: an outage of this attempt (the chain's)
        try:
            p.settimeout(c, timeout)
            for topic, data, retain in messages:
                if c is p:
                    put(p, topic, data, retain, qos)
                else:
                    c.publish(topic, data, retain, qos)  # QoS 1: returns only after the PUBACK
            p.last_tx = p.mono()
            p._done(c)
            return
        except Exception as e:
            p._drop(p.what(e))
            left = timeout - time.ticks_diff(time.ticks_ms(), t0) / 1000
            if fresh or left < 1:
                raise Down(p.what(e))
            # a kept connection may have died since it was last used: one fresh try
            fresh = True
            timeout = left


def put(p, topic, msg, retain, qos):
    # on the board: PUBLISH over the open connection; at QoS 1 it returns on its PUBACK (what
    # the broker sends meanwhile is dropped: the board subscribes to nothing)
    if isinstance(topic, str):
        topic = topic.encode()
    n = 2 + len(topic) + len(msg) + (2 if qos else 0)
    b = bytearray((0x30 | qos << 1 | (1 if retain else 0),))
    while True:                     # the remaining length, 7 bits a byte
        b.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            break
    b += bytes((len(topic) >> 8, len(topic) & 0xFF))
    b += topic
    if qos:
        p.pid = p.pid % 0xFFFF + 1         # 1..65535: 0 is no packet id
        pid = bytes((p.pid >> 8, p.pid & 0xFF))
        b += pid
    p.sock.write(b)
    b = None
    p.sock.write(msg)
    while qos:
        if p._packet() == (0x40, pid):
            return


def close(p, offline, timeout):
    c = p._client()
    p.settimeout(c, timeout)
    if c is not p:
        if offline:
            c.publish(p.status, b"offline", True, 1)
        c.disconnect()
        return
    try:
        if offline:
            put(p, p.status, b"offline", True, 1)
        p.sock.write(b"\xe0\x00")        # DISCONNECT
    finally:
        p.sock.close()
