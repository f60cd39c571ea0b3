# Outpost board firmware. main.py calls outpost.run.main(). What every step shares lives here,
# in the one module a wake always holds: unload() and the two outcomes a path raises.
import sys

VERSION = "0.1.0"


def unload(prefix):
    # drop a finished step's modules so the next step has their heap (they load again on use);
    # a package keeps its imported submodules as attributes, so those go too. Only on the
    # board: under CPython (the emulated board) other code in the process shares the modules
    if sys.implementation.name != "micropython":
        return
    for name in list(sys.modules):
        if name == prefix or name.startswith(prefix + "."):
            del sys.modules[name]
    parent, _, child = prefix.rpartition(".")
    if parent and parent in sys.modules:
        try:
            delattr(sys.modules[parent], child)
        except (AttributeError, KeyError):    # MicroPython says KeyError
            pass


class Down(Exception):
    # an outage of a path: try the next one, retry later
    pass


class Refused(Exception):
    # a permanent answer about this message (5xx): not retried anywhere
    pass
