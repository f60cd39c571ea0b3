# make demo end to end: emulated boards -> (direct SMTP | MQTT -> gateway) -> the catcher.
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_make_demo_delivers_every_alert_once():
    r = subprocess.run([sys.executable, os.path.join(ROOT, "demo", "run.py")],
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr[-3000:]
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
