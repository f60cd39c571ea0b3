# The emulated board: runs the unchanged firmware (boot.py, main.py, the outpost package) in a
# thread of this CPython process, with the stand-ins beside this package in place of MicroPython's
# modules, a movable clock, scripted sensors, switchable Wi-Fi, a flash directory and RTC memory.
#
# How the firmware is kept unaware: modules loaded from firmware/ (and the board module) get
# their own builtins whose __import__ maps `time`, `sys` and `gc` to MicroPython-shaped stand-ins;
# everything else (lib/usmtp, sockets, ssl) is the ordinary CPython module.
#
#   board = EmulatedBoard(config, sensors=script, flash_dir=dir)
#   board.start(); board.run(3600)   # one hour of world time, in well under a second
#   board.wifi_up = False; board.run(600); board.close()
import builtins
import gc as _gc
import importlib.abc
import importlib.machinery
import os
import sys
import threading
import traceback
import types

from emulator import clock as _clock
from emulator import script as _script
from emulator import state, vtime
from emulator.errors import BoardReset, DeepSleep

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIRMWARE = os.path.join(ROOT, "firmware")
LIB = os.path.join(ROOT, "lib")

STANDINS = ("machine", "network", "ntptime", "micropython", "esp32", "esp", "umqtt", "umqtt.simple",
            "board")
FIRMWARE_MODULES = ("outpost", "board", "config_local", "main", "boot")

DEFAULT_START = 1795842000  # 2026-11-28T05:00:00Z

PWRON_RESET, DEEPSLEEP_RESET = 1, 4


def _print_exception(e, file=None):
    traceback.print_exception(type(e), e, e.__traceback__, file=file or sys.stdout)


def _proxy(name, real, extra):
    m = types.ModuleType(name)
    m.__dict__.update({k: getattr(real, k) for k in dir(real) if not k.startswith("__")})
    m.__dict__.update(extra)
    return m


_SYS = _proxy("sys", sys, {"print_exception": _print_exception})
# a full CPython collection costs milliseconds in a big test process; the young generation is
# what the firmware's frequent gc.collect() would free anyway
_GC = _proxy("gc", _gc, {"mem_free": lambda: 110000, "mem_alloc": lambda: 40000,
                         "threshold": lambda *a: None, "collect": lambda *a: _gc.collect(0)})
_REDIRECT = {"time": vtime, "sys": _SYS, "gc": _GC}


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and name in _REDIRECT:
        return _REDIRECT[name]
    return builtins.__import__(name, globals, locals, fromlist, level)


EMU_BUILTINS = dict(builtins.__dict__)
EMU_BUILTINS["__import__"] = _import


class _Loader(importlib.machinery.SourceFileLoader):
    def exec_module(self, module):
        module.__dict__["__builtins__"] = EMU_BUILTINS
        super().exec_module(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] not in FIRMWARE_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not spec.origin or not spec.origin.endswith(".py"):
            return spec
        spec.loader = _Loader(fullname, spec.origin)
        return spec


def _purge(prefixes):
    for name in list(sys.modules):
        if name.split(".")[0] in prefixes:
            del sys.modules[name]


class BoardError(RuntimeError):
    pass


def ca_beside(cfg, folder):
    # a CA file named by a relative path is the one beside the config file, as `make deploy`
    # reads it (tools/deploy_tree.py), wherever the emulated board is started from
    out = dict(cfg)
    for sect in ("smtp", "mqtt"):
        s = out.get(sect)
        if isinstance(s, dict) and isinstance(s.get("ca"), str) and s["ca"] \
                and "-----BEGIN" not in s["ca"] and not os.path.isabs(s["ca"]):
            out[sect] = dict(s, ca=os.path.join(folder, s["ca"]))
    return out


class EmulatedBoard:
    def __init__(self, config, sensors=None, flash_dir=None, start=None, speed=1.0, instant=True,
                 wifi=True, uart_urls=None, out=None, ntp=True, program=None):
        if state.board is not None:
            raise BoardError("one emulated board per process; close the other first")
        if isinstance(config, dict):
            self.config = config
        else:
            ns = {"__name__": "config_local", "__file__": str(config)}
            with open(str(config)) as f:
                exec(compile(f.read(), str(config), "exec"), ns)
            if "CONFIG" not in ns:
                raise BoardError(str(config) + ": must define CONFIG = {...}")
            self.config = ca_beside(ns["CONFIG"], os.path.dirname(os.path.abspath(str(config))))
        self.clock = _clock.Clock(DEFAULT_START if start is None else start, speed, instant)
        self.script = _script.load(sensors)
        self.flash_dir = os.path.abspath(flash_dir or os.path.join("build", "emulated-flash"))
        os.makedirs(self.flash_dir, exist_ok=True)
        self._wifi = wifi
        self.ntp_up = ntp      # False: NTP servers unreachable even with Wi-Fi
        self.wifi_off = []     # [(from, to)] world seconds since start when the AP is down
        self.uart_urls = dict(uart_urls or {})
        self._uarts = {}
        self.rtc_memory = b""
        self.reset_cause = PWRON_RESET
        self.boots = 0
        self.lines = []
        self.out = out
        self.error = None
        self.thread = None
        self.wdt = None
        self.hw = None
        self.mqtt_clients = []  # umqtt.simple clients the firmware connected (see drop_tcp)
        # source run after boot.py instead of main.py (as `mpremote exec` does on a board)
        self.program = program

    # --- output -----------------------------------------------------------------------

    def log(self, msg):
        from outpost_contract.rules import iso     # the board's own time format
        line = "[" + iso(self.clock.world()) + " emu] " + msg
        self.lines.append(line)
        if self.out:
            self.out(line)

    def console(self, text):
        # the board's print() output
        for line in text.splitlines():
            if line.strip():
                self.lines.append(line)
                if self.out:
                    self.out(line)

    # --- hardware plumbing ------------------------------------------------------------

    @property
    def wifi_up(self):
        t = self.clock.elapsed()
        for a, b in self.wifi_off:
            if a <= t < b:
                return False
        return self._wifi

    @wifi_up.setter
    def wifi_up(self, on):
        self._wifi = bool(on)

    def open_uart(self, uid, url, baud):
        port = self._uarts.get(uid)
        if port is None:
            import serial
            port = serial.serial_for_url(url, baudrate=baud, timeout=0)
            self._uarts[uid] = port
        return port

    # --- life cycle -------------------------------------------------------------------

    def _install(self):
        for p in (LIB, FIRMWARE, HERE):
            if p in sys.path:
                sys.path.remove(p)
            sys.path.insert(0, p)
        self._finder = _Finder()
        sys.meta_path.insert(0, self._finder)
        state.board = self

    def start(self):
        self._install()
        sensors = self.config.get("sensors")
        if sensors is None:
            import board as _board
            sensors = _board.BOARD.get("sensors", [])
        _purge(FIRMWARE_MODULES)
        from emulator.hardware import Hardware
        self.hw = Hardware(self, sensors)
        cfg_mod = types.ModuleType("config_local")
        cfg_mod.CONFIG = self.config
        self._cfg_mod = cfg_mod
        self.clock.stop_at = self.clock.world()
        self.thread = threading.Thread(target=self._life, name="emulated-board", daemon=True)
        self.thread.start()
        self._wait_parked(60)
        return self

    def run(self, seconds, timeout=120):
        """Let the firmware run for `seconds` of world time; returns when it is parked again."""
        if self.thread is None:
            self.start()
        c = self.clock
        with c.cond:
            c.stop_at = max(c.stop_at, c.world()) + seconds
            c.parked = False
            c.cond.notify_all()
        self._wait_parked(timeout)

    def _wait_parked(self, timeout):
        import time as _t
        c = self.clock
        end = _t.monotonic() + timeout
        with c.cond:
            while not (c.parked and c.world() >= c.stop_at - 0.001):
                if not self.thread.is_alive():
                    break
                left = end - _t.monotonic()
                if left <= 0:
                    raise BoardError("emulated board still busy after %d s of real time" % timeout)
                c.cond.wait(min(left, 0.2))
        if self.error is not None:
            raise BoardError("firmware thread died: " + repr(self.error)) from self.error

    def close(self, hang_up=False):
        """Stop the board. hang_up=True then ends its open MQTT connections with a DISCONNECT
        (run.py does, see there); otherwise they close when the process ends (the broker then
        publishes the Last Will at once)."""
        c = self.clock
        with c.cond:
            c.closed = True
            c.cond.notify_all()
        if self.thread is not None:
            self.thread.join(30)
        if hang_up:
            for m in self.mqtt_clients:
                if m.is_open():
                    try:
                        m.disconnect()
                    except OSError:
                        pass
        self.mqtt_clients = []
        for p in self._uarts.values():
            try:
                p.close()
            except Exception:
                pass
        state.board = None
        if getattr(self, "_finder", None) in sys.meta_path:
            sys.meta_path.remove(self._finder)
        _purge(FIRMWARE_MODULES)
        _purge(STANDINS)
        for p in (HERE,):
            if p in sys.path:
                sys.path.remove(p)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def drop_tcp(self):
        """The network cuts every TCP connection the board has open (an access point reboots, a
        NAT forgets): the peer sees the connection end without an MQTT DISCONNECT, and the
        board's next read on it fails. Returns how many were open."""
        import socket
        n = 0
        for c in self.mqtt_clients:
            if not c.is_open():
                continue
            try:
                socket.socket.shutdown(c.sock, socket.SHUT_RDWR)   # not SSLSocket's: no TLS state
                n += 1
            except OSError:
                pass        # already closed
        self.mqtt_clients = []
        return n

    def interrupt(self):
        """Ctrl-C on the board's console: KeyboardInterrupt in the firmware at its next sleep or
        ticks_ms() call, which stops the app (main.py lets it through) and leaves the REPL."""
        with self.clock.cond:
            self.clock.interrupt = True
            self.clock.cond.notify_all()

    def power_cycle(self):
        # for tests: a cold start loses RAM, RTC time and RTC memory (flash stays)
        self.rtc_memory = b""
        self.clock.power_on()
        self.reset_cause = PWRON_RESET

    def _exec_file(self, name):
        path = os.path.join(FIRMWARE, name)
        g = {"__name__": "__main__", "__file__": path, "__builtins__": EMU_BUILTINS}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), g)

    def _life(self):
        import io

        class _Out(io.TextIOBase):
            def __init__(s):
                s.buf = ""

            def write(s, text):
                s.buf += text
                while "\n" in s.buf:
                    line, s.buf = s.buf.split("\n", 1)
                    self.console(line)
                return len(text)

        out = _Out()
        EMU_BUILTINS["print"] = lambda *a, **kw: print(*a, **dict(kw, file=kw.get("file") or out))
        while True:
            _purge(FIRMWARE_MODULES)
            sys.modules["config_local"] = self._cfg_mod
            self.boots += 1
            self.log("boot %d (reset cause %d)" % (self.boots, self.reset_cause))
            try:
                self._exec_file("boot.py")
                if self.program is not None:
                    exec(compile(self.program, "<program>", "exec"),
                         {"__name__": "__main__", "__builtins__": EMU_BUILTINS})
                else:
                    self._exec_file("main.py")
                self.log("main.py returned: the board sits at the REPL")
                while True:
                    self.clock.sleep(3600)
            except KeyboardInterrupt:
                self.log("KeyboardInterrupt: the board sits at the REPL")
                try:
                    while True:
                        self.clock.sleep(3600)
                except _clock.Stopped:
                    return
            except BoardReset as r:
                self.reset_cause = r.cause
                self.log("reset")
            except DeepSleep as d:
                self.log("deep sleep %.1f s" % (d.ms / 1000))
                try:
                    self.clock.sleep(d.ms / 1000)
                except _clock.Stopped:
                    return
                self.reset_cause = DEEPSLEEP_RESET
            except _clock.Stopped:
                return
            except BaseException as e:
                self.error = e
                self.log("EMULATOR: firmware escaped with " + repr(e))
                traceback.print_exc()
                with self.clock.cond:
                    self.clock.parked = True
                    self.clock.cond.notify_all()
                return
