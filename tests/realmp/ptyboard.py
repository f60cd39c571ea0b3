"""A board on a serial port, for the real mpremote: the MicroPython unix port behind a
pseudo-terminal, so `make deploy BOARD=unix PORT=<pty>` runs exactly as it does against a USB
board.

    with PtyBoard(tmp_path / "flash") as b:     # b.port: the tty mpremote opens
        ... make deploy BOARD=unix PORT=b.port ...
        b.wait_for("boot 1;")                   # its console after the reset

The board process holds the pty's other end and shuttles bytes to a MicroPython whose own
terminal is a second pty, raw and without echo (a cooked one would echo mpremote's raw-REPL
traffic back and translate its bytes). What a real board does and the unix port does not is
done here:
- the unix port exits on the raw REPL's soft reset (Ctrl-D on an empty line): it is started
  again, says "soft reboot", and is put back into the raw REPL, where mpremote expects it;
- machine.reset() (boards/unix/machine.py, exit 70) is a hard reset: the flash is as mpremote
  left it (b.landed), and the board boots from it: boot.py, then main.py, its console kept in
  b.lines.
"""
import hashlib
import os
import select
import subprocess
import threading
import time
import tty

from peers.closing import Closing, quietly
from realboard import MICROPYTHON, require_runtime

EXIT_RESET = 70
BOOT = "exec(open('boot.py').read()); exec(open('main.py').read())"


def tree(folder):
    """{relative path: sha256} of every file under folder."""
    out = {}
    for d, _, names in os.walk(folder):
        for n in names:
            full = os.path.join(d, n)
            with open(full, "rb") as f:
                out[os.path.relpath(full, folder).replace(os.sep, "/")] = hashlib.sha256(f.read()).hexdigest()
    return out


class PtyBoard(Closing):
    def __init__(self, flash, heapsize="256k"):
        require_runtime()
        self.fs = str(flash)
        os.makedirs(self.fs, exist_ok=True)
        self.heapsize = heapsize
        self.master, slave = os.openpty()
        self.port = os.ttyname(slave)
        self._slave = slave          # held open so the pty lives between mpremote runs
        tty.setraw(slave)            # as pyserial leaves it: what the board says is not echoed
        os.set_blocking(self.master, False)
        self.lines = []              # the console after a hard reset (the app's log)
        self.landed = None           # tree(self.fs) at the hard reset: what the deploy left
        self.soft_resets = 0
        self.resets = 0
        self.booted = False
        self._buf = b""
        self._cond = threading.Condition()
        self._stop = False
        self.child = None
        self._start(repl=True)
        self._thread = threading.Thread(target=self._loop, name="ptyboard", daemon=True)
        self._thread.start()

    # --- the MicroPython process -------------------------------------------------------

    def _start(self, repl, raw=False):
        cm, cs = os.openpty()
        tty.setraw(cs)               # raw, no echo: bytes pass as they are
        env = dict(os.environ, MICROPYTHONPATH="")
        env["MICROPYPATH"] = ":.frozen:lib"     # as on an ESP32: '', frozen modules, /lib
        args = [MICROPYTHON, "-X", "heapsize=" + self.heapsize]
        if not repl:
            args += ["-c", BOOT]
        self.child = subprocess.Popen(args, stdin=cs, stdout=cs, stderr=cs, cwd=self.fs,
                                      env=env, close_fds=True)
        os.close(cs)
        self.cm = cm
        if raw:
            # back to where mpremote left it: the raw REPL (after the banner's prompt)
            self._expect(b">>> ", 10)
            os.write(cm, b"\x01")

    def _expect(self, text, timeout):
        # read the new child's output up to `text`, not forwarded (its banner)
        got = b""
        end = time.monotonic() + timeout
        while text not in got and time.monotonic() < end:
            r, _, _ = select.select([self.cm], [], [], 0.1)
            if r:
                try:
                    got += os.read(self.cm, 4096)
                except OSError:
                    break
        return got

    def _to_port(self, data):
        # what the board says goes to the port; with nobody reading, it is dropped, as a UART
        # drops what no one listens to
        try:
            os.write(self.master, data)
        except (BlockingIOError, OSError):
            pass

    def _exited(self, rc):
        os.close(self.cm)
        if rc == EXIT_RESET:
            # machine.reset(): mpremote's `reset`; the board boots what was copied
            landed = tree(self.fs)
            with self._cond:
                self.landed = landed
                self.resets += 1
                self.booted = True
                self._cond.notify_all()
            self._start(repl=False)
        else:
            # the unix port ends on the raw REPL's soft reset: a board would say this and stay
            self.soft_resets += 1
            self._to_port(b"soft reboot\r\n")
            self._start(repl=True, raw=True)

    def _loop(self):
        while not self._stop:
            r, _, _ = select.select([self.master, self.cm], [], [], 0.1)
            if self.cm in r:
                try:
                    data = os.read(self.cm, 4096)
                except OSError:
                    data = b""
                if data:
                    self._to_port(data)
                    if self.booted:
                        self._console(data)
                elif self.child.poll() is not None or not data:
                    rc = self.child.wait()
                    if self._stop:
                        return
                    self._exited(rc)
                    continue
            if self.master in r:
                try:
                    data = os.read(self.master, 4096)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    os.write(self.cm, data)

    def _console(self, data):
        with self._cond:
            self._buf += data
            while b"\n" in self._buf:
                line, self._buf = self._buf.split(b"\n", 1)
                self.lines.append(line.decode("utf-8", "replace").rstrip("\r"))
            self._cond.notify_all()

    def wait_reset(self, timeout=30):
        """The tree as it was at the first hard reset (mpremote's `reset` returns before the
        board has acted on it)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self.landed is None:
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("the board was not reset within %.0f s" % timeout)
                self._cond.wait(left)
            return self.landed

    def wait_for(self, text, timeout=30):
        end = time.monotonic() + timeout
        with self._cond:
            while not any(text in line for line in self.lines):
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("board console has no %r after %.0f s; tail:\n%s"
                                         % (text, timeout, "\n".join(self.lines[-30:])))
                self._cond.wait(left)

    def close(self):
        self._stop = True
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait(10)
        self._thread.join(10)
        for fd in (self.master, self._slave):
            quietly(os.close, fd)
