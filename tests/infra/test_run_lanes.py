"""tools/run_lanes.py reads each lane's own closing line."""
import os
import subprocess
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


def test_durations_add_up_a_tests_phases_and_read_the_vm_runner():
    lines = ["============ slowest 30 durations ============",
             "12.50s call     tests/host/test_a.py::test_x[2-gateways]",
             "0.50s setup    tests/host/test_a.py::test_x[2-gateways]",
             "3.00s teardown tests/b.py::test_y",
             "(12 durations < 0.005s hidden.  Use -vv to show these durations.)"]
    assert run_lanes.durations("pytest", lines) == {"tests/host/test_a.py::test_x[2-gateways]": 13.0,
                                                    "tests/b.py::test_y": 3.0}
    vm = ["PASS tests/x.py::test_a (1500 ms)", "FAIL tests/x.py::test_b (20 ms)", "mpvm: 2 passed, 0 failed"]
    assert run_lanes.durations("micropython", vm) == {"tests/x.py::test_a": 1.5, "tests/x.py::test_b": 0.02}
    assert run_lanes.durations("mpy", ["mpy: 37 passed, 0 failed"]) == {}


def test_the_pytest_lane_spreads_over_workers_and_keeps_groups_together(monkeypatch):
    monkeypatch.setenv("TEST_WORKERS", "3")
    cmd = run_lanes.command("pytest", ["-k", "smtp"])
    assert cmd[cmd.index("-n") + 1] == "3" and cmd[cmd.index("--dist") + 1] == "loadgroup"
    assert cmd[-2:] == ["-k", "smtp"]               # the caller's arguments come last, so they win
    monkeypatch.setenv("TEST_WORKERS", "0")
    assert "-n" not in run_lanes.command("pytest", [])
    assert "-n" not in run_lanes.command("realmp", [])
    monkeypatch.setenv("TEST_WORKERS", "8")
    cmd = run_lanes.command("realmp", [])
    assert cmd[cmd.index("-n") + 1] == "3" and cmd[-1] == run_lanes.REALMP


def test_lanes_run_side_by_side_and_report_wall_and_cpu(tmp_path, monkeypatch, capsys):
    # two stand-in lanes that each take 1 s of wall time: side by side, the whole run takes
    # about 1 s, not 2, and each lane's counts, wall and CPU time are reported
    script = tmp_path / "lane.py"
    script.write_text("import sys, time\ntime.sleep(1.0)\nprint('%s: 3 passed, 0 failed' % sys.argv[1])\n")
    monkeypatch.setattr(run_lanes, "command", lambda lane, extra: [sys.executable, str(script), lane[:3]])
    monkeypatch.setattr(run_lanes, "counts", lambda lane, lines: (3, 0, 0) if any("3 passed" in l for l in lines)
                        else (0, 0, 0))
    monkeypatch.delenv("LANES_SERIAL", raising=False)
    assert run_lanes.main(["mpy", "micropython"]) == 0
    out = capsys.readouterr().out
    assert "mpy: 3 passed" in out and "mic: 3 passed" in out
    rows = [l for l in out.splitlines() if l.startswith(("mpy ", "micropython ", "all "))]
    assert len(rows) == 3 and all("wall" in r and "CPU" in r for r in rows), rows
    whole = float(rows[-1].split("wall ")[1].split(" s")[0])
    assert whole < 1.9, out
    assert out.rstrip().endswith("total: 6 passed, 0 failed")


def test_an_xdist_group_runs_on_one_worker_in_order(tmp_path):
    # pytest 9.2 with pytest-xdist 3.8 silently drops xdist_group (pytest-xdist#1386): every
    # test of a module sharing one costly rig (a RabbitMQ node, a built wheel) then ran on its
    # own worker and built the rig again. The pinned pair must keep a group on one worker.
    for name in ("test_one.py", "test_two.py"):
        (tmp_path / name).write_text(
            "import pytest\n"
            "pytestmark = pytest.mark.xdist_group('rig')\n"
            + "".join("def test_%d():\n    pass\n" % i for i in range(4)))
    (tmp_path / "test_free.py").write_text("".join("def test_%d():\n    pass\n" % i for i in range(8)))
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    cmd = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup"]
    out = subprocess.run(cmd, cwd=str(tmp_path), capture_output=True, text=True, timeout=120).stdout
    ran = [line.split() for line in out.splitlines() if line.startswith("[gw") and " PASSED " in line]
    assert len(ran) == 16, out
    grouped = [(words[0], words[-1]) for words in ran if "test_free" not in words[-1]]
    assert len(grouped) == 8 and len(set(w for w, _ in grouped)) == 1, out


def test_warm_caches_writes_bytecode_even_where_python_is_told_not_to(tmp_path, monkeypatch):
    # the pytest workers and every gateway process read these instead of compiling each again
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "mod.py").write_text("X = 1\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text("def test_x():\n    assert 1\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    monkeypatch.setattr(run_lanes, "ROOT", str(tmp_path))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    wall, cpu = run_lanes.warm_caches()
    assert wall > 0 and cpu > 0
    assert [p.name for p in (tmp_path / "host" / "__pycache__").iterdir()] == \
        ["mod.%s.pyc" % sys.implementation.cache_tag]
    rewritten = [p.name for p in (tmp_path / "tests" / "__pycache__").iterdir() if "-pytest-" in p.name]
    assert rewritten and rewritten[0].startswith("test_x."), rewritten


def test_the_warm_up_comes_before_the_pytest_lanes_only_and_not_for_a_lane_with_arguments(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(run_lanes, "warm_caches", lambda: calls.append("warm") or (0.5, 0.25))

    class Lane:
        def __init__(self, name, extra, timeout, index, sink):
            self.name, self.cpu, self.wall, self.rc, self.lines = name, 1.0, 1.0, 0, []

        def run(self):
            calls.append(self.name)

    monkeypatch.setattr(run_lanes, "Lane", Lane)
    done, warm = run_lanes.run_all(["mpy", "pytest"], [], 60, serial=True)
    assert calls == ["mpy", "warm", "pytest"] and warm == {"wall": 0.5, "cpu": 0.25}
    del calls[:]
    done, warm = run_lanes.run_all(["micropython", "mpy"], [], 60, serial=False)
    assert "warm" not in calls and warm == {}
    del calls[:]
    done, warm = run_lanes.run_all(["pytest"], ["-k", "smtp"], 60, serial=False)
    assert calls == ["pytest"] and warm == {}
    del calls[:]
    done, warm = run_lanes.run_all(["pytest", "realmp", "mpy"], [], 60, serial=False)
    assert calls.count("warm") == 1 and calls.index("warm") < calls.index("pytest") \
        and calls.index("warm") < calls.index("realmp"), calls
