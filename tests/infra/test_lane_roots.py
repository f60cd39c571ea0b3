# lane: micropython
# Runs under pytest and on the MicroPython VM: both lanes see the same import roots.
import sys

from tinytest import raises


def _ends(path, tail):
    return path.replace("\\", "/").endswith(tail)


def test_roots_on_sys_path_share_one_parent():
    # other tests may push more folders onto sys.path, so look for the three roots, not an order
    parents = {}
    for p in sys.path:
        p = p.replace("\\", "/")
        for name in ("lib", "firmware", "tests"):
            if _ends(p, "/" + name):
                parents.setdefault(p[: -len(name) - 1], set()).add(name)
    assert any(names == {"lib", "firmware", "tests"} for names in parents.values()), sys.path


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
