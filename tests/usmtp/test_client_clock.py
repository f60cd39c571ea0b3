# lane: micropython
# The driver's per-reply clock (client.ticks_ms/elapsed_ms) runs on both runtimes.
from usmtp import client


def test_elapsed_ms_counts_from_a_start_tick():
    start = client.ticks_ms()
    x = 0
    for i in range(20000):
        x += i
    e = client.elapsed_ms(start)
    assert isinstance(e, int) and 0 <= e < 60000, e
