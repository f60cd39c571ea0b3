# make demo end to end: emulated boards -> (direct SMTP | MQTT -> gateway) -> the catcher.
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_make_demo_delivers_every_alert_once():
    env = dict(os.environ, KEEP="")
    # only what `make demo` installs may be imported, by the demo or any process it starts
    env["PYTHONPATH"] = os.path.join(os.path.dirname(os.path.abspath(__file__)), "only_demo_deps")
    r = subprocess.run([sys.executable, os.path.join(ROOT, "demo", "run.py")],
                       capture_output=True, text=True, timeout=240, cwd=ROOT, env=env)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr[-3000:]
    assert "is a test package" not in out + r.stderr
    # the temporary folder (it held the relay password) is gone, and the demo said so
    gone = re.search(r"== removed the demo's files \((.+)\); KEEP=1 keeps them", out)
    assert gone and not os.path.exists(gone.group(1)), out[-500:]
    # the story is told from the events: each alert at the time the board made it
    made = dict(re.findall(r"greenhouse +\[\d{4}-\d\d-\d\dT(\d\d:\d\d):\d\dZ\] alert (greenhouse-1-\d+)", out))
    told = dict(re.findall(r"^   (\d\d:\d\d) (greenhouse-1-\d+): ", out, re.M))
    assert len(made) >= 3 and told == made, (made, told)
    assert re.search(r"^   \d\d:\d\d greenhouse-1-1 went out via smtp$", out, re.M)
    assert re.search(r"^   \d\d:\d\d freezer-1-1 went out via mqtt$", out, re.M)
    # stage 1: the trace shows the dialogue with the credentials redacted
    assert "C: STARTTLS" in out and "C: AUTH PLAIN <redacted>" in out
    assert "demo-password" not in out and "greenhouse-password" not in out
    assert "gateway-password" not in out
    # stage 2: each alert once, each by the path the story says
    inbox = out.split("== the owner's inbox", 1)[1]
    assert inbox.count("<greenhouse-1-1@outpost.example>") == 1
    assert inbox.count("<freezer-1-1@outpost.example>") == 1
    assert "attachments: greenhouse-" in inbox
    lines = inbox.splitlines()
    relayed = [l for l in lines if "relayed by the gateway" in l]
    direct = [l for l in lines if "direct from the board" in l]
    # the greenhouse's warm spell is one episode: its alert, then the all-clear when it cools
    assert len(direct) == 3 and len(relayed) == 3
    assert any(": air.temperature back to " in l and "(worst " in l for l in direct)
    assert any("is silent" in l for l in relayed) and any("is back" in l for l in relayed)
    assert "done: every alert arrived once" in out


def test_make_demo_installs_the_demo_requirements_only(tmp_path):
    # what make would run in a fresh clone: requirements-demo.txt, never the test lanes' file
    r = subprocess.run(["make", "-n", "-C", ROOT, "demo", "VENV=" + str(tmp_path / "venv")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "pip install -r requirements-demo.txt" in r.stdout
    assert "requirements-test.txt" not in r.stdout and "pip install -e" not in r.stdout
    demo = [l.split("==")[0] for l in open(os.path.join(ROOT, "requirements-demo.txt"))
            if "==" in l and not l.startswith("#")]
    test = open(os.path.join(ROOT, "requirements-test.txt")).read()
    # the same pins as the test lanes, so the demo runs what the tests ran
    for line in open(os.path.join(ROOT, "requirements-demo.txt")):
        if "==" in line and not line.startswith("#") and "python_version" not in line:
            assert line.strip() in test.splitlines(), line
    assert "aiosmtpd" in demo and "trustme" not in demo   # no cryptography wheel for armv7l


def test_keep_1_keeps_the_folder_and_says_where(tmp_path, monkeypatch):
    sys.path.insert(0, os.path.join(ROOT, "demo"))
    import system
    monkeypatch.setattr(system, "story", lambda folder: 0)
    monkeypatch.setattr(system.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "d"))
    (tmp_path / "d").mkdir()
    import contextlib
    import io
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        system.main(keep=True)
    assert (tmp_path / "d").is_dir()
    assert "KEEP=1: the demo's files (configs, the relay password" in buf.getvalue()
    assert str(tmp_path / "d") in buf.getvalue()
