"""Heap of a whole wake of the board (printed, never asserted).

    .venv/bin/python bench/board_heap.py

1. Lays out the deploy tree (tools/deploy_tree.py, .mpy files as `make deploy` copies them) and
   prints what each module holds after import on the WebAssembly MicroPython VM, which is
   32-bit like an ESP32 (bench/board_heap.mjs).
2. On the real MicroPython unix port (64-bit), finds by bisection the smallest `-X heapsize`
   at which a whole wake completes from boot.py: boot, sample, one alert, and
   (a) STARTTLS + AUTH + send to a mail server with its own CA, the SMTP step in a send wake
       of its own (the default below 200 KB of heap, smtp.send_wake_below);
   (a') the same with the SMTP step in the app's wake (smtp.send_wake_below = 0);
   (b) the mail server unreachable, the MQTT fallback (QoS 1, a real Mosquitto).
   The goal is 96k for (a) and (b); issue 7's test bound is 128k.
"""
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "realmp"),
                os.path.join(ROOT, "tests", "firmware")]

from peers.mosquitto import Mosquitto  # noqa: E402
from peers.smtpd import MailServer  # noqa: E402
from heap_search import smallest_heap  # noqa: E402
from realboard import MP_LIB, RealBoard  # noqa: E402
from test_board_real import board_config, closed_port_smtp, mqtt_cfg, starttls_auth  # noqa: E402


def completes(cfg, heap_kb, want):
    d = pathlib.Path(tempfile.mkdtemp(prefix="board-heap-"))
    with RealBoard(d, cfg, heapsize="%dk" % heap_kb) as b:
        with open(os.path.join(b.fs, "pin27"), "w") as f:
            f.write("1")
        b.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if b.count(want):
                return True
            if b.count("kept unix1-1-1") or b.count("machine.reset()"):
                return False    # back in the outbox, or a crash: the wake did not make it
            time.sleep(0.05)
        return bool(b.count(want))


def smallest(cfg, want, lo=64, hi=320, step=4):
    return smallest_heap(lambda kb: completes(cfg, kb, want), lo, hi, gap=step, step=step)


def main():
    tree = tempfile.mkdtemp(prefix="board-tree-")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy_tree.py"), "--board", "unix",
                    "--config", os.path.join(ROOT, "bench", "board_config.py"),
                    "--out", tree, "--extra-lib", MP_LIB], check=True)
    subprocess.run(["node", os.path.join(ROOT, "bench", "board_heap.mjs"), tree], check=False)
    print("\nMicroPython unix port (64-bit), smallest -X heapsize for a whole wake from boot.py:")
    with MailServer(tls="starttls", auth_users={"board": "s3cret"}, auth_required=True,
                    chunking=True) as srv:
        k = smallest(board_config(smtp=starttls_auth(srv), order=("smtp",)),
                     "sent unix1-1-1 via smtp")
        print("  boot, sample, alert, STARTTLS + AUTH + send (send wake):  %s"
              % ("%dk" % k if k else "> 320k"))
        k = smallest(board_config(smtp=starttls_auth(srv, send_wake_below=0), order=("smtp",)),
                     "sent unix1-1-1 via smtp")
        print("  the same, the SMTP step in the app's wake:              %s"
              % ("%dk" % k if k else "> 320k"))
    with Mosquitto() as broker:
        k = smallest(board_config(smtp=closed_port_smtp(), mqtt=mqtt_cfg(broker)),
                     "sent unix1-1-1 via mqtt")
        print("  boot, sample, alert, mail unreachable -> MQTT:           %s"
              % ("%dk" % k if k else "> 320k"))
    print("  (goal 96k; on a 32-bit ESP32 about half of these figures)")


if __name__ == "__main__":
    main()
