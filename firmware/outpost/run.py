# The board's loop, outside the app, so the app can leave the heap while a mail goes out: when
# the SMTP step is due, the app's run ends with its state (App.hand_over), every module of the
# app is unloaded, the step runs with only the SMTP path and usmtp in the heap
# (sendwake.step), and an App boots again from that state, in the same wake: no reset, no new
# Wi-Fi association. Code in the heap is what a board pays for, not the work.
import gc
import sys

from outpost import unload

CONFIG_FILE = "config.json"


def load_config(root=""):
    """The config `make deploy` checked in full on the computer and wrote compact
    (tools/deploy_tree.py): the board reads it without loading the checker. Without that file
    (a config_local.py copied by hand) the full check runs here."""
    import json
    try:
        f = open(root + "/" + CONFIG_FILE if root else CONFIG_FILE)
    except OSError:
        from outpost import config
        return config.load()
    with f:
        try:
            return json.load(f)
        except ValueError as e:
            from outpost import config
            raise config.ConfigError(CONFIG_FILE + ": unreadable (" + str(e) + "); deploy again")


def _drop_app():
    # every module of the app and what it loaded; this module and the package stay
    for name in list(sys.modules):
        top = name.split(".")[0]
        if (top == "outpost" and name not in ("outpost", "outpost.run")) or \
                top in ("outpost_contract", "usmtp", "umqtt"):
            unload(name)


def _run_app(cfg, board, machine, time, hop, wdt, first=None):
    # its own frame: nothing of the app stays referenced once it returns
    from outpost import app
    a = app.App(cfg, board, machine, time)
    a.first = first
    hop = a.run(hop, wdt)
    return hop, a.wdt


def _quiet(cfg, board, machine, time):
    # a wake from deep sleep: when it has nothing to say, quiet.wake puts the board back to
    # sleep without the app; otherwise it hands over its sample (or, when its look failed,
    # nothing) and the watchdog it started
    from outpost import quiet
    try:
        return quiet.wake(cfg, board, machine, time)
    finally:
        quiet = None
        unload("outpost.quiet")


def start(root):
    """The config, read as a wake starts (bench/board_heap.mjs's quiet wake calls this too)."""
    try:
        cfg = load_config(root)
        unload("outpost.config")
    except ValueError as e:
        config_error(e, root)
    gc.collect()
    return cfg


def main(board, machine, time):
    root = getattr(board, "FS_ROOT", "")
    hop = wdt = first = None
    cfg = start(root)
    if cfg["deep_sleep"] and machine.reset_cause() == machine.DEEPSLEEP_RESET:
        first, wdt = _quiet(cfg, board, machine, time)
        _drop_app()     # the app loads its own, low in the heap it leaves
        gc.collect()
    while True:
        try:
            # returns for the SMTP step
            hop, wdt = _run_app(cfg, board, machine, time, hop, wdt, first)
            first = None
        except ValueError as e:
            config_error(e, root)
        except MemoryError:
            if hop is None:
                raise
            # the App after the SMTP step found no room in the heap the step left
            _drop_app()
            gc.collect()
            from outpost import rtc
            rtc.fresh_heap(cfg, machine, hop)
        _drop_app()
        gc.collect()
        if wdt is not None:
            wdt.feed()
        from outpost import sendwake
        sendwake.step(root, cfg, wdt.feed if wdt is not None else None)
        sendwake = None
        _drop_app()
        gc.collect()


def config_error(e, root):
    if e.__class__.__name__ != "ConfigError":   # outpost.config is not loaded to ask it
        raise e
    # the board cannot run: it says so over every path it can reach, then sleeps with a long
    # backoff and says it again, never resetting (the watchdog is not started yet); the app's
    # modules leave room for a TLS handshake
    _drop_app()
    gc.collect()
    from outpost import cfgerror
    cfgerror.run(e, root)
