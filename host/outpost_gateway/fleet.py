# Fleet failover ([fleet] enabled): several gateways on one broker, one shared subscription
# ($share/<mqtt.shared_group>/...), each with its own persistent session and its own spool.
#
# The problem: the broker hands a shared subscription's messages to its member sessions in
# turn, offline ones included, so a dead gateway's share waits in its session until it returns.
#
# What each gateway does here:
# - announces itself on <fleet.topic>/<client_id>/status: retained {"state": "online",
#   "holds": [...]} while alive, and a retained Last Will "offline" (also published on a clean
#   stop) when it is gone; and watches every peer's status.
# - a peer offline for fleet.takeover_after seconds whose session no live gateway holds is
#   taken over by exactly one live gateway (the same pick on every gateway: a hash of the
#   peer's id over the sorted live ids). It connects with the peer's client id and clean_start
#   false: the broker hands it the alerts queued and unacknowledged in that session, and keeps
#   routing the peer's share to it. They go into this gateway's own spool and are acknowledged
#   after its commit, like any other.
# - when the peer comes back it connects under its own id, which ends the holder's connection;
#   the holder never reconnects under an id not its own by itself, and lets go of the session
#   as soon as the peer's status says online. An alert the holder had taken but not yet
#   acknowledged then reaches the owner too: the same alert id, so the same Message-ID.
#
# What it cannot do: alerts a gateway had already committed to its own spool but not relayed
# when it died wait in that spool until it (or its disk) returns. A gateway that dies without
# its socket closing (power cut, cable) is noticed by the broker only after 1.5 x mqtt.keepalive.
import json
import logging
import threading
import time
import zlib

from outpost_contract.record import loads

from .mqtt_ingress import MqttIngress, new_client, session_properties

log = logging.getLogger("outpost.fleet")

NEVER = float("inf")


class Peer:
    __slots__ = ("online", "since", "holds", "retry_at")

    def __init__(self, online, since, holds=()):
        self.online = online
        self.since = since          # when its state last changed, as this gateway saw it
        self.holds = set(holds)     # sessions of dead peers it holds
        self.retry_at = 0.0         # no takeover before this (after a failed or empty one)


def parse_status(payload):
    # -> (online, holds), or None when the payload is not a gateway status
    text = payload.decode("utf-8", "replace").strip()
    if text == "offline":
        return False, ()
    try:
        d = loads(text)         # size and nesting bounded: "[[[[..." is no RecursionError
    except ValueError:
        return None
    if not isinstance(d, dict) or d.get("state") not in ("online", "offline"):
        return None
    holds = d.get("holds") or []
    if not isinstance(holds, list):
        holds = []
    return d["state"] == "online", [h for h in holds if isinstance(h, str)]


def taker(peer, live):
    # the live gateway that takes a dead peer's session: every gateway that sees the same live
    # set names the same one, and dead peers spread over the survivors
    return live[zlib.crc32(peer.encode("utf-8")) % len(live)]


def plan(me, peers, mine, now, after):
    # peers: {id: Peer}; mine: {id: ended} the sessions this gateway holds.
    # -> (take, release): peers whose session to take over now, held sessions to let go
    live = sorted(set([me] + [p for p, s in peers.items() if s.online]))
    others = {}
    for p, s in peers.items():
        if s.online:
            for h in s.holds:
                others.setdefault(h, []).append(p)
    release = []
    for p, ended in mine.items():
        s = peers.get(p)
        # back, our connection ended, or a lower id holds it too
        if s is None or s.online or ended or any(o < me for o in others.get(p, ())):
            release.append(p)
    take = []
    for p, s in peers.items():
        if s.online or p in mine or p in others or p == me:
            continue
        if now - s.since < after or now < s.retry_at:
            continue
        if taker(p, live) == me:
            take.append(p)
    return sorted(take), sorted(release)


class Takeover(MqttIngress):
    # one dead peer's session, held by this gateway: the peer's client id, no reconnecting
    # on its own, no subscribing (the session keeps the peer's subscriptions)
    def __init__(self, cfg, ingest, peer, on_end):
        MqttIngress.__init__(self, cfg, ingest, client_id=peer, reconnect=False)
        self.peer = peer
        self.on_end = on_end
        self.ended = False
        self.empty = False          # the broker had no session for that id

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.last_error = "connect refused: " + str(reason_code)
            log.error("the broker refused the takeover of %s's session: %s", self.peer, reason_code)
            client.disconnect()
            self._end()
            return
        self._gen += 1
        self.connected = True
        if not flags.session_present:
            # nothing kept for that id (never connected, or its session expired): end the empty
            # session this connect just made, rather than keep it
            self.empty = True
            log.info("the broker has no session for %s; nothing to take over", self.peer)
            client.disconnect(properties=session_properties(0, "DISCONNECT"))
            return
        self.subscribed = True
        log.warning("holding %s's MQTT session; the alerts it queues come to this gateway", self.peer)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected = False
        self.subscribed = False
        self._end()

    def _end(self):
        # the fleet's next step lets go of it (and takes it again later if still needed)
        if not self.ended:
            self.ended = True
            self.on_end()

    def _bounce(self, res):
        # the spool refuses: let go (the broker keeps the alerts in the session); the fleet
        # takes it again after takeover_after
        if not self._bouncing:
            self._bouncing = True
            self.refusing = res
            log.error("spool answered %s; letting go of %s's session for now", res, self.peer)
            self.client.disconnect()


class Fleet:
    def __init__(self, cfg, ingest, clock=time.monotonic):
        self.cfg = cfg
        self.ingest = ingest
        self.clock = clock
        m = cfg["mqtt"]
        f = cfg["fleet"]
        self.me = m["client_id"]
        self.base = f["topic"].rstrip("/")
        self.after = f["takeover_after"]
        self.peers = {}
        self.held = {}              # peer id -> Takeover
        self.connected = False
        self.lock = threading.Lock()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread = None
        c = new_client(m, self.me + "-fleet", manual_ack=False)
        c.will_set(self.topic(self.me), b"offline", qos=1, retain=True)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        # a callback that raises anyway is logged by paho instead of ending its thread
        c.suppress_exceptions = True
        self.client = c

    def topic(self, gw):
        return "%s/%s/status" % (self.base, gw)

    def start(self):
        m = self.cfg["mqtt"]
        self.client.connect_async(m["host"], m["port"], m["keepalive"], clean_start=True)
        self.client.loop_start()
        self.thread = threading.Thread(target=self._run, name="fleet", daemon=True)
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.wake.set()
        if self.thread is not None:
            self.thread.join(30)
        with self.lock:
            held = list(self.held.values())
            self.held.clear()
        for t in held:
            t.stop()        # the sessions stay with the broker for the next holder
        if self.connected:
            # a clean stop: the peers take over this gateway's session after takeover_after too
            info = self.client.publish(self.topic(self.me), b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(5)
            except (RuntimeError, ValueError):
                pass
        self.client.disconnect()
        self.client.loop_stop()
        self.connected = False

    def status(self):
        with self.lock:
            return {"connected": self.connected, "holds": sorted(self.held),
                    "peers": {p: ("online" if s.online else "offline") for p, s in sorted(self.peers.items())}}

    # -- paho callbacks (network thread) --------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            log.error("the broker refused the connection: %s", reason_code)
            return
        self.connected = True
        self._announce()
        client.subscribe(self.base + "/+/status", 1)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self.connected = False

    def _on_message(self, client, userdata, msg):
        peer = msg.topic[len(self.base) + 1:-len("/status")]
        if not peer or "/" in peer:
            return
        if peer == self.me:
            # our own status says we are gone (a stale Will, or someone else's doing) while we
            # run: say otherwise, or a peer would take our session from under us
            st = parse_status(msg.payload) if msg.payload else None
            if (st is None or not st[0]) and self.connected and not self.stopping.is_set():
                log.warning("our status read %r; announcing online again", msg.payload[:40])
                self._announce()
            return
        now = self.clock()
        if not msg.payload:
            # a cleared status says nothing about the session, which still takes its share of
            # the alerts: whoever holds it keeps it
            return
        st = parse_status(msg.payload)
        if st is None:
            log.warning("ignoring an unreadable status of %s", peer)
            return
        online, holds = st
        with self.lock:
            s = self.peers.get(peer)
            if s is None or s.online != online:
                s = self.peers[peer] = Peer(online, now)
                log.info("gateway %s is %s", peer, "online" if online else "offline")
            s.holds = set(holds)
        self.wake.set()

    def _announce(self):
        with self.lock:
            body = json.dumps({"state": "online", "holds": sorted(self.held)})
        self.client.publish(self.topic(self.me), body, qos=1, retain=True)

    # -- decisions (own thread) -----------------------------------------------------------
    def _run(self):
        while not self.stopping.is_set():
            self.wake.wait(1.0)
            self.wake.clear()
            if self.stopping.is_set():
                return
            self.step()

    def step(self):
        now = self.clock()
        with self.lock:
            mine = dict((p, t.ended) for p, t in self.held.items())
            take, release = plan(self.me, self.peers, mine, now, self.after)
            if not self.connected:
                take = []       # our view of the peers may be stale
            ended = []
            for p in release:
                t = self.held.pop(p)
                ended.append(t)
                s = self.peers.get(p)
                if s is not None and not s.online:
                    # not back: try again later (never, for an id the broker has no session for,
                    # until its status changes)
                    s.retry_at = NEVER if t.empty else now + self.after
            started = []
            for p in take:
                t = Takeover(self.cfg, self.ingest, p, self.wake.set)
                self.held[p] = t
                started.append(t)
        for t in ended:
            t.stop()
            log.info("let go of %s's session", t.peer)
        for t in started:
            log.warning("gateway %s has been offline for %.0f s or more; taking over its MQTT session",
                        t.peer, self.after)
            t.start()
        if (ended or started) and self.connected:
            self._announce()
