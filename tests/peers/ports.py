"""Loopback ports for the test peers: pick a free one, wait until one accepts.

Tests run in several processes at once (pytest-xdist workers, and the lanes side by side), and
a port is picked some time before the server that gets it binds it. A port the kernel hands
out for bind(0) is also one it may hand to any outgoing connection meanwhile (both come from
the ephemeral range), and to another worker's bind(0). So each process takes its ports from
its own block below the ephemeral range, in turn from a random start: no two workers of one
run share a block, no outgoing connection takes one, and a port is not picked again before
its block wraps. Each pick is still checked by binding it (without SO_REUSEADDR, so a port in
TIME_WAIT is passed over too).
"""
import os
import random
import socket
import threading
import time

FIRST = 12000           # ports below the ephemeral range (Linux: 32768-60999)
BLOCK = 800             # ports per process
BLOCKS = 25             # 12000 + 25 * 800 = 32000
_lock = threading.Lock()
_next = []


def _block():
    # the lane's number (set by tools/run_lanes.py) and the xdist worker's (gw0, gw1, ...)
    lane = int(os.environ.get("OUTPOST_PORT_LANE", "0") or 0)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    w = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    return (lane * 8 + w) % BLOCKS


def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port():
    base = FIRST + _block() * BLOCK
    with _lock:
        if not _next:
            _next.append(random.randrange(BLOCK))
        for _ in range(BLOCK):
            port = base + _next[0]
            _next[0] = (_next[0] + 1) % BLOCK
            if _free(port):
                return port
    # the whole block is taken (should not happen): fall back on the kernel's pick
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(host, port, timeout, proc=None):
    """Poll until host:port accepts a TCP connection; False on timeout or if proc exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((host, port), 0.5):
                return True
        except OSError:
            time.sleep(0.02)
    return False
