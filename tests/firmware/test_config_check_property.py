"""One config check: what the computer accepts (`make check`: tools/deploy_tree.check, the
board's own outpost/config.py and outpost/wiring.py) boots on the emulated board without a
config error. Configs are generated (hypothesis): sensors of every type on any pin, the board's
fitted sensors, rules on readings that exist or are misspelt, serial UARTs and pins, report
fields, transport paths and mail providers (with and without their CA and sender). Each accepted one is
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

def _pem():
    import trustme
    return trustme.CA().cert_pem.bytes().decode()


PEM = _pem()
NAMES = st.sampled_from(["freezer", "door", "battery", "shed", "mcu"])
# pins the emulated board (an ESP32-DevKitC) has, more often than any number
PIN = st.one_of(st.sampled_from([4, 5, 13, 14, 16, 17, 21, 22, 25, 26, 27, 32, 33]),
                st.integers(min_value=0, max_value=41))


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
        cfg["sensors"] = draw(st.lists(sensor(), max_size=3))
    cfg["rules"] = [{"sensor": r, "above": 1} for r in draw(st.lists(READING, max_size=2))]
    if draw(st.booleans()):
        cfg["serial"] = {"uart": draw(st.integers(-1, 3)), "tx": draw(st.integers(-1, 41)),
                         "rx": draw(st.integers(-1, 41))}
    # report fields, paths and providers, mostly good (no Wi-Fi: nothing leaves this machine)
    cfg["report"] = {"at": draw(st.sampled_from(["", "07:00", "23:59", "", "07:30", "24:00"])),
                     "every": draw(st.sampled_from([0, 0, 0, 3600, 600, -1])),
                     "csv_every": draw(st.sampled_from([300, 300, 60, 60, 0]))}
    cfg["transport"]["order"] = draw(st.sampled_from(
        [["serial"], ["smtp", "mqtt"], ["mqtt", "serial", "smtp"], ["serial"], ["smtp"],
         ["mqtt"], ["serial", "smtp"], [], ["lora"], ["serial", "serial"]]))
    if draw(st.integers(0, 2)) == 0:
        cfg["smtp"] = {"provider": draw(st.sampled_from(["gmail", "fastmail", "outlook", "gmial"])),
                       "username": "prop@example.org", "password": "x",
                       "ca": draw(st.sampled_from([PEM, PEM, PEM, PEM, "", "missing.pem"]))}
        if draw(st.integers(0, 7)):
            cfg["mail"] = {"sender": "prop@example.org", "to": ["me@example.org"]}
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


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
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
