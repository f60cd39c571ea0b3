# The smallest heap (KB) at which a run still succeeds, found by bisection; shared by the benches
# that look for a board's minimum heap (bench/board_heap.py, bench/usmtp_minheap.py).


def smallest_heap(works, lo, hi, gap=1, step=1):
    """works(kb) -> bool, taken as monotonic in kb. Bisects until hi - lo <= gap, each probe
    rounded down to a multiple of step; None when even hi fails."""
    if not works(hi):
        return None
    while hi - lo > gap:
        mid = (lo + hi) // 2 // step * step
        if works(mid):
            hi = mid
        else:
            lo = mid
    return hi
