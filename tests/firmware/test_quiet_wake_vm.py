# A quiet wake on the 32-bit MicroPython VM, as a battery board runs it (issue 17): woken from
# deep sleep with nothing due, the firmware laid out by tools/deploy_tree.py (.mpy files, as
# `make deploy` copies them), boot.py and main.py run to the deep sleep (bench/board_heap.mjs
# --quiet). outpost/quiet.py does the wake without the app: the heap it holds at its sleep, the
# interned names of every module it loaded included, is held at the goal; it loads
# only what a sample, the rules and the report need, and never associates Wi-Fi.
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(ROOT, "bench", "board_heap.mjs")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import deploy_tree  # noqa: E402

# the goal, met: the bench prints 23,472 B (bench/board_heap.json's quiet_wake_vm).
# Before outpost/quiet.py the wake ran the app's boot and step: 35.8 KB (38.6 KB before the
# app's boot left for startup.py, 49.0 KB before the app was split into files of one job each);
# about 5 KB of that was the name pool's 640-entry block, which a wake now grows only when it
# has work (outpost.names). The figure is the same from run to run on this VM.
GOAL = GATE = 24 * 1024


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
    for need in ("outpost.quiet", "outpost.sensors", "outpost.rules", "outpost.report", "outpost.rtc"):
        assert need in mods, (need, mods)
    # not the app, its outbox, Wi-Fi and NTP, the send wake's modules, the alert's words and
    # record, the crash bookkeeping, the drivers of sensors not fitted (a door switch only),
    # the config checker
    for part in ("outpost.app", "outpost.startup", "outpost.outbox", "outpost.net", "outpost.sendwake",
                 "outpost.smtp_path", "outpost.sending", "outpost.transport", "outpost.mqtt_path",
                 "outpost.alerting", "outpost.alerts", "outpost.words", "outpost_contract.record",
                 "outpost.crash", "outpost.mqtt_keep", "outpost.bme280", "outpost.dht22",
                 "outpost.mcu_temp", "outpost.wiring", "outpost.config"):
        assert part not in mods, (part, mods)


def test_the_first_step_after_power_on_is_measured_too(tmp_path_factory):
    # a board that does not deep-sleep runs the app in one long wake, its name pool grown at
    # boot for the alerts it will have: printed by the bench beside the quiet wake, above it
    q = quiet(tmp_path_factory)
    assert q["first_step"] > q["quiet_wake"], q
