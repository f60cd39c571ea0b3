"""Heap of a whole wake of the board (printed, never asserted; tests hold the gates).

    .venv/bin/python bench/board_heap.py            # prints the table, writes bench/board_heap.json
    .venv/bin/python bench/board_heap.py --docs     # and puts the table into README.md and
                                                    # boards/README.md (tests/infra/test_board_heap_docs.py
                                                    # fails when the docs differ from the json)

1. Lays out the deploy tree (tools/deploy_tree.py, .mpy files as `make deploy` copies them).
2. On the MicroPython VM compiled to WebAssembly, which is 32-bit like an ESP32
   (bench/board_heap.mjs): the heap each module holds after import; a quiet wake as a
   battery board runs it (woken from deep sleep with nothing due: outpost/quiet.py, no app, to
   its deep sleep); and the first step after power-on of a board that does not deep-sleep.
3. The same modules on the real MicroPython unix port (PyPI, 64-bit): the measured 32/64-bit
   ratio of the heap they hold.
4. On that port, by bisection, the smallest `-X heapsize` at which each wake completes from
   boot.py (boot, sample, one alert or the day's report, and its delivery) against real peers.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "realmp"),
                os.path.join(ROOT, "tests", "firmware")]
JSON_FILE = os.path.join(ROOT, "bench", "board_heap.json")

from heap_search import smallest_heap  # noqa: E402

# the goals, printed beside each figure
GOALS = {"smtp_app": "96k (the issue's gate: 112k)", "smtp_sendwake": "-", "mqtt": "96k",
         "report_charts": "128k", "report_plain": "112k", "smtp_deep": "-",
         "quiet_wake_vm": "24 KB"}
WAKES = [  # key, what, how it completes
    ("smtp_app", "boot, sample, one alert, STARTTLS + AUTH + send, in the app's own wake "
                 "(`smtp.send_wake_below` 0: no reset)"),
    ("smtp_sendwake", "the same, the SMTP step after a reset (a send wake)"),
    ("mqtt", "boot, sample, one alert, the mail server unreachable (the SMTP step in the app's "
             "own wake), the MQTT fallback (QoS 1)"),
    ("report_charts", "boot, samples, the report with its charts over STARTTLS, in one wake"),
    ("report_plain", "the same report without charts (`report.chart` false)"),
    ("smtp_deep", "a battery board (`deep_sleep`): quiet wakes, then the door opens: the alert "
                  "sent in that wake from deep sleep, in the app's own wake"),
]


def completes(cfg, heap_kb, want):
    from realboard import RealBoard
    d = pathlib.Path(tempfile.mkdtemp(prefix="board-heap-"))
    with RealBoard(d, cfg, heapsize="%dk" % heap_kb) as b:
        with open(os.path.join(b.fs, "pin27"), "w") as f:
            f.write("1" if cfg["rules"] and not cfg.get("deep_sleep") else "0")
        b.start()
        deadline = time.monotonic() + 30
        if cfg.get("deep_sleep"):
            # two quiet wakes from deep sleep first, then the door opens
            while b.count("deep sleep") < 3 and time.monotonic() < deadline and not b.count("Traceback"):
                time.sleep(0.05)
            with open(os.path.join(b.fs, "pin27"), "w") as f:
                f.write("1")
        failed = lambda: (b.count("kept unix1-1-1") or b.count("machine.reset()")  # noqa: E731
                          or b.count("without them") or b.count("out of memory"))
        while time.monotonic() < deadline:
            # back in the outbox, a crash, the charts shed, or a step lost to memory (the
            # MQTT fallback can deliver after the SMTP step failed so): not a clean wake
            if failed():
                return False
            if b.count(want):
                return not failed()
            time.sleep(0.05)
        return bool(b.count(want)) and not failed()


def smallest(cfg, want, lo=64, hi=320, step=4):
    return smallest_heap(lambda kb: completes(cfg, kb, want), lo, hi, gap=step, step=step)


def held_64(tree, modules):
    """{module: heap held after import} on the PyPI unix port, in the VM's order."""
    code = ("import gc\nimport machine, board\n"
            "for m in %r:\n"
            "    gc.collect(); a = gc.mem_alloc()\n"
            "    try:\n        __import__(m)\n    except ImportError:\n        continue\n"
            "    gc.collect(); print('H', m, gc.mem_alloc() - a)\n" % (modules,))
    from realboard import MICROPYTHON
    out = subprocess.run([MICROPYTHON, "-X", "heapsize=1m", "-c", code], cwd=tree,
                         env=dict(os.environ, MICROPYPATH=":.frozen:lib"),
                         capture_output=True, text=True, check=True).stdout
    return {m: int(n) for _, m, n in (line.split() for line in out.splitlines() if line.startswith("H "))}


def wake_configs(srv, broker):
    from test_board_real import board_config, closed_port_smtp, mqtt_cfg, starttls_auth
    report = {"at": "", "every": 6, "csv_every": 1}
    charts = board_config(smtp=starttls_auth(srv, send_wake_below=0), order=("smtp",))
    charts.update(rules=[], report=dict(report, chart=True))
    plain = board_config(smtp=starttls_auth(srv, send_wake_below=0), order=("smtp",))
    plain.update(rules=[], report=dict(report, chart=False))
    return {
        "smtp_app": board_config(smtp=starttls_auth(srv, send_wake_below=0), order=("smtp",)),
        "smtp_sendwake": board_config(smtp=starttls_auth(srv, send_wake_below=1 << 20), order=("smtp",)),
        "mqtt": board_config(smtp=dict(closed_port_smtp(), send_wake_below=0), mqtt=mqtt_cfg(broker)),
        "report_charts": charts, "report_plain": plain,
        "smtp_deep": dict(board_config(smtp=starttls_auth(srv, send_wake_below=0), order=("smtp",)),
                          deep_sleep=True),
    }


def measure():
    tree = os.path.join(tempfile.mkdtemp(prefix="board-tree-"), "flash")
    from realboard import layout
    import deploy_tree
    layout(tree, deploy_tree.read_config(os.path.join(ROOT, "bench", "board_config.py")))
    out = subprocess.run(["node", os.path.join(ROOT, "bench", "board_heap.mjs"), tree],
                         capture_output=True, text=True, check=True).stdout
    print(out.split("\nJSON ")[0])
    vm = json.loads(out.split("\nJSON ")[1])
    h64 = held_64(tree, [m for m in vm["modules"] if m not in ("machine", "board")])
    both = [m for m in h64 if m in vm["modules"]]
    ratio = sum(vm["modules"][m] for m in both) / float(sum(h64[m] for m in both))
    from peers.mosquitto import Mosquitto
    from peers.smtpd import MailServer
    heaps = {}
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True,
                    chunking=True) as srv, Mosquitto() as broker:
        cfgs = wake_configs(srv, broker)
        for key, _ in WAKES:
            want = "sent unix1-1-1 via " + ("mqtt" if key == "mqtt" else "smtp")
            heaps[key] = smallest(cfgs[key], want)
            print("  %-14s %s" % (key, heaps[key]), flush=True)
    return {"vm_version": vm["vm_version"], "quiet_wake_vm": vm["quiet_wake"],
            "first_step_vm": vm["first_step"],
            "vm_steps": vm["steps"], "vm_modules": vm["modules"], "held_64": h64,
            "ratio_32_64": round(ratio, 2), "smallest_heap_kb": heaps}


def table(f):
    """The markdown table the docs carry (README.md, boards/README.md), from the figures."""
    kb = lambda n: "%.1f KB" % (n / 1024.0)    # noqa: E731
    rows = ["| wake | smallest heap, 64-bit unix port (PyPI) | goal |", "|---|---|---|"]
    for key, what in WAKES:
        k = f["smallest_heap_kb"][key]
        rows.append("| %s | %s | %s |" % (what, "%dk" % k if k else "over 320k", GOALS[key]))
    s = f["vm_steps"]
    rows += ["", "| 32-bit WebAssembly VM (MicroPython %s), heap held | | goal |" % f["vm_version"],
             "|---|---|---|",
             "| a quiet wake as a battery board runs it (from deep sleep, nothing due: boot.py, "
             "main.py, `outpost/quiet.py` to its deep sleep, no app, no Wi-Fi; the interned names "
             "of every module it loaded included) | %s | %s |"
             % (kb(f["quiet_wake_vm"]), GOALS["quiet_wake_vm"]),
             "| its modules (run, clock, report, sensors, rules, rtc, quiet; the unix port's "
             "`machine` stand-in included) | %s | |" % kb(s["quiet wake"]),
             "| the first step after power-on (the app's boot and one sample, no alert; the name "
             "pool grown at boot for the alerts to come) | %s | |" % kb(f["first_step_vm"]),
             "| + the app, for a wake with work (app, outbox, Wi-Fi) | %s | |" % kb(s["the app"]),
             "| + an alert's words and journalling (its record written without the record codec) | %s | |"
             % kb(s["an alert"]),
             "| + the sending half, with something in the outbox (sending, crash) | %s | |"
             % kb(s["sending"]),
             "| the SMTP step's modules (sendwake, usmtp client and writer, the alert's email) | %s | "
             "24 KB for the send modules (lib/usmtp) |" % kb(s["smtp step"]),
             "| the MQTT step's modules (transport chain, MQTT path, its sending and connecting, "
             "umqtt.simple) | %s | |" % kb(s["mqtt step"]),
             "", "Measured 32-bit/64-bit ratio of the heap these modules hold: %.2f." % f["ratio_32_64"]]
    return "\n".join(rows) + "\n"


BEGIN = "<!-- bench/board_heap.py: begin -->\n"
END = "<!-- bench/board_heap.py: end -->\n"
DOCS = [os.path.join(ROOT, "README.md"), os.path.join(ROOT, "boards", "README.md")]


def doc_block(text):
    """The table between the markers in a doc's text (None when it has none)."""
    m = re.search(re.escape(BEGIN) + "(.*?)" + re.escape(END), text, re.S)
    return m.group(1) if m else None


def write_docs(f):
    for p in DOCS:
        with open(p) as fh:
            text = fh.read()
        if doc_block(text) is None:
            raise SystemExit(p + ": no " + BEGIN.strip() + " marker")
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda m: BEGIN + table(f) + END,
                      text, flags=re.S)
        with open(p, "w") as fh:
            fh.write(text)


def main(argv):
    f = measure()
    print("\n" + table(f))
    with open(JSON_FILE, "w") as fh:
        json.dump(f, fh, indent=1, sort_keys=True)
        fh.write("\n")
    if "--docs" in argv:
        write_docs(f)


if __name__ == "__main__":
    main(sys.argv[1:])
