# Shared bits for the gateway tests: configs, alert records, polling with a timeout.
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = os.path.join(ROOT, "host")
if HOST not in sys.path:
    sys.path.insert(0, HOST)

from outpost_gateway import config  # noqa: E402
from peers.ports import free_port  # noqa: E402,F401 (the gateway tests import it from here)


def base_data(tmp_path, **sections):
    # a minimal valid config as TOML-shaped data; sections override whole keys
    data = {
        "gateway": {"state_dir": str(tmp_path / "state"), "log_level": "debug"},
        "mqtt": {"enabled": False},
        "relay": {"host": "127.0.0.1", "port": 2525, "mode": "plain", "sender": "outpost@example.org",
                  "backoff_base": 10.0, "jitter": 0.0},
        "routing": {"owner": "owner@example.org", "default": ["ops@example.org"]},
        "http": {"enabled": False},
    }
    for name, sect in sections.items():
        data.setdefault(name, {}).update(sect)
    return data


def make_cfg(tmp_path, **sections):
    return config.merge(base_data(tmp_path, **sections), env={})


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (json.dumps(k), toml_value(x)) for k, x in v.items()) + "}"
    raise TypeError(v)


def write_toml(path, data):
    lines = []
    for sect, keys in data.items():
        lines.append("[%s]" % sect)
        for k, v in keys.items():
            lines.append("%s = %s" % (k, toml_value(v)))
        lines.append("")
    path.write_text("\n".join(lines))
    return str(path)


def record(device="dev1", seq=1, severity="warning", boot=1, **extra):
    r = {"v": 1, "id": "%s-%d-%d" % (device, boot, seq), "device": device, "severity": severity,
         "kind": "threshold", "subject": "temperature high on %s #%d" % (device, seq), "ts": 1700000000 + seq}
    r.update(extra)
    return r


def record_bytes(**kw):
    return json.dumps(record(**kw)).encode()


def wait_for(pred, timeout=20.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


@contextlib.contextmanager
def unwritable(path):
    # makes the spool's write-ahead log refuse writes for real: `chattr +i` (immutable), which
    # even root cannot write through (chmod does not stop root, nor writes through open files).
    # Every write the gateway then commits fails in the kernel (EPERM), as on a file system
    # remounted read-only after disk errors; `chattr -i` clears it.
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("making the spool unwritable needs root and chattr")
    r = subprocess.run(["chattr", "+i", path], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip("chattr +i not supported here: " + r.stderr.strip())
    try:
        try:
            open(path, "ab").close()
            pytest.skip("chattr +i did not make the file unwritable here")
        except PermissionError:
            pass
        yield
    finally:
        subprocess.run(["chattr", "-i", path], check=True)
