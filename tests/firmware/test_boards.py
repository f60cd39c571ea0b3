"""Every board folder is complete: metadata, pin map, fitted sensors that pass the firmware's own
config validation, a status LED, a freeze manifest that names the firmware, and a flash method."""
import ast
import os

import pytest

from outpost import config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARDS = os.path.join(ROOT, "boards")
NAMES = sorted(d for d in os.listdir(BOARDS) if os.path.isdir(os.path.join(BOARDS, d)) and
               os.path.exists(os.path.join(BOARDS, d, "board.py")))


def load_board(name):
    # read BOARD without importing (the emulated board.py imports the emulator)
    tree = ast.parse(open(os.path.join(BOARDS, name, "board.py")).read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == "BOARD":
            return ast.literal_eval(node.value)
    raise AssertionError(name + ": board.py has no BOARD dict")


def test_the_required_boards_exist():
    for name in ("esp32_devkitc", "esp32_s3", "esp32_c3", "pico_w", "emulated"):
        assert name in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_board_folder_is_complete(name):
    b = load_board(name)
    assert b["name"] == name
    assert b["mcu"] and b["pins"]
    assert "led" in b
    assert b["sensors"], name + ": no fitted sensors"
    config.validate(config.merge(config.DEFAULTS, {"sensors": b["sensors"]}))
    manifest = open(os.path.join(BOARDS, name, "manifest.py")).read()
    assert 'include("../common_manifest.py")' in manifest and 'module("board.py")' in manifest
    mk = open(os.path.join(BOARDS, name, "board.mk")).read()
    assert "BOARD_FLASH :=" in mk
    if "esptool" in mk:
        assert "BOARD_CHIP :=" in mk and "BOARD_OFFSET :=" in mk


@pytest.mark.parametrize("name", [n for n in NAMES if n != "emulated"])
def test_fitted_pins_do_not_clash(name):
    b = load_board(name)
    used = []
    buses = set()     # several I2C sensors may share one bus
    for s in b["sensors"]:
        if "scl" in s:
            buses.add((s["scl"], s["sda"]))
        elif "pin" in s:
            used.append(s["pin"])
    for scl, sda in buses:
        used += [scl, sda]
    ser = b.get("serial", {})
    used += [ser.get("tx"), ser.get("rx")]
    if isinstance(b["led"], int):
        used.append(b["led"])
    used = [p for p in used if p is not None]
    assert len(used) == len(set(used)), used


def test_common_manifest_freezes_the_firmware_and_contracts():
    m = open(os.path.join(BOARDS, "common_manifest.py")).read()
    for part in ('package("outpost", base_path="../firmware"', 'package("outpost_contract", base_path="../lib"',
                 'require("usmtp", library="outpost-lib")'):
        assert part in m


def test_freeze_manifest_has_every_lib_module():
    # a module a board imports but the frozen image lacks fails only on the board: check here
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    text = open(os.path.join(root, "boards", "common_manifest.py")).read()
    text += open(os.path.join(root, "lib", "usmtp", "manifest.py")).read()
    for f in sorted(os.listdir(os.path.join(root, "lib"))):
        if f.endswith(".py"):
            assert '"%s"' % f in text, f + " is not frozen by boards/common_manifest.py"
        elif os.path.isfile(os.path.join(root, "lib", f, "__init__.py")):
            assert 'package("%s"' % f in text, f + "/ is not frozen by boards/common_manifest.py"
