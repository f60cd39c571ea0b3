# Stand-in for the `micropython` module on the emulated board.


def const(x):
    return x


def opt_level(level=None):
    return 0


def alloc_emergency_exception_buf(size):
    pass


def mem_info(verbose=False):
    print("mem: emulated board")


def schedule(fn, arg):
    fn(arg)
