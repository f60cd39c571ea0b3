"""Fetch umqtt.simple (micropython-lib, PyPI `micropython-umqtt.simple` 1.3.4) for the board
filesystem the real-MicroPython tests lay out, and check it against its pinned hash.

    python tools/fetch_umqtt.py DEST_DIR      writes DEST_DIR/umqtt/simple.py (and __init__.py)
                                              and DEST_DIR-sslctx/umqtt/simple.py (below)

umqtt.simple 1.4 changed how TLS is asked for: MQTTClient(..., ssl=<an SSLContext>) instead of
ssl=True + ssl_params, and connect(timeout=); it calls ssl.wrap_socket(sock,
server_hostname=<the server>). No release from 1.4 on is on PyPI (pip lists 1.1 to 1.3.4), nor on
Debian or npm, so the `ssl=` API the firmware also supports is made here from the checked 1.3.4:
the four places that differ in 1.4 (the constructor's TLS keywords, connect's timeout and its
TLS call) are replaced, each of which must match exactly once, and the result's hash is pinned
too. The MQTT code itself (packets, QoS 1, ping) is 1.3.4's, unchanged.

PyPI ships it as an sdist without setup.py, which pip refuses to download or install, so this
asks pip (with the index it is configured for) where the pinned archive is, reads the one file
out of it and checks the archive's hash. Run by `make setup-py`; a no-op when present.
"""
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request

VERSION = "1.3.4"
REQUIREMENT = "micropython-umqtt.simple==" + VERSION
ARCHIVE = "micropython-umqtt.simple-1.3.4.tar.gz"
SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
MEMBER = "micropython-umqtt.simple-1.3.4/umqtt/simple.py"
SSLCTX_SUFFIX = "-sslctx"
# 1.3.4 text -> the 1.4 API's text, in order
SSLCTX_EDITS = (
    ("keepalive=0,\n                 ssl=False, ssl_params={}):",
     "keepalive=0,\n                 ssl=None):"),
    ("        self.ssl_params = ssl_params\n", ""),
    ("    def connect(self, clean_session=True):\n        self.sock = socket.socket()\n",
     "    def connect(self, clean_session=True, timeout=None):\n        self.sock = socket.socket()\n"
     "        self.sock.settimeout(timeout)\n"),
    ("            import ussl\n            self.sock = ussl.wrap_socket(self.sock, **self.ssl_params)\n",
     "            self.sock = self.ssl.wrap_socket(self.sock, server_hostname=self.server)\n"),
)
SSLCTX_SHA256 = "642d85dba7b1eff36cca515ee9f1993a24e8a857a31d8d09f5579d0242b511d1"


def locate():
    # pip finds the archive on its index, downloads it, then refuses it as "not a Python
    # project", naming the address it came from: that address is the one to read
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp,
                            REQUIREMENT], capture_output=True, text=True, timeout=300)
    for word in (r.stdout + " " + r.stderr).split():
        if word.startswith("http") and word.endswith("/" + ARCHIVE):
            return word
    raise SystemExit("fetch_umqtt: pip did not say where %s is (pip exit %d):\n%s"
                     % (REQUIREMENT, r.returncode, (r.stdout + r.stderr)[-2000:]))


def sslctx_api(src):
    """1.3.4's source with 1.4's TLS API (see the module's doc); SystemExit if it does not fit."""
    out = src.decode()
    for old, new in SSLCTX_EDITS:
        if out.count(old) != 1:
            raise SystemExit("fetch_umqtt: umqtt.simple %s: %r found %d times, expected once"
                             % (VERSION, old, out.count(old)))
        out = out.replace(old, new)
    out = out.encode()
    got = hashlib.sha256(out).hexdigest()
    if got != SSLCTX_SHA256:
        raise SystemExit("fetch_umqtt: the ssl= variant has sha256 %s, expected %s" % (got, SSLCTX_SHA256))
    return out


def write(dest, src):
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "__init__.py"), "wb"):
        pass
    target = os.path.join(dest, "simple.py")
    with open(target + ".tmp", "wb") as f:
        f.write(src)
    os.replace(target + ".tmp", target)
    return target


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: fetch_umqtt.py DEST_DIR")
    dest = os.path.join(argv[0], "umqtt")
    ctx_dest = os.path.join(argv[0].rstrip("/") + SSLCTX_SUFFIX, "umqtt")
    if all(os.path.exists(os.path.join(d, "simple.py")) for d in (dest, ctx_dest)):
        return 0
    url = locate()
    with urllib.request.urlopen(url, timeout=120) as r:
        data = r.read()
    got = hashlib.sha256(data).hexdigest()
    if got != SHA256:
        raise SystemExit("fetch_umqtt: %s has sha256 %s, expected %s" % (url, got, SHA256))
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        src = t.extractfile(MEMBER).read()
    print("fetch_umqtt: umqtt.simple %s -> %s" % (VERSION, write(dest, src)))
    print("fetch_umqtt: umqtt.simple %s, ssl= API of 1.4 -> %s" % (VERSION, write(ctx_dest, sslctx_api(src))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
