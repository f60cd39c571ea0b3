# The spool: every accepted alert is in this SQLite file, flushed to disk, before any ingress
# acknowledges it. WAL + synchronous=FULL, and one writer thread that commits whatever has
# queued up while the previous commit was flushing (group commit), so a burst costs one fsync
# per batch instead of one per alert.
#
# An alert (table alerts, deduplicated by its id) fans out to one delivery row per recipient
# (table deliveries): ready -> sending -> done | dead, with attempts and the next attempt time.
# Rows left "sending" by a crash go back to "ready" when the gateway opens it; the operator's
# commands open it read-only (or, to steer it, without that requeue).
#
# Policy when full (more than spool.max_pending undelivered alerts, or less than
# spool.min_free_mb free on the disk): new alerts are refused with a transient error
# ("full"), so the sender keeps them and tries again; nothing already accepted is dropped.
import json
import logging
import os
import queue
import shutil
import sqlite3
import threading
import urllib.parse

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts(
  id TEXT PRIMARY KEY,
  device TEXT NOT NULL,
  severity TEXT NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  source TEXT NOT NULL,
  received REAL NOT NULL,
  payload BLOB NOT NULL,          -- alert record JSON, or a whole RFC 5322 message if raw = 1
  raw INTEGER NOT NULL DEFAULT 0,
  mail_from TEXT
);
CREATE TABLE IF NOT EXISTS deliveries(
  alert_id TEXT NOT NULL,
  rcpt TEXT NOT NULL,
  status TEXT NOT NULL,           -- ready | sending | done | dead
  critical INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_at REAL NOT NULL,
  last_error TEXT,
  updated REAL NOT NULL,
  via TEXT,                       -- Message-ID of the digest that carries it, set when folded
  cause TEXT,                     -- "upstream": it waits on a failure that held every message
  PRIMARY KEY(alert_id, rcpt)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_at);
CREATE INDEX IF NOT EXISTS deliveries_via ON deliveries(via) WHERE via IS NOT NULL;
-- a digest, recorded whole when first attempted: its retries send these very bytes (same
-- Message-ID, same content), and its member deliveries (via = mid) go out only inside it
CREATE TABLE IF NOT EXISTS digests(
  mid TEXT PRIMARY KEY,
  rcpt TEXT NOT NULL,
  created REAL NOT NULL,
  message BLOB NOT NULL
);
-- messages sent per recipient within the last hour (the rate limit survives a restart)
CREATE TABLE IF NOT EXISTS sends(
  rcpt TEXT NOT NULL,
  at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sends_at ON sends(at);
CREATE TABLE IF NOT EXISTS dead_letter(
  alert_id TEXT NOT NULL,
  rcpt TEXT NOT NULL,
  code INTEGER,
  reply TEXT,
  at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS boards(
  device TEXT PRIMARY KEY,
  last_seen REAL NOT NULL,
  beat REAL,                      -- last periodic message (heartbeat, report)
  gap REAL,                       -- learned typical gap between periodic messages
  status TEXT,                    -- last retained status / Last Will (online/offline)
  silent INTEGER NOT NULL DEFAULT 0,
  changed REAL,                   -- when silent last changed
  notices INTEGER NOT NULL DEFAULT 0,
  muted INTEGER NOT NULL DEFAULT 0 -- a transition inside the flap guard: no notice sent
);
CREATE TABLE IF NOT EXISTS state(key TEXT PRIMARY KEY, value TEXT);
-- the boards' readings (retained outpost/<device>/state), for the status page's charts: kept
-- readings.keep_days, and at most readings.max_rows rows (the oldest go first)
CREATE TABLE IF NOT EXISTS readings(
  device TEXT NOT NULL,
  name TEXT NOT NULL,
  at REAL NOT NULL,
  value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS readings_key ON readings(device, name, at);
CREATE INDEX IF NOT EXISTS readings_at ON readings(at);
-- each board's latest value of each reading (the page's "last readings", without a scan)
CREATE TABLE IF NOT EXISTS readings_latest(
  device TEXT NOT NULL,
  name TEXT NOT NULL,
  at REAL NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY(device, name)
);
-- input that could not be read (bad JSON, a name the contract refuses, a frame that cannot be
-- parsed): acknowledged so it never loops, and kept here with the reason and its first bytes
CREATE TABLE IF NOT EXISTS rejected(
  n INTEGER PRIMARY KEY AUTOINCREMENT,
  at REAL NOT NULL,
  source TEXT NOT NULL,           -- mqtt | serial | smtp
  origin TEXT,                    -- the topic, port or client address it came from
  reason TEXT NOT NULL,
  size INTEGER NOT NULL,          -- the input's full length
  raw BLOB NOT NULL               -- its first REJECTED_RAW bytes
);
"""

REJECTED_RAW = 4096      # bytes of a rejected input kept
REJECTED_KEEP = 1000     # rows kept; a flood of bad input cannot fill the disk

PENDING = ("ready", "sending")

# what the relay gets for one delivery
ROW_KEYS = ("alert_id", "rcpt", "attempts", "critical", "received", "device", "severity", "kind",
            "subject", "payload", "raw", "mail_from")
ROW_COLS = ("d.alert_id, d.rcpt, d.attempts, d.critical, a.received, a.device, a.severity, a.kind,"
            " a.subject, a.payload, a.raw, a.mail_from")

log = logging.getLogger("outpost.spool")


class Alert:
    # one accepted alert, ready for the spool
    __slots__ = ("id", "device", "severity", "kind", "subject", "source", "payload", "raw",
                 "mail_from", "rcpts")

    def __init__(self, id, device, severity, kind, subject, source, payload, rcpts,
                 raw=False, mail_from=None):
        self.id = id
        self.device = device
        self.severity = severity
        self.kind = kind
        self.subject = subject
        self.source = source
        self.payload = payload
        self.rcpts = list(rcpts)
        self.raw = raw
        self.mail_from = mail_from


class Seen:
    # a sign of life from a board (any message, heartbeat, retained status, Last Will).
    # learn: a periodic message (heartbeat, report) that teaches the board's rhythm; alerts
    # come in bursts and would teach the watchdog a rhythm the board does not keep
    __slots__ = ("device", "at", "status", "learn")

    def __init__(self, device, at, status=None, learn=True):
        self.device = device
        self.at = at
        self.status = status
        self.learn = learn


class Outcome:
    # what the relay decided for one delivery (the spool writes it as it comes: each message
    # is settled on its own reply, in the writer's group commit)
    __slots__ = ("alert_id", "rcpt", "status", "attempts", "next_at", "error", "code", "via", "cause")

    def __init__(self, alert_id, rcpt, status, attempts, next_at, error=None, code=None, via=None,
                 cause=None):
        self.alert_id = alert_id
        self.rcpt = rcpt
        self.status = status        # ready | done | dead
        self.attempts = attempts
        self.next_at = next_at
        self.error = error
        self.code = code
        self.via = via              # the digest's Message-ID when it went in one
        self.cause = cause          # "upstream" when every message failed the same way


class Settle:
    # outcomes for the writer to commit with whatever else is queued
    __slots__ = ("outcomes", "now")

    def __init__(self, outcomes, now):
        self.outcomes = outcomes
        self.now = now


class Readings:
    # one state message of a board: {name: number}. replay: a retained message the broker
    # hands over at subscribe, stored only when it differs from what the spool last stored
    __slots__ = ("device", "at", "values", "replay")

    def __init__(self, device, at, values, replay=False):
        self.device = device
        self.at = at
        self.values = values
        self.replay = replay


class Rejected:
    # an input refused for good (written whatever the spool's fill level)
    __slots__ = ("source", "origin", "reason", "raw", "size")

    def __init__(self, source, origin, reason, raw):
        raw = bytes(raw or b"")
        self.source = source
        self.origin = origin
        self.reason = reason
        self.size = len(raw)
        self.raw = raw[:REJECTED_RAW]


def disk_full(e):
    return getattr(e, "sqlite_errorcode", None) == 13 or "disk is full" in str(e)     # SQLITE_FULL


class SpoolDamaged(Exception):
    # the spool file is not a whole SQLite database: the gateway does not start on it, and
    # nothing it did has written to it
    pass


def damage(path):
    # -> None, or why the file at path is not a whole SQLite database; reads only
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return None
    if size == 0:
        wal = path + "-wal"
        if os.path.exists(wal) and os.path.getsize(wal) > 0:
            return "it is empty (0 bytes) while its write-ahead log %s holds data" % wal
        return None       # a new spool: created 0600 before SQLite writes its header
    with open(path, "rb") as f:
        head = f.read(100)
    if len(head) < 100 or head[:16] != b"SQLite format 3\x00":
        return "it is not an SQLite database (its first bytes are not an SQLite header)"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    if page < 512 or page & (page - 1):
        return "its header names an impossible page size (%d)" % page
    if size % page:
        return "it is truncated (%d bytes is not a whole number of %d-byte pages)" % (size, page)
    pages = int.from_bytes(head[28:32], "big")
    if head[92:96] == head[24:28] and size < pages * page:
        return "it is truncated (%d bytes, its header says %d pages of %d bytes)" % (size, pages, page)
    try:
        db = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(path), uri=True, timeout=30)
        try:
            rows = [r[0] for r in db.execute("PRAGMA quick_check")]
        finally:
            db.close()
    except sqlite3.DatabaseError as e:
        return "SQLite cannot read it (%s)" % e
    if rows != ["ok"]:
        return "SQLite's check of it fails (%s)" % "; ".join(rows[:3])
    return None


def recovery_hint(path):
    # what SQLite can still read, copied into a new file (a dump that hit damage ends in a
    # ROLLBACK: what it read is committed all the same, and a row too damaged to insert is
    # skipped with an error); the damaged files are kept beside it
    d, name = os.path.split(os.path.abspath(path))
    return ("What it holds can be recovered: stop the gateway, then\n"
            "  cd %s && { sqlite3 %s .dump | sed -e '/^COMMIT;$/d' -e '/^ROLLBACK;/d'; echo 'COMMIT;'; }"
            " | sqlite3 %s.recovered\n"
            "  for f in %s %s-wal %s-shm; do [ -e $f ] && mv $f $f.damaged; done; mv %s.recovered %s\n"
            "and start it again (sqlite3 is in Debian's sqlite3 package). Recovered alerts keep their\n"
            "ids, so none is mailed twice for being recovered." % (d, name, name, name, name, name, name, name))


class Spool:
    def __init__(self, path, clock, max_pending=100000, min_free_mb=64, commit_batch=1000, readonly=False,
                 readings_keep_days=7, readings_max_rows=500000):
        self.path = path
        self.readings_keep = readings_keep_days * 86400.0
        self.readings_max = readings_max_rows
        self._readings_added = 0
        # readonly: for looking while the gateway runs (status, queue list): SQLite itself
        # refuses any write, and nothing is created, migrated or requeued
        self.readonly = readonly
        self.clock = clock
        self.max_pending = max_pending
        self.min_free = min_free_mb * 1024 * 1024
        self.commit_batch = commit_batch
        self._local = threading.local()
        self._q = queue.Queue()
        self._writer = None
        self._pending = 0
        self._checked = -1e18
        self._lock = threading.Lock()
        self.commits = 0        # transactions committed by the writer (for metrics/bench)
        self.write_error = None     # the writer's last error while writes fail, else None
        self.write_failures = 0     # batches that failed to commit (metrics)
        self.on_seen = None     # watchdog hook, called in the writer thread after commit

    # -- connections -------------------------------------------------------------------------
    def _db(self):
        c = getattr(self._local, "db", None)
        if c is None:
            if self.readonly:
                c = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(self.path), uri=True,
                                    isolation_level=None, timeout=30, check_same_thread=False)
                c.execute("PRAGMA busy_timeout=30000")
                self._local.db = c
                return c
            c = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=FULL")
            c.execute("PRAGMA busy_timeout=30000")
            self._local.db = c
        return c

    def open(self, requeue=True):
        # requeue: only the gateway itself, on start; an operator's command must not touch the
        # rows a running gateway has in flight
        if self.readonly:
            if not os.path.exists(self.path):
                raise FileNotFoundError("no spool at %s (the gateway has not run yet?)" % self.path)
            self._refresh_pending(self._db(), force=True)
            return self
        why = damage(self.path)
        if why is not None:
            raise SpoolDamaged("the spool %s is damaged: %s. The gateway does not start on it and has"
                               " not changed it.\n%s" % (self.path, why, recovery_hint(self.path)))
        db = self._db()
        db.executescript(SCHEMA)
        cols = [r[1] for r in db.execute("PRAGMA table_info(deliveries)")]
        if "cause" not in cols:
            db.execute("ALTER TABLE deliveries ADD COLUMN cause TEXT")     # a spool from before
        if requeue:
            # rows a crash left in flight were never confirmed upstream: send them again
            self.requeue_sending()
        self._refresh_pending(db, force=True)
        return self

    def requeue_sending(self):
        # only while no relay pass is in flight (on open, or by the relay loop itself)
        db = self._db()
        with self._tx(db):
            db.execute("UPDATE deliveries SET status='ready' WHERE status='sending'")

    def close(self):
        self.stop_writer()
        c = getattr(self._local, "db", None)
        if c is not None:
            c.close()
            self._local.db = None

    class _tx:
        def __init__(self, db):
            self.db = db

        def __enter__(self):
            self.db.execute("BEGIN IMMEDIATE")
            return self.db

        def __exit__(self, et, ev, tb):
            if et is None:
                try:
                    self.db.execute("COMMIT")
                    return False
                except sqlite3.Error:
                    # a failed COMMIT (I/O error) must not leave the connection inside a
                    # transaction, or every later BEGIN fails even after the disk recovers
                    self._rollback()
                    raise
            self._rollback()
            return False

        def _rollback(self):
            if self.db.in_transaction:
                try:
                    self.db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass

    # -- writing accepted alerts -------------------------------------------------------------
    def start_writer(self):
        if self._writer is None:
            self._writer = threading.Thread(target=self._run, name="spool-writer", daemon=True)
            self._writer.start()

    def writer_running(self):
        # None when no writer was started (tools, tests), else whether its thread runs
        if self._writer is None:
            return None
        return self._writer.is_alive()

    def restart_writer(self):
        # the supervisor's repair: what was queued is still in the queue and gets written
        self._writer = None
        self.start_writer()

    def stop_writer(self):
        # everything queued before the stop is still committed and answered
        if self._writer is not None:
            self._q.put(None)
            self._writer.join()
            self._writer = None

    def submit(self, op, callback):
        # callback(result) runs in the writer thread after the commit; result is "new", "dup",
        # "seen", "full" or "error"
        self._q.put((op, callback))

    def write(self, ops):
        # synchronous write on the caller's own connection (gateway-made alerts, tests)
        return self._apply(self._db(), ops)

    def _run(self):
        while True:
            item = self._q.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.commit_batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            try:
                results = self._apply(self._db(), [b[0] for b in batch])
                if self.write_error is not None:
                    log.warning("spool writes work again (after %d failed batches): %s",
                                self.write_failures, self.path)
                    self.write_error = None
            except sqlite3.Error as e:
                # every failed batch is counted, but the log says it once per episode: an
                # ingress that is redelivered the same alerts must not flood the log
                self.write_failures += 1
                if self.write_error is None:
                    log.error("spool write failed: %s (%s); alerts are refused, not acknowledged,"
                              " until it works again", e, self.path)
                self.write_error = str(e)
                # a full disk is "full" (SMTP 452, NAK spool-full), like the free-space check
                results = ["full" if disk_full(e) else "error"] * len(batch)
            for (op, cb), res in zip(batch, results):
                try:
                    cb(res)
                except Exception:  # a failing ingress callback must not stop the writer
                    pass
            if stop:
                return

    def _refresh_pending(self, db, force=False):
        now = self.clock.time()
        if not force and now - self._checked < 1.0:
            return
        self._checked = now
        n = db.execute("SELECT count(DISTINCT alert_id) FROM deliveries WHERE status IN ('ready','sending')"
                       ).fetchone()[0]
        with self._lock:
            self._pending = n
        try:
            self._disk_free = shutil.disk_usage(self.path).free
        except OSError:
            self._disk_free = None

    def is_full(self, extra=0):
        # extra: alerts added by the batch being written, not yet counted
        free = getattr(self, "_disk_free", None)
        return self._pending + extra >= self.max_pending or (free is not None and free < self.min_free)

    def _apply(self, db, ops):
        self._refresh_pending(db)
        results = []
        seen = []
        now = self.clock.time()
        plain = {}       # device -> latest plain sign of life in this batch (one row write each)
        added = 0
        rejected = 0
        settled = 0
        with self._tx(db):
            for op in ops:
                if isinstance(op, Settle):
                    settled += self._finish_in(db, op.outcomes, op.now)
                    results.append("settled")
                    continue
                if isinstance(op, Rejected):
                    db.execute("INSERT INTO rejected(at,source,origin,reason,size,raw) VALUES(?,?,?,?,?,?)",
                               (now, op.source, op.origin, op.reason, op.size, op.raw))
                    rejected += 1
                    results.append("rejected")
                    continue
                if isinstance(op, Readings):
                    self._readings(db, op)
                    results.append("readings")
                    continue
                if isinstance(op, Seen):
                    if op.status is None:
                        prev = plain.get(op.device)
                        if prev is None or op.at >= prev.at:
                            if prev is not None and prev.learn and not op.learn:
                                op = Seen(op.device, op.at, None, True)
                            plain[op.device] = op
                    else:
                        self._seen(db, op)
                    seen.append(op)
                    results.append("seen")
                    continue
                full = self.is_full(added)
                if full and db.execute("SELECT 1 FROM alerts WHERE id=?", (op.id,)).fetchone() is None:
                    results.append("full")
                    continue
                # a duplicate is answered "dup" (and acknowledged by the ingress) even when full
                cur = db.execute("INSERT OR IGNORE INTO alerts(id,device,severity,kind,subject,source,received,"
                                 "payload,raw,mail_from) VALUES(?,?,?,?,?,?,?,?,?,?)",
                                 (op.id, op.device, op.severity, op.kind, op.subject, op.source, now,
                                  op.payload, 1 if op.raw else 0, op.mail_from))
                if cur.rowcount != 1:
                    results.append("dup")
                    continue
                crit = 1 if op.severity == "critical" else 0
                db.executemany("INSERT OR IGNORE INTO deliveries(alert_id,rcpt,status,critical,attempts,next_at,"
                               "updated) VALUES(?,?,'ready',?,0,?,?)",
                               [(op.id, r, crit, now, now) for r in op.rcpts])
                if op.rcpts:
                    added += 1
                results.append("new")
            for op in plain.values():
                self._seen(db, op)
            if rejected:
                db.execute("DELETE FROM rejected WHERE n <= (SELECT max(n) FROM rejected) - ?",
                           (REJECTED_KEEP,))
        # counted only once committed: a failed batch adds nothing
        if added or settled:
            with self._lock:
                self._pending = max(0, self._pending + added - settled)
        self.commits += 1
        if seen and self.on_seen is not None:
            self.on_seen(seen)
        return results

    TRIM_EVERY = 500        # readings rows added between two checks of the bounds

    def _readings(self, db, op):
        vals = op.values
        if op.replay:
            last = dict(db.execute("SELECT name, value FROM readings_latest WHERE device=?", (op.device,)))
            if last and all(last.get(k) == v for k, v in vals.items()):
                return
        rows = [(op.device, k, op.at, v) for k, v in vals.items()]
        db.executemany("INSERT INTO readings(device,name,at,value) VALUES(?,?,?,?)", rows)
        db.executemany("INSERT INTO readings_latest(device,name,at,value) VALUES(?,?,?,?)"
                       " ON CONFLICT(device,name) DO UPDATE SET at=excluded.at, value=excluded.value"
                       " WHERE excluded.at >= readings_latest.at", rows)
        self._readings_added += len(vals)
        if self._readings_added >= self.TRIM_EVERY:
            self._readings_added = 0
            self.trim_readings_in(db, self.clock.time())

    def trim_readings(self, now):
        db = self._db()
        with self._tx(db):
            self.trim_readings_in(db, now)

    def trim_readings_in(self, db, now):
        db.execute("DELETE FROM readings WHERE at < ?", (now - self.readings_keep,))
        over = db.execute("SELECT count(*) FROM readings").fetchone()[0] - self.readings_max
        if over > 0:
            db.execute("DELETE FROM readings WHERE rowid IN (SELECT rowid FROM readings ORDER BY at LIMIT ?)",
                       (over,))

    def latest_readings(self):
        # device -> {name: (value, at)}
        out = {}
        try:
            rows = self._db().execute("SELECT device, name, value, at FROM readings_latest").fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" not in str(e):
                raise
            return out      # a spool no gateway of this version has opened yet (read-only look)
        for dev, name, value, at in rows:
            out.setdefault(dev, {})[name] = (value, at)
        return out

    def reading_series(self, device, name, since):
        return self._db().execute("SELECT at, value FROM readings WHERE device=? AND name=? AND at >= ?"
                                  " ORDER BY at", (device, name, since)).fetchall()

    def recent_alerts(self, limit=50, device=None, kinds_excluded=(), deliveries=True):
        # newest first: the alert's columns, its record (payload) and (deliveries) its deliveries
        db = self._db()
        q = "SELECT id, device, severity, kind, subject, source, received, payload, raw FROM alerts"
        args = []
        where = []
        if device is not None:
            where.append("device=?")
            args.append(device)
        if kinds_excluded:
            where.append("kind NOT IN (%s)" % ",".join("?" * len(kinds_excluded)))
            args.extend(kinds_excluded)
        if where:
            q += " WHERE " + " AND ".join(where)
        # rows go in as they are received: the rowid order is the received order, and walking it
        # backwards needs no index (an index on alerts would slow every ingress commit)
        q += " ORDER BY rowid DESC LIMIT ?"
        keys = ("id", "device", "severity", "kind", "subject", "source", "received", "payload", "raw")
        out = [dict(zip(keys, r)) for r in db.execute(q, args + [limit])]
        for a in (out if deliveries else ()):
            a["deliveries"] = [dict(zip(("rcpt", "status", "attempts", "next_at", "last_error", "updated"), d))
                               for d in db.execute("SELECT rcpt, status, attempts, next_at, last_error, updated"
                                                   " FROM deliveries WHERE alert_id=?", (a["id"],))]
        return out

    def _seen(self, db, op):
        row = db.execute("SELECT beat, gap FROM boards WHERE device=?", (op.device,)).fetchone()
        if row is None:
            db.execute("INSERT INTO boards(device,last_seen,beat,status,changed) VALUES(?,?,?,?,?)",
                       (op.device, op.at, op.at if op.learn else None, op.status, op.at))
            return
        if op.status == "offline":
            # a Last Will is not a sign of life
            db.execute("UPDATE boards SET status='offline' WHERE device=?", (op.device,))
            return
        beat, gap = row
        if op.learn:
            from .watchdog import learn_rhythm     # the watchdog's rule; the spool stores it
            beat, gap = learn_rhythm(beat, gap, op.at)
        db.execute("UPDATE boards SET last_seen=max(last_seen,?), beat=?, gap=?, status=coalesce(?,status)"
                   " WHERE device=?", (op.at, beat, gap, op.status, op.device))

    # -- the relay's side --------------------------------------------------------------------
    def due(self, now, limit):
        rows = self._db().execute(
            "SELECT " + ROW_COLS + " FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
            " WHERE d.status='ready' AND d.next_at <= ? AND d.via IS NULL"
            " ORDER BY d.critical DESC, d.next_at LIMIT ?",
            (now, limit)).fetchall()
        return [dict(zip(ROW_KEYS, r)) for r in rows]

    def ready_count_by_rcpt(self, now):
        # messages submitted whole (raw) are relayed as they are, never folded into a digest
        return dict(self._db().execute(
            "SELECT d.rcpt, count(*) FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
            " WHERE d.status='ready' AND d.next_at <= ? AND d.critical=0 AND a.raw=0 AND d.via IS NULL"
            " GROUP BY d.rcpt", (now,)).fetchall())

    def due_for(self, rcpt, now, limit):
        rows = self._db().execute(
            "SELECT " + ROW_COLS + " FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
            " WHERE d.status='ready' AND d.next_at <= ? AND d.rcpt=? AND d.critical=0 AND a.raw=0"
            " AND d.via IS NULL ORDER BY a.received LIMIT ?", (now, rcpt, limit)).fetchall()
        return [dict(zip(ROW_KEYS, r)) for r in rows]

    def delivered(self, alert_id, rcpt):
        # True once the delivery went to the upstream (or is going): a resolved alert whose
        # firing went out is never held back (relay rate limit)
        r = self._db().execute("SELECT status FROM deliveries WHERE alert_id=? AND rcpt=?",
                               (alert_id, rcpt)).fetchone()
        return r is not None and r[0] in ("done", "sending")

    def next_due(self):
        r = self._db().execute("SELECT min(next_at) FROM deliveries WHERE status='ready'").fetchone()
        return r[0]

    def pending_digests(self, now):
        # digests recorded by an earlier attempt and due again: -> [(mid, rcpt, message, rows)];
        # every member still waiting goes with it, so the digest stays one unit
        db = self._db()
        mids = [r[0] for r in db.execute(
            "SELECT DISTINCT via FROM deliveries INDEXED BY deliveries_via WHERE via IS NOT NULL"
            " AND status='ready' AND next_at <= ?",
            (now,))]
        out = []
        for mid in mids:
            d = db.execute("SELECT rcpt, message FROM digests WHERE mid=?", (mid,)).fetchone()
            rows = [dict(zip(ROW_KEYS, r)) for r in db.execute(
                "SELECT " + ROW_COLS + " FROM deliveries d JOIN alerts a ON a.id = d.alert_id"
                " WHERE d.via=? AND d.status='ready' ORDER BY a.received", (mid,))]
            if d is None:
                # its record is gone (purged by hand): the members go out on their own again
                with self._tx(db):
                    db.execute("UPDATE deliveries SET via=NULL WHERE via=? AND status='ready'", (mid,))
                continue
            out.append((mid, d[0], bytes(d[1]), rows))
        return out

    def recent_sends(self, since):
        # rcpt -> send times since `since`, oldest first (the relay's rate window)
        out = {}
        for r, at in self._db().execute("SELECT rcpt, at FROM sends WHERE at >= ? ORDER BY at", (since,)):
            out.setdefault(r, []).append(at)
        return out

    def set_status(self, keys, status, now, sends=(), digests=(), window=3600.0):
        # one commit for what the relay is about to send: the rows go "sending", and with them
        # the send times of the rate window and any digest composed now (so no extra fsync)
        db = self._db()
        with self._tx(db):
            for mid, rcpt, message, members in digests:
                db.execute("INSERT OR REPLACE INTO digests(mid,rcpt,created,message) VALUES(?,?,?,?)",
                           (mid, rcpt, now, message))
                db.executemany("UPDATE deliveries SET via=? WHERE alert_id=? AND rcpt=?",
                               [(mid, a, r) for a, r in members])
            if sends:
                db.executemany("INSERT INTO sends(rcpt,at) VALUES(?,?)", list(sends))
                db.execute("DELETE FROM sends WHERE at < ?", (now - window,))
            db.executemany("UPDATE deliveries SET status=?, updated=? WHERE alert_id=? AND rcpt=?",
                           [(status, now, a, r) for a, r in keys])

    def finish(self, outcomes, now):
        # outcomes: [Outcome], committed now on the caller's connection
        db = self._db()
        with self._tx(db):
            left = self._finish_in(db, outcomes, now)
        with self._lock:
            self._pending = max(0, self._pending - left)

    def settle(self, outcomes, now):
        # outcomes made durable before this returns: in the writer's next group commit when it
        # runs (many messages, ingress included, share one fsync), else on this connection
        w = self._writer
        if w is None or not w.is_alive():
            return self.finish(outcomes, now)
        done = threading.Event()
        box = []

        def answered(res):
            box.append(res)
            done.set()
        self.submit(Settle(outcomes, now), answered)
        while not done.wait(1.0):
            if not w.is_alive():
                # stopped (or gone) before our turn: write it ourselves (the same values twice
                # are harmless; no dead letter is in this case pending in the queue too)
                return self.finish(outcomes, now)
        if box[0] == "error":
            raise sqlite3.OperationalError("spool write failed: %s" % self.write_error)

    def _finish_in(self, db, outcomes, now):
        # -> alerts that have no delivery left pending
        gone = set()
        for o in outcomes:
            db.execute("UPDATE deliveries SET status=?, attempts=?, next_at=?, last_error=?, updated=?,"
                       " via=coalesce(?, via), cause=? WHERE alert_id=? AND rcpt=?",
                       (o.status, o.attempts, o.next_at, o.error, now, o.via, o.cause, o.alert_id, o.rcpt))
            if o.status == "dead":
                db.execute("INSERT INTO dead_letter(alert_id,rcpt,code,reply,at) VALUES(?,?,?,?,?)",
                           (o.alert_id, o.rcpt, o.code, o.error, now))
            if o.status in ("done", "dead"):
                gone.add(o.alert_id)
        left = 0
        for a in gone:
            if not db.execute("SELECT 1 FROM deliveries WHERE alert_id=? AND status IN ('ready','sending')",
                              (a,)).fetchone():
                left += 1
        return left

    def release(self, cause, before):
        # the upstream answered again at `before`: every delivery that waits on a failure of
        # that cause from before then is due now, in the order the alerts came (next_at = when
        # it was received, as if never tried) -> count
        db = self._db()
        with self._tx(db):
            n = db.execute("UPDATE deliveries SET next_at=min(next_at, (SELECT received FROM alerts a"
                           " WHERE a.id=deliveries.alert_id)), cause=NULL WHERE status='ready' AND cause=?"
                           " AND updated < ?", (cause, before)).rowcount
        return n

    def waiting_on(self, cause):
        r = self._db().execute("SELECT count(*) FROM deliveries WHERE status='ready' AND cause=?",
                               (cause,)).fetchone()
        return r[0]

    # -- state and inspection (the operator's commands are in admin.py) ----------------------
    def get_state(self, key, default=None):
        r = self._db().execute("SELECT value FROM state WHERE key=?", (key,)).fetchone()
        return json.loads(r[0]) if r else default

    def set_state(self, key, value):
        db = self._db()
        with self._tx(db):
            db.execute("INSERT OR REPLACE INTO state(key,value) VALUES(?,?)", (key, json.dumps(value)))

    def counts(self):
        c = {"ready": 0, "sending": 0, "done": 0, "dead": 0}
        for st, n in self._db().execute("SELECT status, count(*) FROM deliveries GROUP BY status"):
            c[st] = n
        c["alerts"] = self._db().execute("SELECT count(*) FROM alerts").fetchone()[0]
        return c

    def pending(self):
        return self._pending

    def oldest_pending(self):
        r = self._db().execute("SELECT min(a.received) FROM deliveries d JOIN alerts a ON a.id=d.alert_id"
                               " WHERE d.status IN ('ready','sending')").fetchone()
        return r[0]

    def list(self, status=None, limit=100):
        # status: one status, a tuple of them, or None for all
        q = ("SELECT d.alert_id, d.rcpt, d.status, d.attempts, d.next_at, d.last_error, a.device, a.severity,"
             " a.subject, a.received, d.via, a.source FROM deliveries d JOIN alerts a ON a.id=d.alert_id")
        args = ()
        if status:
            args = (status,) if isinstance(status, str) else tuple(status)
            q += " WHERE d.status IN (%s)" % ",".join("?" * len(args))
        q += " ORDER BY a.received LIMIT ?"
        keys = ("id", "rcpt", "status", "attempts", "next_at", "last_error", "device", "severity",
                "subject", "received", "via", "source")
        return [dict(zip(keys, r)) for r in self._db().execute(q, args + (limit,))]

    def show(self, alert_id):
        db = self._db()
        r = db.execute("SELECT id, device, severity, kind, subject, source, received, payload, raw, mail_from"
                       " FROM alerts WHERE id=?", (alert_id,)).fetchone()
        if r is None:
            return None
        keys = ("id", "device", "severity", "kind", "subject", "source", "received", "payload", "raw",
                "mail_from")
        out = dict(zip(keys, r))
        out["deliveries"] = [dict(zip(("rcpt", "status", "attempts", "next_at", "last_error", "via", "updated"), d))
                             for d in db.execute("SELECT rcpt, status, attempts, next_at, last_error, via, updated"
                                                 " FROM deliveries WHERE alert_id=?", (alert_id,))]
        out["dead_letter"] = [dict(zip(("rcpt", "code", "reply", "at"), d))
                              for d in db.execute("SELECT rcpt, code, reply, at FROM dead_letter"
                                                  " WHERE alert_id=?", (alert_id,))]
        return out

    def rejected(self, limit=100):
        keys = ("n", "at", "source", "origin", "reason", "size", "raw")
        try:
            rows = self._db().execute(
                "SELECT n, at, source, origin, reason, size, raw FROM rejected ORDER BY n DESC LIMIT ?",
                (limit,)).fetchall()
        except sqlite3.OperationalError as e:
            if "no such table" not in str(e):
                raise
            return []       # a spool no gateway of this version has opened yet (read-only look)
        return [dict(zip(keys, r)) for r in rows]

    def dead(self, limit=100):
        keys = ("id", "rcpt", "code", "reply", "at")
        return [dict(zip(keys, r)) for r in self._db().execute(
            "SELECT alert_id, rcpt, code, reply, at FROM dead_letter ORDER BY at LIMIT ?", (limit,))]

    def compact(self):
        # after a purge: the write-ahead log folded into the file and cut back, and the file
        # itself rewritten smaller (VACUUM) when more than half of it is free pages, as after a
        # big backlog drained; otherwise SQLite reuses the free pages and the file stays at its
        # high-water mark. -> (bytes before, bytes after), WAL included
        db = self._db()
        before = self.file_bytes()
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        free = db.execute("PRAGMA freelist_count").fetchone()[0]
        if pages > 2048 and free * 2 > pages:
            t = self.clock.time()
            db.execute("VACUUM")
            log.info("spool compacted: %d of %d pages were free (%.1f s)", free, pages, self.clock.time() - t)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return before, self.file_bytes()

    def file_bytes(self):
        n = 0
        for p in (self.path, self.path + "-wal"):
            try:
                n += os.path.getsize(p)
            except OSError:
                pass
        return n

    def purge_done(self, older_than):
        # housekeeping (spool.keep_done_days): finished alerts received before older_than go,
        # and with them their ids stop deduplicating; the operator's purge is admin.purge
        db = self._db()
        with self._tx(db):
            n = self.purge_done_in(db, older_than)
        self._refresh_pending(db, force=True)
        return n

    def purge_done_in(self, db, older_than):
        ids = [r[0] for r in db.execute(
            "SELECT id FROM alerts a WHERE received < ? AND NOT EXISTS (SELECT 1 FROM deliveries d"
            " WHERE d.alert_id=a.id AND d.status IN ('ready','sending'))", (older_than,))]
        for i in ids:
            db.execute("DELETE FROM deliveries WHERE alert_id=?", (i,))
            db.execute("DELETE FROM alerts WHERE id=?", (i,))
        db.execute("DELETE FROM sends WHERE at < ?", (self.clock.time() - 3600.0,))
        # a digest no delivery points to any more is history
        db.execute("DELETE FROM digests WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.via=digests.mid)")
        return len(ids)

    def transaction(self):
        # (db, context manager) for a write made by an operator's command (admin.py)
        db = self._db()
        return db, self._tx(db)

    def refresh(self):
        # recount what is pending after an operator's command changed it
        self._refresh_pending(self._db(), force=True)

    def boards(self):
        keys = ("device", "last_seen", "gap", "status", "silent", "changed", "notices", "muted")
        return [dict(zip(keys, r)) for r in self._db().execute(
            "SELECT device, last_seen, gap, status, silent, changed, notices, muted FROM boards ORDER BY device")]

    def board_paths(self):
        # device -> the ingress path (mqtt, serial, smtp) of its latest alert
        # (the newest row is the one with the highest rowid: one pass, where a subquery per row
        # took a second for 2,000 alerts on the status page)
        return dict((d, s) for d, s, _ in self._db().execute(
            "SELECT device, source, max(rowid) FROM alerts GROUP BY device"))

    def set_board(self, device, silent, changed, notices, muted):
        db = self._db()
        with self._tx(db):
            db.execute("UPDATE boards SET silent=?, changed=?, notices=?, muted=? WHERE device=?",
                       (silent, changed, notices, muted, device))
