# Does the MQTT broker hold as many alerts as the gateway may leave with it? Alerts wait at the
# broker while the gateway is down and while its spool refuses them (spool.max_pending), and a
# broker whose queue is full drops the next one after having acknowledged it to the board.
#
# Mosquitto tells a client nothing about that limit: not in $SYS (counters only), not in the
# MQTT 5 CONNACK (Receive Maximum is max_inflight_messages; Maximum Packet Size appears only
# when set). So the gateway reads the broker's own config when the broker runs on this machine
# (mqtt.broker_config), and otherwise logs that it could not check.
import glob
import logging
import os
import socket

log = logging.getLogger("outpost.broker")

MOSQUITTO_DEFAULT_QUEUE = 1000      # max_queued_messages when the config does not set it


def read_mosquitto(path, _depth=0):
    # -> {option: (value, file)}, the last setting winning, include_dir followed in Mosquitto's
    # order (alphabetical); raises OSError when the file cannot be read
    # Every port it listens on is under "listener" as (ports, file), all of them kept (a
    # listener line is not a setting the next one replaces).
    out = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = f.read().splitlines()
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        if key == "include_dir" and _depth < 4:
            for inc in sorted(glob.glob(os.path.join(value, "*.conf"))):
                sub = read_mosquitto(inc, _depth + 1)
                ports = out.get("listener", ((), path))[0] + sub.pop("listener", ((), inc))[0]
                out.update(sub)
                if ports:
                    out["listener"] = (ports, path)
        elif key in ("listener", "port"):
            port = value.split()[0] if value else ""
            if port.isdigit():
                out["listener"] = (out.get("listener", ((), path))[0] + (int(port),), path)
        else:
            out[key] = (value, path)
    return out


def listener_ports(conf):
    # the ports a Mosquitto with this config listens on: with no listener, 1883 (local only)
    ports = conf.get("listener", ((), None))[0]
    return ports or (1883,)


def is_local(host):
    if host in ("localhost", "::1") or host.startswith("127."):
        return True
    try:
        return host in (socket.gethostname(), socket.getfqdn())
    except OSError:
        return False


def check_queue_limit(cfg):
    # logs what it finds; returns "low", "ok" or "unknown" (for tests)
    m = cfg["mqtt"]
    want = cfg["spool"]["max_pending"]
    path = m["broker_config"]
    advice = ("set max_queued_messages to at least spool.max_pending (%d) in the broker's config"
              " (host/mosquitto/outpost.conf)" % want)
    if not path:
        log.info("broker queue limit not checked (mqtt.broker_config is empty); %s", advice)
        return "unknown"
    if not is_local(m["host"]):
        log.info("could not check the broker's queue limit: the broker (%s) is not on this machine and"
                 " MQTT does not announce it; %s", m["host"], advice)
        return "unknown"
    try:
        conf = read_mosquitto(path)
    except OSError as e:
        log.info("could not check the broker's queue limit: cannot read %s (%s); %s", path,
                 e.strerror or e, advice)
        return "unknown"
    if m["port"] not in listener_ports(conf):
        # a private broker (another instance, another config): not the file that sets its limit
        log.info("could not check the broker's queue limit: %s has no listener on mqtt.port %d (it"
                 " listens on %s), so it is not the broker the gateway uses; %s", path, m["port"],
                 ", ".join(str(p) for p in listener_ports(conf)), advice)
        return "unknown"
    value, src = conf.get("max_queued_messages", (str(MOSQUITTO_DEFAULT_QUEUE), path + " (Mosquitto's default)"))
    try:
        limit = int(value)
    except ValueError:
        log.warning("broker config %s: max_queued_messages %r is not a number", src, value)
        return "unknown"
    low = "ok"
    if limit != 0 and limit < want:
        log.warning("the broker keeps at most %d queued alerts per gateway session (max_queued_messages,"
                    " %s), fewer than spool.max_pending (%d): beyond it the broker DROPS alerts it has"
                    " acknowledged to the boards; %s", limit, src, want, advice)
        low = "low"
    qbytes, bsrc = conf.get("max_queued_bytes", ("0", path))
    if qbytes.isdigit() and int(qbytes) > 0:
        log.warning("the broker also drops queued alerts beyond %s bytes per session (max_queued_bytes,"
                    " %s); set it to 0", qbytes, bsrc)
        low = "low"
    if low == "ok":
        log.info("broker queue limit: %s (%s), enough for spool.max_pending %d",
                 "none" if limit == 0 else limit, src, want)
    return low
