"""Fetch umqtt.simple (micropython-lib, PyPI `micropython-umqtt.simple` 1.3.4) for the board
filesystem the real-MicroPython tests lay out, and check it against its pinned hash.

    python tools/fetch_umqtt.py DEST_DIR      writes DEST_DIR/umqtt/simple.py (and __init__.py)

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


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: fetch_umqtt.py DEST_DIR")
    dest = os.path.join(argv[0], "umqtt")
    target = os.path.join(dest, "simple.py")
    if os.path.exists(target):
        return 0
    url = locate()
    with urllib.request.urlopen(url, timeout=120) as r:
        data = r.read()
    got = hashlib.sha256(data).hexdigest()
    if got != SHA256:
        raise SystemExit("fetch_umqtt: %s has sha256 %s, expected %s" % (url, got, SHA256))
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        src = t.extractfile(MEMBER).read()
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(dest, "__init__.py"), "wb"):
        pass
    with open(target + ".tmp", "wb") as f:
        f.write(src)
    os.replace(target + ".tmp", target)
    print("fetch_umqtt: umqtt.simple %s -> %s" % (VERSION, target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
