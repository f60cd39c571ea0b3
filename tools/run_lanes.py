"""Runs the test lanes side by side, then fails if any lane failed or ran no test.

    python tools/run_lanes.py                 pytest, micropython, realmp, mpy (what `make test` runs)
    python tools/run_lanes.py pytest -- -k smtp   one lane; arguments after -- go to it

Lanes: pytest (tests/ but tests/realmp, over TEST_WORKERS pytest-xdist workers), micropython
(tests/mpvm/run.mjs on the WebAssembly VM), realmp (tests/realmp: the real MicroPython unix port
against real peers, over up to 3 workers), mpy (tools/check_mpy.py).

Most of the suite's time is spent waiting on peers (brokers, mail servers, gateway processes,
the real MicroPython), so the lanes run at once, and the pytest lane over more workers than the
machine has cores. The pytest and realmp lanes start once the bytecode caches are written
(warm_caches: a few seconds, beside the other lanes; not for a lane given arguments), so that
their many Python processes read compiled modules instead of each compiling them again. One
lane alone streams its output; with several, each lane's output is printed whole when it ends.
The closing lines give each lane's counts, wall time and CPU time (its own and its reaped
children's), the warm-up's, the 10 slowest tests, and end with `total: N passed, N failed`.
A lane that hangs is killed after LANE_TIMEOUT seconds (default 2400).

Environment: TEST_WORKERS (pytest lane's workers; default 4; 0 runs it in one process),
LANES_SERIAL=1 (one lane after the other, as before).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LANES = ("pytest", "micropython", "realmp", "mpy")
REALMP = os.path.join("tests", "realmp")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")
# pytest's --durations lines ("12.34s call     tests/x.py::test_y") and the VM runner's
# "PASS tests/x.py::test_y (12 ms)"
PYTEST_DURATION = re.compile(r"^\s*([\d.]+)s (setup|call|teardown)\s+(\S.*?)\s*$")
VM_DURATION = re.compile(r"^(?:PASS|FAIL)\s+(\S+)\s+\((\d+) ms\)")
DURATIONS = 30      # pytest phases listed per pytest lane, enough for the 10 slowest tests


def workers():
    return max(0, int(os.environ.get("TEST_WORKERS", "4") or 0))


def command(lane, extra):
    if lane in ("pytest", "realmp"):
        cmd = [sys.executable, "-m", "pytest", "--durations=%d" % DURATIONS]
        # the realmp lane's 21 tests each mostly wait on a real MicroPython: fewer workers
        n = workers() if lane == "pytest" else min(3, workers())
        # loadgroup: tests handed out one by one as workers free up, except that the tests of
        # one xdist_group (a module sharing one costly rig) all run on one worker, in order
        spread = ["-n", str(n), "--dist", "loadgroup"] if n else []
        if lane == "realmp":
            return cmd + spread + [REALMP] + extra
        # no path given: pytest.ini's testpaths (tests/) applies; tests/realmp is its own lane
        return cmd + spread + ["--ignore=" + REALMP] + extra
    if lane == "micropython":
        node = shutil.which("node")
        if node is None:
            return None
        return [node, os.path.join("tests", "mpvm", "run.mjs")] + extra
    if lane == "mpy":
        return [sys.executable, os.path.join("tools", "check_mpy.py")] + extra
    raise SystemExit("run_lanes: unknown lane %r (lanes: %s)" % (lane, ", ".join(LANES)))


# the Python sources the lanes' processes import: the gateway, the shared libraries, the tests
# and tools, the boards and firmware the emulated board runs
SOURCES = ("host", "lib", "tests", "tools", "boards", "firmware", "demo", "bench")
WARMED = ("pytest", "realmp")       # the lanes that wait for warm_caches()
WARM_TIMEOUT = 300                  # seconds a warm-up step may take before it is ended


def warm_caches():
    """Writes the bytecode every lane's Python processes would otherwise compile again each: the
    project's modules (compileall) and pytest's assertion-rewritten test modules (one collection).
    Without it, each pytest worker spent ~6 s of CPU rewriting and compiling the same test files
    at the same time, and every gateway or CLI process compiled the gateway's modules again
    (~0.2 s each) where PYTHONDONTWRITEBYTECODE is set. Returns (wall, CPU) seconds; a failure
    here is not the lanes' failure (they compile for themselves then)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    t0 = time.monotonic()
    cpu = 0.0
    for cmd in ([sys.executable, "-m", "compileall", "-q", "-j", "0", "-x", "node_modules"]
                + [d for d in SOURCES if os.path.isdir(os.path.join(ROOT, d))],
                [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                 "-p", "no:xdist", "tests"]):
        try:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        except OSError:
            continue
        stuck = threading.Timer(WARM_TIMEOUT, proc.kill)      # never holds the lanes for long
        stuck.start()
        try:
            _, _, usage = os.wait4(proc.pid, 0)
        finally:
            stuck.cancel()
        proc.returncode = 0     # reaped here: Popen must not wait for it again
        cpu += usage.ru_utime + usage.ru_stime
    return time.monotonic() - t0, cpu


def counts(lane, lines):
    """passed, failed and skipped as the lane's own closing line reports them."""
    if lane in ("pytest", "realmp"):
        # the last summary line, e.g. "3 failed, 120 passed, 2 skipped in 9.81s"
        picked = [l for l in lines if COUNT.search(l) and re.search(r" in [\d.]+s", l)]
    else:
        prefix = "mpvm:" if lane == "micropython" else "mpy:"
        picked = [l for l in lines if l.startswith(prefix) and re.search(r"\d+ passed, \d+ failed", l)]
    found = {}
    if picked:
        for n, word in COUNT.findall(picked[-1]):
            word = "errors" if word.startswith("error") else word
            found[word] = found.get(word, 0) + int(n)
    return (found.get("passed", 0),
            found.get("failed", 0) + found.get("errors", 0),
            found.get("skipped", 0))


def durations(lane, lines):
    """{test id: seconds} from the lane's own report (a pytest test's phases added up)."""
    out = {}
    if lane in ("pytest", "realmp"):
        for line in lines:
            m = PYTEST_DURATION.match(line)
            if m:
                out[m.group(3)] = out.get(m.group(3), 0.0) + float(m.group(1))
    elif lane == "micropython":
        for line in lines:
            m = VM_DURATION.match(line)
            if m:
                out[m.group(1)] = int(m.group(2)) / 1000.0
    return out


class Lane:
    """One lane's process. Its output goes to `sink` (a stream, or a file printed later)."""

    def __init__(self, name, extra, timeout, index, sink):
        self.name = name
        self.cmd = command(name, extra)
        self.timeout = timeout
        self.index = index
        self.sink = sink
        self.lines = []
        self.rc = None
        self.wall = 0.0
        self.cpu = 0.0
        self.timed_out = False

    def run(self):
        if self.cmd is None:
            self.sink.write("run_lanes: node is not installed; the micropython lane needs Node 20\n")
            self.rc = 127
            return
        self.sink.write("\n===== lane %s: %s\n" % (self.name, " ".join(self.cmd)))
        self.sink.flush()
        # each lane its own block of loopback ports (tests/peers/ports.py)
        env = dict(os.environ, OUTPOST_PORT_LANE=str(self.index))
        t0 = time.monotonic()
        proc = subprocess.Popen(self.cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, env=env)

        def kill():
            self.timed_out = True
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass

        timer = threading.Timer(self.timeout, kill)
        timer.start()
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                self.sink.write(line)
                self.sink.flush()
                self.lines.append(line.rstrip("\n"))
            # wait4: the exit status and the CPU time of the lane and every child it reaped
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = self.rc = os.waitstatus_to_exitcode(status)
            self.cpu = usage.ru_utime + usage.ru_stime
        finally:
            timer.cancel()
            proc.stdout.close()
        self.wall = time.monotonic() - t0
        if self.timed_out:
            self.sink.write("run_lanes: lane %s killed after %d s (LANE_TIMEOUT)\n" % (self.name, self.timeout))
            self.rc = self.rc or 124

    def verdict(self):
        passed = counts(self.name, self.lines)[0]
        if self.rc == 0 and passed == 0:
            return "FAILED (ran no test)"
        if self.rc != 0:
            return "FAILED (exit %d)" % self.rc
        return "ok"


def run_all(lanes, extra, timeout, serial):
    warm = {}
    # a lane run with arguments (a file, -k) loads a few modules: not worth a warm-up of all
    to_warm = [] if extra else [name for name in lanes if name in WARMED]
    if serial or len(lanes) == 1:
        done = []
        for i, name in enumerate(lanes):
            if name in to_warm and not warm:
                warm["wall"], warm["cpu"] = warm_caches()
            lane = Lane(name, extra, timeout, i, sys.stdout)
            lane.run()
            done.append(lane)
        return done, warm
    # side by side: each lane writes to its own file, printed whole as soon as the lane ends
    printing = threading.Lock()
    folder = tempfile.mkdtemp(prefix="outpost-lanes-")
    done = []

    warmed = threading.Event()

    def warm_up():
        try:
            warm["wall"], warm["cpu"] = warm_caches()
        finally:
            warmed.set()

    def one(i, name):
        if name in to_warm:
            warmed.wait()       # the other lanes start at once, beside the warm-up
        path = os.path.join(folder, name + ".log")
        with open(path, "w", encoding="utf-8") as sink:
            lane = Lane(name, extra, timeout, i, sink)
            try:
                lane.run()
            except Exception as e:      # a lane that could not run is a failed lane, not a crash
                sink.write("run_lanes: lane %s could not run: %r\n" % (name, e))
                lane.rc = lane.rc if lane.rc not in (None, 0) else 1
        with printing:
            with open(path, encoding="utf-8", errors="replace") as f:
                shutil.copyfileobj(f, sys.stdout)
            sys.stdout.write("===== lane %s ended after %.1f s\n" % (name, lane.wall))
            sys.stdout.flush()
            done.append(lane)

    print("run_lanes: %s side by side (TEST_WORKERS=%d); each lane's output follows when it ends"
          % (", ".join(lanes), workers()), flush=True)
    threads = [threading.Thread(target=one, args=(i, name)) for i, name in enumerate(lanes)]
    if to_warm:
        threads.insert(0, threading.Thread(target=warm_up))
    else:
        warmed.set()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    shutil.rmtree(folder, ignore_errors=True)
    order = {name: i for i, name in enumerate(lanes)}
    return sorted(done, key=lambda lane: order[lane.name]), warm


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    lanes = argv or list(LANES)
    for name in lanes:
        command(name, [])       # an unknown lane is refused before anything runs
    if extra and len(lanes) != 1:
        raise SystemExit("run_lanes: arguments after -- need exactly one lane")
    timeout = int(os.environ.get("LANE_TIMEOUT", "2400"))
    serial = os.environ.get("LANES_SERIAL", "") not in ("", "0")

    t0 = time.monotonic()
    done, warm = run_all(lanes, extra, timeout, serial)
    wall = time.monotonic() - t0

    slowest = []
    for lane in done:
        slowest += [(secs, lane.name, test) for test, secs in durations(lane.name, lane.lines).items()]
    slowest.sort(key=lambda r: -r[0])
    if slowest:
        print("\n===== 10 slowest tests (wall, setup + call + teardown)")
        for secs, name, test in slowest[:10]:
            print("%7.1f s  %-12s %s" % (secs, name, test))

    print("\n===== lanes")
    report = []
    for lane in done:
        passed, failed, skipped = counts(lane.name, lane.lines)
        verdict = lane.verdict()
        report.append((lane.name, verdict, passed, failed))
        print("%-12s %-22s %5d passed, %d failed, %d skipped  (wall %.1f s, CPU %.1f s)" % (
            lane.name, verdict, passed, failed, skipped, lane.wall, lane.cpu))
    if warm:
        print("%-12s %-22s %36s  (wall %.1f s, CPU %.1f s)" % ("warm-up", "bytecode caches", "", warm["wall"], warm["cpu"]))
    print("%-12s %-22s %36s  (wall %.1f s, CPU %.1f s)" % (
        "all", "side by side" if len(done) > 1 and not serial else "", "", wall,
        sum(l.cpu for l in done) + warm.get("cpu", 0.0)))
    bad = [r[0] for r in report if r[1] != "ok"]
    if bad:
        print("failed lanes: " + ", ".join(bad))
    # one closing line in the plain form CI reads; a lane that failed without counting a
    # failed test (crash, no test ran) still counts as one failure, so the line never reads clean
    failed_total = sum(r[3] or (1 if r[1] != "ok" else 0) for r in report)
    print("total: %d passed, %d failed" % (sum(r[2] for r in report), failed_total))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
