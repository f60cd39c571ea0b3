"""tools/deploy.py (`make deploy`) without a board: every check fails before anything is
compiled or copied, and says what is wrong; the copy shows progress. The board's filesystem is
emulated by a stand-in for mpremote (a folder), the only hardware this needs."""
import os
import pty
import stat
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import preflight  # noqa: E402

DEPLOY = os.path.join(ROOT, "tools", "deploy.py")

STUB = r'''#!%s
# mpremote stand-in: "connect PORT" then commands joined by "+", on a folder as the board's flash
import os, shutil, sys
board = os.environ["STUB_BOARD"]
args = sys.argv[1:]
assert args[0] == "connect"
port = args[1]
cmds, cur = [], []
for a in args[2:]:
    if a == "+":
        cmds.append(cur); cur = []
    else:
        cur.append(a)
cmds.append(cur)
with open(os.environ["STUB_LOG"], "a") as log:
    for c in cmds:
        log.write(port + " " + c[0] + " " + (c[1] if len(c) > 1 and c[0] == "cp" else "") + "\n")
        if c[0] == "exec":
            here = os.getcwd(); os.chdir(board)
            try:
                exec(c[1], {})
            finally:
                os.chdir(here)
        elif c[0] == "cp":
            shutil.copy(c[1], os.path.join(board, c[2].lstrip(":")))
        elif c[0] == "reset":
            pass
        else:
            sys.exit("stub: unknown command %%r" %% c)
'''


@pytest.fixture
def tty():
    # a real character device standing for the board's USB serial port
    master, slave = pty.openpty()
    yield os.ttyname(slave)
    os.close(master)
    os.close(slave)


@pytest.fixture
def stub(tmp_path):
    path = tmp_path / "mpremote"
    path.write_text(STUB % sys.executable)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    board = tmp_path / "board"
    board.mkdir()
    return {"exe": str(path), "board": board, "log": tmp_path / "stub.log"}


def ca_pem():
    import trustme
    return trustme.CA().cert_pem.bytes().decode()


def write_config(folder, cfg):
    path = folder / "config_local.py"
    path.write_text("CONFIG = " + repr(cfg) + "\n")
    return str(path)


def good_config():
    return {"device": "shed", "wifi": {"ssid": "home-net", "password": "correct horse"},
            "smtp": {"provider": "gmail", "username": "shed@mydomain.net", "password": "abcd efgh",
                     "ca": "ca.pem"},
            "mail": {"sender": "shed@mydomain.net", "to": ["ops@mydomain.net"]},
            "sensors": [{"name": "door", "type": "digital", "pin": 27}]}


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, DEPLOY] + list(args), capture_output=True, text=True,
                          timeout=300, env=e, cwd=ROOT)


def test_missing_port_is_named_before_anything_is_compiled(tmp_path):
    out = tmp_path / "out"
    # the config is missing too: the port is checked first, and nothing is laid out
    r = run("--board", "esp32_devkitc", "--port", "/dev/ttyNOPE9", "--config",
            str(tmp_path / "nope.py"), "--out", str(out))
    assert r.returncode == 2
    assert "PORT=/dev/ttyNOPE9: no such device" in r.stderr and "serial ports now:" in r.stderr
    assert "in use by another program" not in r.stderr
    assert not out.exists()


def test_no_port_given():
    r = run("--board", "esp32_devkitc", "--port", "")
    assert r.returncode == 2 and "PORT= is required" in r.stderr


def test_unknown_board_is_listed(tmp_path):
    r = run("--board", "esp33", "--port", "/dev/null")
    assert r.returncode == 2 and "BOARD=esp33: not a board" in r.stderr and "esp32_devkitc" in r.stderr


def test_the_example_config_is_refused_naming_each_placeholder(tmp_path, tty):
    out = tmp_path / "out"
    r = run("--board", "esp32_devkitc", "--port", tty, "--config",
            os.path.join(ROOT, "firmware", "config_example.py"), "--out", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    for key in ("wifi.ssid", "wifi.password", "smtp.host = 'smtp.example.org'", "smtp.username",
                "smtp.password", "smtp.ca = '...paste the PEM here...'", "mail.sender", "mail.to",
                "mqtt.host = '192.168.1.20'"):
        assert key in r.stderr, key
    assert "app-password" not in r.stderr and "wifi-password" not in r.stderr   # no secrets shown
    assert not out.exists()


def test_placeholders_by_rule():
    assert preflight.placeholder_problems({"smtp": {"host": "mail.mydomain.net"}}) == []
    p = preflight.placeholder_problems({"smtp": {"host": "mx.example.com"},
                                        "mail": {"to": ["a@mydomain.net", "b@example.net"]}})
    assert len(p) == 2 and p[0].startswith("smtp.host") and p[1].startswith("mail.to")


def test_a_bad_config_is_named_before_copying(tmp_path, tty, stub):
    cfg = good_config()
    cfg["smtp"]["usernme"] = "x"
    (tmp_path / "ca.pem").write_text(ca_pem())
    r = run("--board", "esp32_devkitc", "--port", tty, "--config", write_config(tmp_path, cfg),
            "--out", str(tmp_path / "out"), "--mpremote", stub["exe"],
            env={"STUB_BOARD": str(stub["board"]), "STUB_LOG": str(stub["log"])})
    assert r.returncode == 2
    assert "smtp.usernme: unknown key, did you mean smtp.username?" in r.stderr
    assert not stub["log"].exists()


def test_copy_shows_progress_and_lays_out_the_board(tmp_path, tty, stub):
    pem = ca_pem()
    (tmp_path / "ca.pem").write_text(pem)
    r = run("--board", "esp32_devkitc", "--port", tty, "--config",
            write_config(tmp_path, good_config()), "--out", str(tmp_path / "out"),
            "--mpremote", stub["exe"],
            env={"STUB_BOARD": str(stub["board"]), "STUB_LOG": str(stub["log"])})
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    progress = [l for l in lines if l.startswith("deploy: [")]
    n = int(lines[[i for i, l in enumerate(lines) if "copying" in l][0]].split()[2])
    assert len(progress) == (n + 7) // 8 and progress[-1].startswith("deploy: [%3d/%d]" % (n, n))
    board = stub["board"]
    for f in ("boot.py", "main.py", "board.mpy", "config.json", "ca.pem", "lib/outpost/app.mpy",
              "lib/usmtp/core.mpy", "lib/outpost/chart.mpy"):
        assert (board / f).exists(), f
    import json
    cfg = json.loads((board / "config.json").read_text())
    # the provider filled in the server; the CA file's PEM went into the compact config
    assert cfg["smtp"]["host"] == "smtp.gmail.com" and cfg["smtp"]["port"] == 465
    assert cfg["smtp"]["mode"] == "tls" and "BEGIN CERTIFICATE" in cfg["smtp"]["ca"]
    assert (board / "ca.pem").read_text() == pem
    log = stub["log"].read_text().splitlines()
    assert log[0].split()[1] == "exec" and log[-1].split()[1] == "reset"
    assert sum(1 for l in log if " cp " in l) == n
    assert "deploy: done" in r.stdout


def test_make_deploy_names_a_missing_port_before_compiling(tmp_path):
    r = subprocess.run(["make", "-s", "deploy", "BOARD=esp32_devkitc", "PORT=/dev/ttyNOPE9"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "PORT=/dev/ttyNOPE9: no such device" in r.stdout + r.stderr
    assert "deploy: checking" not in r.stdout   # printed before compiling: never reached


def test_mpremote_shortcuts_resolve():
    assert preflight.resolve_port("u0") == "/dev/ttyUSB0"
    assert preflight.resolve_port("a1") == "/dev/ttyACM1"
    assert preflight.resolve_port("/dev/ttyS3") == "/dev/ttyS3"
