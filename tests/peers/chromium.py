# Debian's headless Chromium, driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
# JSON messages separated by NUL on fds 3 and 4), so no WebDriver or websocket package is needed.
# A fresh profile per browser; no network but the pages we open (no sync, updates, components).
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions", "--mute-audio",
         "--remote-debugging-pipe"]


class CdpError(RuntimeError):
    pass


class Chromium:
    def __init__(self, binary=CHROMIUM, width=1200, height=900):
        self.profile = tempfile.mkdtemp(prefix="outpost-chromium-")
        r_in, w_in = os.pipe()      # we write, Chromium reads on fd 3
        r_out, w_out = os.pipe()    # Chromium writes on fd 4, we read
        # the browser's ends are moved above 9 (so neither is 3 or 4 already), then bash makes
        # them fds 3 and 4 and runs the browser (dash takes single-digit fds only)
        hi_in = fcntl.fcntl(r_in, fcntl.F_DUPFD_CLOEXEC, 10)
        hi_out = fcntl.fcntl(w_out, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(r_in)
        os.close(w_out)
        r_in, w_out = hi_in, hi_out
        move = 'exec 3<&%d 4>&%d %d<&- %d>&-; exec "$0" "$@"' % (r_in, w_out, r_in, w_out)
        self.proc = subprocess.Popen(["/bin/bash", "-c", move, binary] + FLAGS +
                                     ["--user-data-dir=" + self.profile, "--window-size=%d,%d" % (width, height),
                                      "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, pass_fds=(r_in, w_out))
        os.close(r_in)
        os.close(w_out)
        self._w = os.fdopen(w_in, "wb", buffering=0)
        self._r = os.fdopen(r_out, "rb", buffering=0)
        self._id = 0
        self._lock = threading.Lock()
        self._buf = b""
        self.events = []
        self.session = None

    def _read_message(self):
        while b"\0" not in self._buf:
            chunk = self._r.read(65536)
            if not chunk:
                raise CdpError("Chromium closed the pipe: %s" % self.proc.stderr.read().decode("utf-8", "replace")[-2000:])
            self._buf += chunk
        msg, _, self._buf = self._buf.partition(b"\0")
        return json.loads(msg)

    def call(self, method, session=True, **params):
        # one command, waiting for its answer (events met meanwhile are kept in self.events)
        with self._lock:
            self._id += 1
            mid = self._id
            m = {"id": mid, "method": method, "params": params}
            if session and self.session:
                m["sessionId"] = self.session
            self._w.write(json.dumps(m).encode() + b"\0")
            while True:
                r = self._read_message()
                if r.get("id") == mid:
                    if "error" in r:
                        raise CdpError("%s: %s" % (method, r["error"]))
                    return r.get("result", {})
                self.events.append(r)

    def open(self, url):
        # a new tab on url, attached; returns when its load event fired
        t = self.call("Target.createTarget", session=False, url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", session=False, targetId=t, flatten=True)["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")
        self.call("Page.navigate", url=url)
        self.evaluate("document.readyState === 'complete' ? true : new Promise(function (r) {"
                      " window.addEventListener('load', function () { r(true); }); })")

    def evaluate(self, expr, timeout_ms=30000):
        # a JS expression (a promise is awaited), its value as JSON
        r = self.call("Runtime.evaluate", expression=expr, awaitPromise=True, returnByValue=True,
                      timeout=timeout_ms)
        if r.get("exceptionDetails"):
            raise CdpError("page raised: %s" % r["exceptionDetails"])
        return r["result"].get("value")

    def screenshot(self, path):
        import base64
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.call("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._w.close()
        self._r.close()
        self.proc.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)
