"""tools/run_lanes.py reads each lane's own closing line."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import run_lanes  # noqa: E402


def test_pytest_summary_with_failures_errors_and_skips():
    lines = ["tests/a.py ..F", "FAILED tests/a.py::t - x",
             "==== 2 failed, 120 passed, 3 skipped, 1 error in 9.81s (0:00:09) ===="]
    assert run_lanes.counts("pytest", lines) == (120, 3, 3)


def test_pytest_quiet_summary():
    assert run_lanes.counts("pytest", ["...", "3 passed in 0.65s"]) == (3, 0, 0)


def test_pytest_no_tests_counts_nothing():
    assert run_lanes.counts("pytest", ["no tests ran in 0.01s"]) == (0, 0, 0)


def test_vm_and_mpy_closing_lines():
    vm = ["PASS tests/x.py::test_a (0 ms)", "mpvm: 1 files in 0.1 s", "mpvm: 16 passed, 2 failed"]
    assert run_lanes.counts("micropython", vm) == (16, 2, 0)
    assert run_lanes.counts("mpy", ["mpy: 37 files compiled", "mpy: 37 passed, 0 failed"]) == (37, 0, 0)


def test_lane_output_that_only_mentions_counts_is_not_trusted():
    # a test printing "5 passed" must not be taken for the VM runner's summary
    assert run_lanes.counts("micropython", ["5 passed, 0 failed"]) == (0, 0, 0)
