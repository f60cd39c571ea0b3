# `status` and `queue` never change the spool of a running gateway: looking opens it read-only,
# steering (retry, purge) writes only what it is asked to and never requeues the rows the
# gateway has in flight ("sending").
import hashlib
import io
import os

from gateway_helpers import base_data, write_toml
from outpost_gateway import cli, config
from outpost_gateway.spool import Outcome
from outpost_gateway.clock import SystemClock
from outpost_gateway.compose import gateway_alert
from outpost_gateway.service import open_spool


def run(argv):
    out = io.StringIO()
    rc = cli.main(argv, out=out)
    return rc, out.getvalue()


def digest(path):
    # the spool's bytes on disk: the database and its write-ahead log
    h = hashlib.sha256()
    for p in (path, path + "-wal"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def test_looking_and_steering_leave_in_flight_rows_alone(tmp_path):
    conf = write_toml(tmp_path / "gw.toml", base_data(tmp_path))
    cfg = config.load(conf)
    path = config.spool_path(cfg)
    # the running gateway: its spool open, a relay pass in flight (rows "sending")
    gw = open_spool(cfg, SystemClock())
    now = SystemClock().time()
    gw.write([gateway_alert("a-1-%d" % i, "threshold", "warning", "n%d" % i, "b", ["x@example.org"], now)
              for i in range(3)])
    gw.set_status([("a-1-0", "x@example.org"), ("a-1-1", "x@example.org")], "sending", now)
    gw.finish([Outcome("a-1-2", "x@example.org", "dead", 1, now, "550 no", 550, None)], now)
    before = digest(path)
    try:
        for argv in (["status"], ["status", "--json"], ["queue", "list"], ["queue", "list", "--status", "sending"],
                     ["queue", "show", "a-1-0"], ["queue", "dead"]):
            rc, out = run(argv + ["--config", conf])
            assert rc == 0, (argv, out)
        rc, out = run(["queue", "list", "--status", "sending", "--config", conf])
        assert "2 deliveries" in out
        assert digest(path) == before          # not one byte written by looking
        # steering one alert touches that alert only
        rc, out = run(["queue", "retry", "a-1-2", "--config", conf])
        assert rc == 0 and out.startswith("1 deliveries")
        c = gw.counts()
        assert (c["sending"], c["ready"], c["dead"]) == (2, 1, 0)
        # retrying an alert in flight is refused: the gateway's pass decides its outcome
        assert run(["queue", "retry", "a-1-0", "--config", conf])[0] == 1
        assert gw.counts()["sending"] == 2
        # the gateway's pass ends as it would have: its rows are still its own
        gw.finish([Outcome("a-1-0", "x@example.org", "done", 1, now, None, 250, None),
                   Outcome("a-1-1", "x@example.org", "done", 1, now, None, 250, None)], now)
        assert gw.counts()["done"] == 2
    finally:
        gw.close()


def test_status_without_a_spool_says_so_and_creates_nothing(tmp_path, capsys):
    conf = write_toml(tmp_path / "gw.toml", base_data(tmp_path))
    rc, out = run(["status", "--config", conf])
    assert rc == 1
    assert "no spool at" in capsys.readouterr().err
    assert not os.path.exists(str(tmp_path / "state"))


def test_a_read_only_spool_refuses_writes(tmp_path):
    cfg = config.load(write_toml(tmp_path / "gw.toml", base_data(tmp_path)))
    open_spool(cfg, SystemClock()).close()
    ro = open_spool(cfg, SystemClock(), readonly=True, requeue=False)
    try:
        import sqlite3
        try:
            ro.set_state("x", 1)
        except sqlite3.OperationalError as e:
            assert "readonly" in str(e)
        else:
            raise AssertionError("a read-only spool accepted a write")
    finally:
        ro.close()
