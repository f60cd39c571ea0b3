# lane: micropython
# Fixture for test_mpvm_runner.py (not collected by pytest: no test_ prefix).
import sys

STATE = []


def test_passes():
    STATE.append(1)
    assert len(STATE) == 1


def test_fails_with_source_line():
    print("chatter from the failing test")
    assert 1 + 1 == 3


def test_raises():
    raise ValueError("boom from the VM")


def test_takes_argument(x):
    pass
