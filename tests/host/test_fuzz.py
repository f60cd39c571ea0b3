# Property fuzz (hypothesis) over what the gateway reads from outside: alert records, serial
# frames and SMTP command sequences, 10,000 cases a run in all, on fast in-process targets
# (tests/host/fuzz_targets.py): the decoder raises only RecordError and round-trips what it
# accepts, the serial ingress handles every line without raising, and an SMTP session never
# fails in a handler, answers only well-formed replies, and queues nothing for a client that
# did not authenticate. bench/fuzz_soak.py runs the same targets for longer.
import pytest
from hypothesis import HealthCheck, given, settings

from fuzz_targets import Targets, frames, records, smtp_sessions



def fast(n):
    return settings(max_examples=n, deadline=None, suppress_health_check=list(HealthCheck), database=None)


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def targets():
    t = Targets()
    yield t
    t.close()


def test_records(targets):
    @fast(4000)
    @given(records())
    def run(data):
        targets.record(data)
    run()


def test_frames(targets):
    @fast(3500)
    @given(frames())
    def run(line):
        targets.frame(line)
    run()


def test_smtp_command_sequences(targets):
    @fast(2500)
    @given(smtp_sessions())
    def run(lines):
        targets.smtp_session(lines)
    run()
