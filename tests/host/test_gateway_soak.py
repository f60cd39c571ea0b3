# The gateway soak, short (bench/gateway_soak.py is the long one and prints the figures): alerts
# over MQTT through a real gateway process to an upstream injecting faults, with two broker
# restarts and two SIGKILLs of the gateway. Nothing is lost, each crash re-sends at most one
# message per upstream connection, and finished alerts are purged after spool.keep_done_days.
import pytest

import soak_run


@pytest.mark.slow
@pytest.mark.peers
def test_soak_short_nothing_lost_at_most_one_per_connection_per_crash(tmp_path):
    r = soak_run.run(tmp_path, n=1200, chunk=200, kills=2, restarts=2, connections=4,
                     keep_seconds=4.0, timeout=240.0)
    assert r["lost"] == [], "%d lost, e.g. %s" % (len(r["lost"]), r["lost"][:5])
    assert all(k <= r["connections"] for k in r["per_crash"]), r["per_crash"]
    assert r["faults"] >= 3, r["faults"]   # the upstream's faults were met (about 1 message in 100)
    assert r["alerts_left"] == 0            # every finished alert purged once it was old enough
