# lane: micropython
# Helpers shared by the pytest lane and the MicroPython VM lane: plain functions, no pytest import.


def raises(exc_type, fn, *args, **kw):
    # call fn and return the exception it raised; fail when it raised nothing or something else
    try:
        fn(*args, **kw)
    except exc_type as e:
        return e
    raise AssertionError("expected " + exc_type.__name__ + " from " + getattr(fn, "__name__", "call"))
