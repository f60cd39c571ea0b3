# lane: micropython
# The driver's per-reply clock (client.ms: milliseconds since a start) runs on both runtimes.
from usmtp import client


def test_elapsed_ms_counts_from_a_start_tick():
    start = client.ms()
    x = 0
    for i in range(20000):
        x += i
    e = client.ms(start)
    assert isinstance(e, int) and 0 <= e < 60000, e
