# lane: micropython
# The driver's per-reply clock (netio.ticks_ms/elapsed_ms) runs on both runtimes.
from usmtp import netio


def test_elapsed_ms_counts_from_a_start_tick():
    start = netio.ticks_ms()
    x = 0
    for i in range(20000):
        x += i
    e = netio.elapsed_ms(start)
    assert isinstance(e, int) and 0 <= e < 60000, e
