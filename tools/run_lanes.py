"""Runs the test lanes one after the other, then fails if any lane failed or ran no test.

    python tools/run_lanes.py                 pytest, micropython, realmp, mpy (what `make test` runs)
    python tools/run_lanes.py pytest -- -k smtp   one lane; arguments after -- go to it

Lanes: pytest (tests/ but tests/realmp), micropython (tests/mpvm/run.mjs on the WebAssembly VM),
realmp (tests/realmp: the real MicroPython unix port against real peers), mpy (tools/check_mpy.py).
Each lane's output streams through unchanged; the closing lines sum them up, ending with
`total: N passed, N failed`. A lane that hangs is killed after LANE_TIMEOUT seconds (default 2400).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LANES = ("pytest", "micropython", "realmp", "mpy")
REALMP = os.path.join("tests", "realmp")
COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")


def command(lane, extra):
    if lane == "pytest":
        # no path given: pytest.ini's testpaths (tests/) applies; tests/realmp is its own lane
        return [sys.executable, "-m", "pytest", "--ignore=" + REALMP] + extra
    if lane == "realmp":
        return [sys.executable, "-m", "pytest", REALMP] + extra
    if lane == "micropython":
        node = shutil.which("node")
        if node is None:
            return None
        return [node, os.path.join("tests", "mpvm", "run.mjs")] + extra
    if lane == "mpy":
        return [sys.executable, os.path.join("tools", "check_mpy.py")] + extra
    raise SystemExit("run_lanes: unknown lane %r (lanes: %s)" % (lane, ", ".join(LANES)))


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


def run(lane, extra, timeout):
    cmd = command(lane, extra)
    if cmd is None:
        print("run_lanes: node is not installed; the micropython lane needs Node 20", flush=True)
        return 127, [], 0.0
    print("\n===== lane %s: %s" % (lane, " ".join(cmd)), flush=True)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    timed_out = []

    def kill():
        timed_out.append(True)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass

    timer = threading.Timer(timeout, kill)
    timer.start()
    lines = []
    try:
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace")
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
        rc = proc.wait()
    finally:
        timer.cancel()
    if timed_out:
        print("run_lanes: lane %s killed after %d s (LANE_TIMEOUT)" % (lane, timeout), flush=True)
        rc = rc or 124
    return rc, lines, time.monotonic() - t0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    lanes = argv or list(LANES)
    if extra and len(lanes) != 1:
        raise SystemExit("run_lanes: arguments after -- need exactly one lane")
    timeout = int(os.environ.get("LANE_TIMEOUT", "2400"))

    report = []
    for lane in lanes:
        rc, lines, secs = run(lane, extra, timeout)
        passed, failed, skipped = counts(lane, lines)
        if rc == 0 and passed == 0:
            verdict = "FAILED (ran no test)"
        elif rc != 0:
            verdict = "FAILED (exit %d)" % rc
        else:
            verdict = "ok"
        report.append((lane, verdict, passed, failed, skipped, secs))

    print("\n===== lanes")
    for lane, verdict, passed, failed, skipped, secs in report:
        print("%-12s %-22s %5d passed, %d failed, %d skipped  (%.1f s)" % (
            lane, verdict, passed, failed, skipped, secs))
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
