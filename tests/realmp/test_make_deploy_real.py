"""`make deploy` as a user runs it, through the real mpremote (the version pinned in
requirements-test.txt), over a serial port, to a real MicroPython: the unix port behind a pty
(tests/realmp/ptyboard.py). The tree that lands on the board is byte for byte
build/device/unix, and after the reset the board boots it: its log says so."""
import os
import subprocess
import sys
import time

from ptyboard import PtyBoard, tree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pinned_mpremote():
    for line in open(os.path.join(ROOT, "requirements-test.txt")):
        if line.startswith("mpremote=="):
            return line.strip().split("==")[1]


def test_make_deploy_through_mpremote_lands_the_tree_and_boots_it(tmp_path):
    import importlib.metadata
    assert importlib.metadata.version("mpremote") == pinned_mpremote()
    conf = tmp_path / "config_local.py"
    conf.write_text("CONFIG = " + repr({
        "device": "ptyboard", "transport": {"order": ["serial"]}, "report": {"at": ""},
        "sample_every": 5, "watchdog": 0,
        "rules": [{"sensor": "battery", "below": 3.3, "severity": "warning"}]}) + "\n")
    with PtyBoard(tmp_path / "flash") as board:
        t0 = time.monotonic()
        r = subprocess.run(["make", "--no-print-directory", "-C", ROOT, "deploy", "BOARD=unix",
                            "PORT=" + board.port, "CONFIG=" + str(conf),
                            "PYTHON=" + sys.executable],
                           capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t0
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-3000:]
        assert "deploy: done" in out
        print("make deploy to the pty board: %.1f s, %d soft resets" % (took, board.soft_resets))
        # what mpremote copied, before the board ran anything: the built tree, byte for byte
        built = tree(os.path.join(ROOT, "build", "device", "unix"))
        landed = board.wait_reset()
        assert board.resets == 1 and landed == built, sorted(set(built.items()) ^ set(landed.items()))[:10]
        assert len(built) > 40 and "lib/outpost/app.mpy" in built and "config.json" in built
        assert "lib/umqtt/simple.mpy" in built
        # every mpremote connection soft-reset the board into its raw REPL
        assert board.soft_resets >= 3
        # then it boots what landed, from boot.py and main.py, with the deployed config
        board.wait_for("outpost on unix as ptyboard")
        board.wait_for("boot 1; 2 sensor(s), 1 rule(s)")
        board.wait_for("sample battery=")
        board.wait_for("alert ptyboard-1-1 [warning] battery ")
        assert not [l for l in board.lines if "CONFIG ERROR" in l or "Traceback" in l], board.lines
