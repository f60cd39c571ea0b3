# A spool file that is damaged (its header overwritten, truncated, a page of its tables
# overwritten, emptied while its journal holds data): the gateway, started as users start it,
# refuses with a message that says what is wrong and how to recover, and never writes to the
# file. The recovery command it prints is run as written and gives back the alerts.
import hashlib
import os
import re
import subprocess
import sys

import pytest

from gateway_helpers import HOST, ROOT, base_data, write_toml
from relay_crash import fill


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def spool_with_alerts(tmp_path, n=300):
    data = base_data(tmp_path, relay={"enabled": False}, watchdog={"enabled": False})
    conf = write_toml(tmp_path / "gateway.toml", data)
    path = str(tmp_path / "state" / "spool.db")
    fill(path, n)
    import sqlite3
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")     # everything in the main file
    db.close()
    return conf, path


def run_gateway(conf):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HOST, os.path.join(ROOT, "lib")]))
    return subprocess.run([sys.executable, "-m", "outpost_gateway", "run", "--config", conf],
                          env=env, capture_output=True, text=True, timeout=60)


def overwrite(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def damage_header(path):
    overwrite(path, 0, b"\x00garbage garbage")


def truncate(path):
    size = os.path.getsize(path)
    os.truncate(path, size // 2)


def truncate_odd(path):
    os.truncate(path, os.path.getsize(path) - 100)


def damage_page(path):
    # the last page (a table's leaf) filled with noise: the header is fine, the tree is not
    size = os.path.getsize(path)
    overwrite(path, size - 4096, os.urandom(4096))


def emptied(path):
    with open(path + "-wal", "wb") as f:
        f.write(b"x" * 4096)
    os.truncate(path, 0)


@pytest.mark.parametrize("harm,why", [(damage_header, "not an SQLite database"),
                                      (truncate, "truncated"), (truncate_odd, "truncated"),
                                      (damage_page, "check of it fails|cannot read it"),
                                      (emptied, "empty")])
def test_damaged_spool_refused_never_overwritten(tmp_path, harm, why):
    conf, path = spool_with_alerts(tmp_path)
    harm(path)
    before = digest(path)
    r = run_gateway(conf)
    assert r.returncode == 1, r.stderr
    assert "is damaged" in r.stderr and re.search(why, r.stderr), r.stderr
    assert "sqlite3 spool.db .dump" in r.stderr and "Traceback" not in r.stderr
    assert digest(path) == before            # not one byte written


def test_recovery_command_as_printed_gives_the_alerts_back(tmp_path):
    conf, path = spool_with_alerts(tmp_path, n=300)
    truncate(path)
    r = run_gateway(conf)
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.strip().startswith("cd "))
    cmd = lines[i].strip() + "\n" + lines[i + 1].strip()
    subprocess.run(["sh", "-c", cmd], check=True, timeout=60)
    assert os.path.exists(path + ".damaged")
    from outpost_gateway.clock import SystemClock
    from outpost_gateway.spool import Spool, damage
    assert damage(path) is None
    sp = Spool(path, SystemClock()).open()
    try:
        n = sp.counts()["alerts"]
    finally:
        sp.close()
    assert 0 < n < 300          # what the cut left readable (the rest was in the lost half)
