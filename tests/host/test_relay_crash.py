# A real gateway process killed (SIGKILL) at random points of its pipelined batches, over four
# upstream connections: nothing is lost, and each crash makes the upstream get again at most
# one message per connection (the one whose reply was on its way), with the same Message-ID.
# bench/gateway_crash.py runs the same over many more kills and prints the figures.
import random

import pytest

import relay_crash


@pytest.mark.peers
def test_kill_mid_batch_resends_at_most_one_per_connection(tmp_path):
    connections = 4
    r = relay_crash.run(tmp_path, random.Random(19), n=400, kills=5, connections=connections)
    assert set(r["count"]) == r["want"]                     # every alert arrived
    assert all(n <= connections for n in r["per_crash"]), r["per_crash"]
    # the same Message-ID both times (counted by it), and nothing a third time
    assert max(r["count"].values()) <= 2
