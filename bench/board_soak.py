"""Board soak (issue 19): many wakes of the unchanged firmware on the real MicroPython unix port
(tests/realmp/realboard.py: .mpy laid out as `make deploy` does, deep sleep between wakes), with
the power cut (kill -9) at random points and the mail path failing at random (451 to MAIL, so
the alert goes over MQTT instead), against a real aiosmtpd and a real Mosquitto.

    python bench/board_soak.py [--wakes 1000] [--seed N]

It prints wakes, power cuts, alerts journalled, arrivals (once / twice with the same
Message-ID / more: must be 0), alerts lost, journal errors, alerts set aside (must be 0: a
power cut is not the alert's fault), and the heap after boot in the first and the last wake.
tests/realmp/test_board_soak_real.py runs a short version and asserts the same.
"""
import argparse
import json
import os
import random
import re
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("tests", "tests/realmp", "tests/firmware", "firmware", "lib"):
    sys.path.insert(0, os.path.join(ROOT, p))

from realboard import DEEPSLEEP_RESET, EXIT_DEEPSLEEP, RealBoard  # noqa: E402

# the unchanged boot.py and main.py; only App.boot is wrapped to print the heap it leaves
BOOT = """exec(open('boot.py').read())
import gc
from outpost import app as _app
_boot = _app.App.boot
def _heap_boot(self, *a):
    _boot(self, *a)
    gc.collect()
    print('SOAK heap after boot', gc.mem_alloc())
_app.App.boot = _heap_boot
_app = None
exec(open('main.py').read())
"""
ID_RE = re.compile(rb'"id":"([A-Za-z0-9._-]+)"')


def config(srv, broker):
    return {
        "device": "soak1",
        "wifi": {"ssid": "host", "password": "x"},
        "sensors": [{"name": "door", "type": "digital", "pin": 27}],
        "rules": [{"sensor": "door", "above": 0.5, "cooldown": 0, "severity": "critical"}],
        "mail": {"sender": "soak1@example.org", "to": ["me@example.org"]},
        "smtp": {"host": "127.0.0.1", "port": srv.port, "mode": "plain", "timeout": 5,
                 "send_wake_below": 0},
        "mqtt": {"host": broker.host, "port": broker.port, "timeout": 5, "keepalive": 30,
                 "heartbeat": 0, "publish_every": 0},
        "transport": {"order": ["smtp", "mqtt"], "budget": 20, "retry_min": 1, "retry_max": 2},
        "sample_every": 1,
        "deep_sleep": True,
        "report": {"at": ""},
        "watchdog": 60,
    }


def soak(tmp, wakes, seed, log=None):
    """Runs the soak in folder `tmp`; returns a dict of figures."""
    from mqtt_reader import MqttReader
    from outpost.outbox import Outbox
    from peers.mosquitto import Mosquitto
    from peers.smtpd import MailServer
    rng = random.Random(seed)
    out = {"wakes": 0, "power_cuts": 0, "journal_errors": 0, "heap": [], "seed": seed}
    journalled = set()
    cuts = {}       # id -> power cuts while it was in the journal, not yet done
    t0 = time.monotonic()
    with MailServer() as srv, Mosquitto() as broker:
        reader = MqttReader(broker.host, broker.port, topic="outpost/soak1/alert")
        try:
            b = RealBoard(_Tmp(tmp), config(srv, broker), heapsize="256k")
            b.auto_wake = False
            journal = os.path.join(b.fs, "outbox.log")
            cause = None
            door = 0
            took = [0.3]      # seconds an uncut wake took: a cut lands anywhere in the next
            pending = [set()]   # ids in the journal, not done, after the last wake

            def one(cut_after):
                nonlocal cause
                n = len(b.lines)
                t = time.monotonic()
                b.start(code=BOOT, cause=cause)
                try:
                    b.proc.wait(cut_after if cut_after is not None else 60)
                except Exception:       # TimeoutExpired: the power goes now
                    if cut_after is None:
                        raise
                b.kill9()
                rc = b.proc.returncode
                out["wakes"] += 1
                if rc == EXIT_DEEPSLEEP:
                    cause = DEEPSLEEP_RESET
                    took.append(time.monotonic() - t)
                else:
                    cause = None        # a power cut (or a crash): a cold start
                    out["power_cuts"] += rc == -9
                for line in b.lines[n:]:
                    if line.startswith("SOAK heap after boot"):
                        out["heap"].append((cause, int(line.split()[-1])))
                before = set(journalled)
                try:
                    with open(journal, "rb") as f:
                        journalled.update(m.decode() for m in ID_RE.findall(f.read()))
                    ob = Outbox(journal)
                    ob.open()               # the board's own reader, on CPython
                except FileNotFoundError:
                    ob = None
                except Exception as e:      # an unreadable journal
                    ob = None
                    out["journal_errors"] += 1
                    if log:
                        log("journal unreadable: %r" % (e,))
                if rc != EXIT_DEEPSLEEP:
                    # a cut can cost one copy of each alert the wake may have been sending
                    for rid in pending[0] | (journalled - before):
                        cuts[rid] = cuts.get(rid, 0) + 1
                pending[0] = set(it[0] for it in ob.items) if ob is not None else set()

            for i in range(wakes):
                if rng.random() < 0.35:
                    door = 1 - door
                with open(os.path.join(b.fs, "pin27"), "w") as f:
                    f.write(str(door))
                srv.mail_reply = "451 4.3.0 try later" if rng.random() < 0.3 else None
                recent = sorted(took[-20:])
                one(rng.uniform(0.0, 1.0) * recent[len(recent) // 2] if rng.random() < 0.3 else None)
                if log and (i + 1) % 100 == 0:
                    log("%d wakes, %d power cuts, %.0f s" % (i + 1, out["power_cuts"],
                                                             time.monotonic() - t0))
            # drain: no faults, the door left as it is, until the journal holds nothing to send
            srv.mail_reply = None
            for _ in range(30):
                one(None)
                ob = Outbox(journal)
                ob.open()
                if not ob.pending() and not ob.aside():
                    break
            out["wall_s"] = time.monotonic() - t0
            time.sleep(1)
            arrived = {}
            out["mail_without_message_id"] = []
            for m in srv.messages:
                if m.parsed()["Message-ID"] is None:
                    out["mail_without_message_id"].append(m.parsed()["Subject"])
                    continue
                rid = m.parsed()["Message-ID"].strip("<>").partition("@")[0]
                arrived.setdefault(rid, []).append("smtp:" + m.parsed()["Message-ID"])
            for topic, payload, retain in reader.messages:
                arrived.setdefault(json.loads(payload)["id"], []).append("mqtt")
            logged = set(l.split()[2] for l in b.lines if re.match(r"\[\S+\] alert ", l))
        finally:
            reader.close()
    counts = [len(arrived.get(r, [])) for r in journalled]
    twice = [r for r in journalled if len(arrived.get(r, [])) == 2]
    out.update({
        "journalled": len(journalled),
        "once": counts.count(1),
        "twice": len(twice),
        "twice_same_message_id": sum(1 for r in twice if len(set(
            a for a in arrived[r] if a.startswith("smtp:"))) <= 1),
        "more": sum(1 for c in counts if c > 2),
        # at most one copy per crash: arrivals beyond 1 + the cuts while it was pending
        "over_one_per_cut": sorted(r for r in journalled
                                   if len(arrived.get(r, [])) > 1 + cuts.get(r, 0)),
        "more_ids": dict((r, (arrived[r], cuts.get(r, 0))) for r in journalled
                         if len(arrived.get(r, [])) > 2),
        "lost": sorted(r for r in journalled if r not in arrived),
        "arrived_not_journalled": sorted(set(arrived) - journalled),
        "cut_before_journal": len(logged - journalled - set(arrived)),
        "set_aside": b.count("SET ASIDE"),
        "tracebacks": b.count("Traceback"),
    })
    # after boot the heap holds the state restored from RTC memory (the rule's state, ids
    # tried), which differs by a few hundred bytes from wake to wake: a leak is a trend, so
    # the first and the last quarter of the wakes are compared too
    warm = [h for c, h in out["heap"] if c == DEEPSLEEP_RESET]
    q = max(1, len(warm) // 4)
    out["heap_first"] = warm[0] if warm else None
    out["heap_last"] = warm[-1] if warm else None
    out["heap_range"] = (min(warm), max(warm)) if warm else None
    out["heap_first_quarter_max"] = max(warm[:q]) if warm else None
    out["heap_last_quarter_max"] = max(warm[-q:]) if warm else None
    return out


class _Tmp(str):
    # RealBoard takes a pathlib-like folder (tmp_path / "flash")
    def __truediv__(self, name):
        return _Tmp(os.path.join(self, name))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wakes", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args(argv)
    seed = a.seed if a.seed is not None else random.randrange(1 << 30)
    with tempfile.TemporaryDirectory(prefix="board-soak-") as tmp:
        r = soak(tmp, a.wakes, seed, log=lambda s: print("  " + s, flush=True))
    print("board soak, seed %d: %d wakes in %.0f s (load %.1f), %d power cuts (kill -9)"
          % (seed, r["wakes"], r["wall_s"], os.getloadavg()[0], r["power_cuts"]))
    print("  alerts journalled      %6d" % r["journalled"])
    print("  arrived once           %6d" % r["once"])
    print("  arrived twice          %6d (same Message-ID: %d)" % (r["twice"], r["twice_same_message_id"]))
    print("  arrived 3+ times       %6d   (goal 0; each had that many power cuts while pending: %s)"
          % (r["more"], ", ".join("%s %dx/%d cuts" % (k, len(v[0]), v[1]) for k, v in r["more_ids"].items())))
    print("  over one copy per cut  %6d   (goal 0)" % len(r["over_one_per_cut"]))
    print("  lost                   %6d   (goal 0) %s" % (len(r["lost"]), " ".join(r["lost"][:5])))
    print("  cut before journalling %6d   (logged, power gone before the journal write)" % r["cut_before_journal"])
    print("  journal unreadable     %6d   (goal 0)" % r["journal_errors"])
    print("  mail with no Message-ID %5d   %s" % (len(r["mail_without_message_id"]), r["mail_without_message_id"][:3]))
    print("  set aside              %6d   (goal 0: power cuts are not the alert's fault)" % r["set_aside"])
    print("  heap after boot        first wake %s B, last wake %s B (goal: the same); all wakes %s-%s B;"
          % (r["heap_first"], r["heap_last"], r["heap_range"][0], r["heap_range"][1]))
    print("                         largest in the first quarter %s B, in the last quarter %s B"
          % (r["heap_first_quarter_max"], r["heap_last_quarter_max"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
