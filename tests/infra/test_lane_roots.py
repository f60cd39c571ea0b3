# lane: micropython
# Runs under pytest and on the MicroPython VM: both lanes see the same import roots.
import sys

from tinytest import raises


def _ends(path, tail):
    return path.replace("\\", "/").endswith(tail)


def test_roots_in_order():
    roots = [p for p in sys.path if _ends(p, "/lib") or _ends(p, "/firmware") or _ends(p, "/tests")]
    names = [r.replace("\\", "/").rsplit("/", 1)[1] for r in roots]
    assert names[:3] == ["lib", "firmware", "tests"], names


def test_tinytest_raises_returns_exception():
    e = raises(KeyError, {}.__getitem__, "k")
    assert isinstance(e, KeyError)


def test_tinytest_raises_fails_when_nothing_raised():
    failed = False
    try:
        raises(ValueError, len, "abc")
    except AssertionError:
        failed = True
    assert failed


def test_sibling_helper_importable():
    import lane_helper
    assert lane_helper.VALUE == 42
