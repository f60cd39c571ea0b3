"""`make deploy`: check everything on this computer first, then copy the board's files with
progress and reset it.

    python tools/deploy.py --board esp32_devkitc --port /dev/ttyUSB0 [--config firmware/config_local.py]

    python tools/deploy.py --check --board esp32_devkitc --config FILE   (make check: no port)

First the board folder and the config: the file, the example's placeholders left in it, the
full config check and the board's own check against its pin map and sensors
(tools/deploy_tree.py check, outpost/wiring.py: the very check the board runs at boot). Then
the serial port (tools/preflight.py); every problem found so far is printed (exit 2) before
anything is compiled or copied. Then the layout (.mpy files, config.json, ca.pem), the copy
with mpremote, a few files per connection, with a line per batch, and a reset.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import deploy_tree  # noqa: E402
import preflight  # noqa: E402

BATCH = 8       # files per mpremote connection: a progress line each, few reconnects


def fail(lines):
    for line in lines:
        print("deploy: " + line, file=sys.stderr)
    return 2


def board_files(out):
    """(relative path, size) of every file to copy, directories first in walk order."""
    files = []
    for d, dirs, names in os.walk(out):
        dirs.sort()
        for n in sorted(names):
            full = os.path.join(d, n)
            files.append((os.path.relpath(full, out).replace(os.sep, "/"), os.path.getsize(full)))
    return files


def mkdirs_code(files):
    dirs = sorted({os.path.dirname(p) for p, _ in files if "/" in p})
    paths = []
    for d in dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            p = "/".join(parts[:i])
            if p not in paths:
                paths.append(p)
    return ("import os\nfor d in %r:\n    try:\n        os.mkdir(d)\n    except OSError:\n"
            "        pass\n" % paths)


def copy(mpremote, port, out, files, run=subprocess.run):
    total = sum(s for _, s in files)
    print("deploy: copying %d files (%.1f KB) to %s" % (len(files), total / 1024, port))
    r = run([mpremote, "connect", port, "exec", mkdirs_code(files)], cwd=out)
    if r.returncode:
        return fail(["mpremote could not reach the board on %s (exit %d): is another program "
                     "(a serial monitor, make repl) holding the port?" % (port, r.returncode)])
    done = 0
    for i in range(0, len(files), BATCH):
        batch = files[i:i + BATCH]
        cmd = [mpremote, "connect", port]
        for path, _ in batch:
            if len(cmd) > 3:
                cmd.append("+")
            cmd += ["cp", path, ":" + path]
        r = run(cmd, cwd=out, stdout=subprocess.DEVNULL)
        if r.returncode:
            return fail(["copying %s failed (mpremote exit %d); the board keeps what was copied "
                         "before it: run make deploy again" % (batch[0][0], r.returncode)])
        done += sum(s for _, s in batch)
        print("deploy: [%3d/%d] %5.1f of %.1f KB  %s" % (
            min(i + BATCH, len(files)), len(files), done / 1024, total / 1024, batch[-1][0]))
        sys.stdout.flush()
    r = run([mpremote, "connect", port, "reset"], cwd=out)
    if r.returncode:
        return fail(["the files are on the board, but the reset failed: press its reset button"])
    print("deploy: done; the board restarted (make repl PORT=%s shows its log)" % port)
    return 0


def check(board, config):
    """The board's own config check on this computer (tools/deploy_tree.py check): the
    problems, as lines; [] when the board would boot with it."""
    if not os.path.isfile(config):
        return ["%s is missing: cp firmware/config_example.py firmware/config_local.py and "
                "edit it (or CONFIG=<file>)" % os.path.relpath(config, ROOT)]
    try:
        problems = preflight.placeholder_problems(deploy_tree.read_config(config))
    except SystemExit as e:
        return [str(e)]
    except Exception as e:          # the file itself does not run: a syntax error, say
        return ["%s: %s: %s" % (config, e.__class__.__name__, e)]
    if problems:
        return (["%s still holds the example's placeholders:" % os.path.basename(config)] +
                ["  " + p for p in problems])
    try:
        cfg = deploy_tree.check(board, config)
    except ValueError as e:         # outpost.config.ConfigError names the key
        return ["config: " + line for line in str(e).splitlines()[:1]] + \
            ["  " + line.strip() for line in str(e).splitlines()[1:]]
    for line in warnings(cfg):
        print("warning: " + line, file=sys.stderr)
    return []


def warnings(cfg):
    # what the board accepts but a person would not want: a board that can never tell anyone
    on = {"smtp": bool(cfg["smtp"]["host"]), "mqtt": bool(cfg["mqtt"]["host"]),
          "serial": cfg["serial"]["uart"] >= 0}
    if not [p for p in cfg["transport"]["order"] if on[p]]:
        return ["transport.order: no path in it is configured (smtp.host, mqtt.host and "
                "serial.uart are unset for " + ", ".join(cfg["transport"]["order"]) +
                "): every alert stays in the board's outbox"]
    return []


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", default="")
    ap.add_argument("--port", default="")
    ap.add_argument("--config", default=os.path.join(ROOT, "firmware", "config_local.py"))
    ap.add_argument("--out", default=None, help="default: build/device/<board>")
    ap.add_argument("--mpremote", default=os.path.join(os.path.dirname(sys.executable), "mpremote"))
    ap.add_argument("--extra-lib", action="append", default=[],
                    help="a folder of modules the board's image would bring (umqtt for unix)")
    ap.add_argument("--check", action="store_true",
                    help="only the config check (make check): no port, nothing compiled")
    a = ap.parse_args(argv)
    every = sorted(b for b in os.listdir(os.path.join(ROOT, "boards"))
                   if os.path.isfile(os.path.join(ROOT, "boards", b, "board.py")))
    # the emulated board runs from the tree (make test-alert BOARD=emulated): nothing to copy
    boards = every if a.check else [b for b in every if b not in ("emulated",)]
    if a.board not in boards:
        return fail(["BOARD=%s: not a board; one of %s" % (a.board, " ".join(boards))])
    # the config first: every problem the board would find at boot, before the port is touched
    problems = check(a.board, a.config)
    if a.check:
        if problems:
            return fail(problems)
        print("check: %s is valid for %s (the board's own check, as at boot)"
              % (os.path.relpath(a.config), a.board))
        return 0
    problems += preflight.port_problems(a.port)
    if problems:
        return fail(problems)
    out = a.out or os.path.join(ROOT, "build", "device", a.board)
    print("deploy: %s checked for %s; compiling" % (os.path.basename(a.config), a.board))
    try:
        n = deploy_tree.build(a.board, a.config, out, a.extra_lib)
    except ValueError as e:         # outpost.config.ConfigError names the key
        return fail(["config: " + str(e)])
    print("deploy: config valid (config.json %d bytes)" % n)
    if not os.path.exists(a.mpremote):
        return fail(["no %s: make setup-py installs the pinned mpremote" % a.mpremote])
    return copy(a.mpremote, preflight.resolve_port(a.port), out, board_files(out))


if __name__ == "__main__":
    sys.exit(main())
