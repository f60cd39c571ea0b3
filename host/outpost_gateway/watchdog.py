# The watchdog: a board whose messages are overdue (its interval from watchdog.intervals, or
# learned from its heartbeats and reports, times watchdog.factor), or whose Last Will said "offline", gets
# one "board silent" alert; its return gets one "board back". A change within
# watchdog.flap_guard seconds of the previous one is recorded but not mailed, so a flapping
# board cannot cause a storm.
#
# One board whose row cannot be handled (a bug, a name from an old spool) is logged once and
# skipped; the others are still watched, and the pass after next tries it again.
import logging
import sqlite3
import threading

from . import compose, routing

log = logging.getLogger("outpost.watchdog")


def learn_rhythm(beat, gap, at):
    # a periodic message (heartbeat, report) at `at`, after the last one at `beat` -> the new
    # (beat, gap): the board's rhythm is a slow moving average of the gaps between them, so one
    # late or early message moves it only a little
    d = at - beat if beat is not None else 0
    if d > 0:
        gap = d if gap is None else 0.8 * gap + 0.2 * d
    return (at if beat is None else max(beat, at)), gap


class Watchdog:
    def __init__(self, cfg, spool, clock):
        self.cfg = cfg
        self.w = cfg["watchdog"]
        self.spool = spool
        self.clock = clock
        self.on_alert = None
        self._offline_since = {}    # device -> when a check first saw its Will "offline"
        self._lock = threading.Lock()   # one pass at a time: two could mail the same change
        self.failing = {}               # device -> error text while its check fails (logged once)

    def interval(self, board):
        iv = self.w["intervals"].get(board["device"])
        if iv is None:
            if not board["gap"]:
                return None      # not learned yet: needs two messages
            iv = board["gap"] * self.w["factor"]
        return max(iv, self.w["min_interval"])

    def silent_boards(self):
        return [b["device"] for b in self.spool.boards() if b["silent"]]

    def check(self, now=None):
        # one pass; returns the alerts made (for tests and logs)
        with self._lock:
            return self._check(now)

    def _check(self, now):
        now = self.clock.time() if now is None else now
        made = []
        for b in self.spool.boards():
            if b["device"] == "gateway":
                continue
            try:
                self._board(b, now, made)
            except sqlite3.Error:
                raise           # the spool itself: the loop logs that once per episode
            except Exception as e:
                if b["device"] not in self.failing:
                    log.exception("watchdog: checking board %r failed; the others are still watched",
                                  b["device"])
                self.failing[b["device"]] = "%s: %s" % (type(e).__name__, e)
            else:
                self.failing.pop(b["device"], None)
        if made:
            self.spool.write(made)
            for a in made:
                log.warning("%s", a.subject)
            if self.on_alert is not None:
                self.on_alert()
        return made

    def _board(self, b, now, made):
        iv = self.interval(b)
        overdue = iv is not None and now - b["last_seen"] > iv
        offline = b["status"] == "offline"
        if offline and not b["silent"]:
            # believe a Last Will only once it has lasted (see watchdog.offline_grace)
            since = self._offline_since.setdefault(b["device"], now)
            offline = now - since >= self.w["offline_grace"]
        elif not offline:
            self._offline_since.pop(b["device"], None)
        silent = overdue or offline
        if silent == bool(b["silent"]):
            return
        guard = b["notices"] > 0 and b["changed"] is not None and now - b["changed"] < self.w["flap_guard"]
        if silent:
            muted = 1 if guard else 0
            notices = b["notices"]
            if not muted:
                notices += 1
                why = "its Last Will says offline" if b["status"] == "offline" else \
                    "nothing heard for %d s (expected every %d s)" % (now - b["last_seen"], iv)
                made.append(self._alert(b["device"], "device-silent", notices,
                                        "Board %s is silent" % b["device"],
                                        "Board %s has gone silent: %s.\nLast heard: %s.\n"
                                        % (b["device"], why, compose._when(b["last_seen"])), now))
            self.spool.set_board(b["device"], 1, now, notices, muted)
        else:
            if not b["muted"]:
                made.append(self._alert(b["device"], "device-back", b["notices"],
                                        "Board %s is back" % b["device"],
                                        "Board %s is sending again (silent since %s).\n"
                                        % (b["device"], compose._when(b["changed"])), now))
            self.spool.set_board(b["device"], 0, now, b["notices"], 0)

    def _alert(self, device, kind, n, subject, body, now):
        rcpts = routing.recipients(self.cfg, device, "warning")
        aid = compose.safe_id("gateway-%s-%s-%d" % (kind.split("-")[1], device, n))
        return compose.gateway_alert(aid, kind, "warning", subject, body, rcpts, now, device=device)
