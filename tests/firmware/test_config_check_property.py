"""One config check: what the computer accepts (`make check`: tools/deploy_tree.check, the
board's own outpost/config.py and outpost/wiring.py) boots on the emulated board without a
config error. Configs are generated (hypothesis): sensors of every type on any pin, the board's
fitted sensors, rules on readings that exist or are misspelt, serial pins. Each accepted one is
laid out as `make deploy` writes it (config.json in the board's flash) and booted; each refused
one names a key the board would name too."""
import json
import os
import sys

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emu_fixtures import EMU, ROOT, T_START

sys.path.insert(0, os.path.join(ROOT, "tools"))
import deploy_tree  # noqa: E402

NAMES = st.sampled_from(["freezer", "door", "battery", "shed", "mcu"])
PIN = st.integers(min_value=0, max_value=41)


@st.composite
def sensor(draw):
    t = draw(st.sampled_from(["internal_temp", "adc", "dht22", "bme280", "digital"]))
    s = {"name": draw(NAMES), "type": t}
    if t in ("adc", "dht22", "digital"):
        s["pin"] = draw(PIN)
    if t == "digital" and draw(st.booleans()):
        s["pull"] = draw(st.sampled_from(["up", "down"]))
    if t == "bme280":
        s["scl"] = draw(PIN)
        s["sda"] = draw(PIN)
    return s


READING = st.sampled_from(["freezer", "freezer.temperature", "freezer.humidity", "freezer.temprature",
                           "door", "battery", "shed.temperature", "shed.pressure", "mcu"])


@st.composite
def board_config(draw):
    cfg = {"device": "prop", "report": {"at": ""}, "transport": {"order": ["serial"]}}
    if draw(st.booleans()):
        cfg["sensors"] = draw(st.lists(sensor(), max_size=4))
    cfg["rules"] = [{"sensor": r, "above": 1} for r in draw(st.lists(READING, max_size=3))]
    if draw(st.booleans()):
        cfg["serial"] = {"uart": draw(st.integers(-1, 3)), "tx": draw(st.integers(-1, 41)),
                         "rx": draw(st.integers(-1, 41))}
    return cfg


def computer_check(tmp, cfg):
    path = os.path.join(tmp, "config_local.py")
    with open(path, "w") as f:
        f.write("CONFIG = " + repr(cfg) + "\n")
    try:
        return deploy_tree.check("emulated", path), None
    except ValueError as e:
        return None, str(e)


def boot(tmp, checked):
    # as deployed: the compact checked config.json in the board's flash, nothing else
    sys.path.insert(0, EMU)
    from emulator.harness import EmulatedBoard
    flash = os.path.join(tmp, "flash")
    os.makedirs(flash, exist_ok=True)
    deploy_tree.write_config(checked, flash)
    b = EmulatedBoard({"device": "ignored"}, flash_dir=flash, start=T_START)
    try:
        b.start()
        b.run(30)
        return list(b.lines), b.error
    finally:
        b.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=board_config())
def test_what_the_computer_accepts_boots_without_a_config_error(tmp_path_factory, cfg):
    tmp = str(tmp_path_factory.mktemp("prop"))
    checked, why = computer_check(tmp, cfg)
    if checked is None:
        # refused on the computer, saying which key ("key: what is wrong")
        assert ": " in why, why
        return
    lines, error = boot(tmp, json.loads(json.dumps(checked, default=str)))
    assert error is None, lines[-20:]
    assert not [l for l in lines if "CONFIG ERROR" in l], lines[-20:]
    assert any(" rule(s)" in l for l in lines), lines[-20:]


def test_the_computer_and_the_board_refuse_the_same_typo(tmp_path):
    cfg = {"device": "prop", "report": {"at": ""}, "transport": {"order": ["serial"]},
           "rules": [{"sensor": "freezer.temprature", "above": 1}]}
    checked, why = computer_check(str(tmp_path), cfg)
    assert checked is None and "rules[0].sensor: no sensor gives 'freezer.temprature'" in why
    # the same config, written without the check (by hand, or by an older tool), on the board
    sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "lib")]
    try:
        from outpost import config
        raw = config.load(cfg)
    finally:
        del sys.path[:2]
    lines, _ = boot(str(tmp_path), json.loads(json.dumps(raw)))
    board = [l for l in lines if l.startswith("CONFIG ERROR: ")]
    assert board and board[0] == "CONFIG ERROR: " + why.split("\n")[0].replace("config: ", ""), lines
