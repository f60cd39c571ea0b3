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
    mods = sys.modules
    n = len(prefix)
    # no list of the names: the loop allocates nothing, so a step's modules can go even from
    # a heap too split for a new block (a slot deleted while MicroPython walks a dict is
    # skipped, and the table never shrinks under the walk)
    found = False
    for name in mods:
        if name.startswith(prefix) and (len(name) == n or name[n] == "."):
            del mods[name]
            found = True
    i = prefix.rfind(".")
    # (only a module that was loaded: delattr interns its name, and a new name can need a
    # new block of the name pool)
    if found and i > 0 and prefix[:i] in mods:
        try:
            delattr(mods[prefix[:i]], prefix[i + 1:])
        except (AttributeError, KeyError):    # MicroPython says KeyError
            pass


named = False


def names():
    """Once a wake, as the app boots (outpost/startup.py): the names the modules of an
    alert's work intern (they stay in the heap after the modules go) grow the name pool now,
    one module at a time, while the heap is in one piece; later, between the holes a step
    leaves, its next block (7 KB on a 64-bit board) finds no room. A wake from deep sleep
    gets to the app only when it has work (outpost/quiet.py): a quiet wake never pays for
    them (issue 17)."""
    global named
    if named:
        return
    import gc
    for m in ("sendwake", "alerting", "alerts", "crash", "outbox_write", "transport", "wiring",
              "words"):
        __import__("outpost." + m)
        unload("outpost." + m)
        unload("outpost.smtp_path")     # (sendwake's)
        gc.collect()
    named = True


class Down(Exception):
    # an outage of a path: try the next one, retry later
    pass


class Refused(Exception):
    # a permanent answer about this message (5xx): not retried anywhere
    pass
