# A quiet wake (boot, one sample, no alert, nothing to send) on the 32-bit MicroPython VM, as the
# board runs it (issue 17): the firmware laid out by tools/deploy_tree.py (.mpy files, as `make
# deploy` copies them), then boot.py, main.py, outpost/run.py's start and App.run's boot and first
# step, each its own call into the VM (bench/board_heap.mjs --quiet). The heap it holds, the
# interned names of every module it loaded included, is held under a gate; and it loads only
# the sampling part of the app.
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench", "board_heap.mjs")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import deploy_tree  # noqa: E402

# the goal is 24 KB, not reached: the bench prints 36.0 KB (bench/board_heap.json's
# quiet_wake_vm; 38.6 KB on main before the app's boot left for startup.py and the clock
# stopped loading outpost_contract.rules, 49.0 KB before the app was split into files of one job
# each). About 10 KB of it is interned names, 4.5 KB of those the name pool's 640-entry block:
# the boot grows it on purpose while the heap is in one piece, loading the modules an alert
# needs together (startup.py), and main.py's send-wake import does the same; grown later, in
# a heap the app has split, it finds no room on the PyPI port and the SMTP and MQTT wakes miss
# their gates. The gate holds the figure with a margin for the VM's conservative collector
# (1-2 KB).
GOAL = 24 * 1024
GATE = 38 * 1024

_cache = {}


def quiet(tmp_path_factory):
    if "out" not in _cache:
        node = shutil.which("node")
        assert node, "node is needed for the MicroPython VM (make setup)"
        d = tmp_path_factory.mktemp("quiet")
        tree = str(d / "flash")
        cfg = os.path.join(ROOT, "bench", "board_config.py")
        deploy_tree.build("unix", cfg, tree)
        r = subprocess.run([node, BENCH, tree, "--quiet"], capture_output=True, text=True,
                           timeout=300, cwd=ROOT)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        _cache["out"] = json.loads(r.stdout.strip().splitlines()[-1])
    return _cache["out"]


def test_a_quiet_wake_holds_at_most_the_gate(tmp_path_factory):
    q = quiet(tmp_path_factory)
    assert q["quiet_wake"] <= GATE, "a quiet wake holds %d B (gate %d, goal %d)" % (
        q["quiet_wake"], GATE, GOAL)


def test_a_quiet_wake_loads_only_the_sampling_part(tmp_path_factory):
    mods = quiet(tmp_path_factory)["quiet_modules"]
    for need in ("outpost.app", "outpost.sensors", "outpost.rules", "outpost.outbox"):
        assert need in mods, (need, mods)
    # the send wake's modules (main.py unloads them when none is due), the sending half, the
    # alert's words and record, the crash bookkeeping and RTC state (no deep sleep here), the
    # drivers of sensors not fitted (a door switch only), the config checker
    for part in ("outpost.sendwake", "outpost.smtp_path", "outpost.sending", "outpost.transport",
                 "outpost.mqtt_path", "outpost.alerting", "outpost.alerts", "outpost.words",
                 "outpost_contract.record", "outpost.crash", "outpost.rtc", "outpost.mqtt_keep",
                 "outpost.bme280", "outpost.dht22", "outpost.mcu_temp", "outpost.wiring",
                 "outpost.config"):
        assert part not in mods, (part, mods)
