"""tests/peers/ports.py: each test process picks loopback ports from its own block, below the
ephemeral range, never the same one twice in a row, and only ports nothing holds."""
import os
import socket
import subprocess
import sys

from peers import ports

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def picks(worker, lane="0", n=5):
    code = "from peers.ports import free_port\nprint(' '.join(str(free_port()) for _ in range(%d)))" % n
    env = dict(os.environ, PYTEST_XDIST_WORKER=worker, OUTPOST_PORT_LANE=lane,
               PYTHONPATH=os.path.join(ROOT, "tests"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return [int(p) for p in out.stdout.split()]


def block_of(port):
    return (port - ports.FIRST) // ports.BLOCK


def test_workers_and_lanes_get_blocks_of_their_own_below_the_ephemeral_range():
    got = {(w, lane): picks(w, lane) for w in ("", "gw0", "gw1", "gw3") for lane in ("0", "2")}
    blocks = {}
    for key, ps in got.items():
        assert all(ports.FIRST <= p < 32768 for p in ps), (key, ps)
        assert len(set(block_of(p) for p in ps)) == 1, (key, ps)
        blocks[key] = block_of(ps[0])
    assert len(set(blocks.values())) == len(blocks), blocks
    assert all(len(set(ps)) == len(ps) for ps in got.values())


def test_a_port_in_use_is_passed_over():
    first = ports.free_port()
    nxt = first + 1 if block_of(first + 1) == block_of(first) else first - ports.BLOCK + 1
    held = socket.socket()
    try:
        held.bind(("127.0.0.1", nxt))       # the port the next pick would be
        seen = [ports.free_port() for _ in range(50)]
        assert nxt not in seen
        assert len(set(seen)) == len(seen) and first not in seen
    finally:
        held.close()
