"""The pytest lane sees the same import roots as the MicroPython lane."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_import_roots_on_sys_path():
    for sub in ("lib", "firmware", "tests"):
        assert os.path.join(ROOT, sub) in sys.path, sub


def test_emulated_board_not_on_sys_path():
    assert os.path.join(ROOT, "boards", "emulated") not in sys.path


def test_tinytest_importable():
    from tinytest import raises
    e = raises(ValueError, int, "x")
    assert isinstance(e, ValueError)
