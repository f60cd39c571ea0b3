"""The MicroPython lane's runner (tests/mpvm/run.mjs) reports failures instead of hiding them."""
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.path.join(ROOT, "tests", "mpvm", "run.mjs")
CASES = "tests/infra/mpvm_cases/"
PACKAGE = os.path.join(ROOT, "tests", "mpvm", "node_modules", "@micropython",
                       "micropython-webassembly-pyscript")

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not os.path.isdir(PACKAGE),
    reason="node or the MicroPython npm package is missing (make test runs npm ci in tests/mpvm)")


def run(*files, **env):
    full = dict(os.environ)
    full.update(env)
    p = subprocess.run(["node", RUNNER] + [CASES + f for f in files], cwd=ROOT, env=full,
                       capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def test_reports_the_vm_it_ran_on():
    rc, out = run("isolated_a.py")
    assert rc == 0, out
    assert "name='micropython', version=(1, 27, 0" in out
    assert "mpvm: 1 passed, 0 failed" in out


def test_failures_counted_with_source_line_and_output():
    rc, out = run("failing.py")
    assert rc == 1, out
    assert "PASS tests/infra/mpvm_cases/failing.py::test_passes" in out
    assert "FAIL tests/infra/mpvm_cases/failing.py::test_fails_with_source_line" in out
    assert "assert 1 + 1 == 3" in out               # the source line MicroPython does not print
    assert "chatter from the failing test" in out   # a failing test's output is shown
    assert "ValueError: boom from the VM" in out
    assert "test_takes_argument" in out and "zero-argument" in out
    assert "mpvm: 1 passed, 3 failed" in out


def test_import_error_fails_the_lane():
    rc, out = run("import_error.py")
    assert rc == 1, out
    assert "ImportError" in out and "no_such_module_anywhere" in out


def test_no_test_fails_the_lane():
    rc, out = run("no_tests.py")
    assert rc == 1, out
    assert "no test ran" in out


def test_file_without_marker_refused():
    rc, out = run("no_marker.py")
    assert rc == 2, out
    assert "does not start with '# lane: micropython'" in out


def test_each_file_gets_a_fresh_vm():
    # one job: both files run one after the other, and the second still sees the module unchanged
    rc, out = run("isolated_a.py", "isolated_b.py", MPVM_JOBS="1")
    assert rc == 0, out
    assert "mpvm: 2 passed, 0 failed" in out


def test_hung_test_times_out():
    rc, out = run("hangs.py", MPVM_TIMEOUT="3")
    assert rc == 1, out
    assert "hangs.py::test_forever" in out and "timed out" in out
