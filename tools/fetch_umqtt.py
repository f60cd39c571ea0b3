"""Fetch umqtt.simple (micropython-lib, PyPI `micropython-umqtt.simple` 1.3.4) for the board
filesystem the real-MicroPython tests lay out, and check it against its pinned hash.

    python tools/fetch_umqtt.py DEST_DIR      writes DEST_DIR/umqtt/simple.py (and __init__.py)

PyPI ships it as an sdist without setup.py, which pip refuses to download or install, so this
reads the one file out of the pinned archive. Run by `make setup-py`; a no-op when present.
"""
import hashlib
import io
import os
import sys
import tarfile
import urllib.request

VERSION = "1.3.4"
URL = ("https://files.pythonhosted.org/packages/bd/cf/"
       "697e3418b2f44222b3e848078b1e33ee76aedca9b6c2430ca1b1aec1ce1d/"
       "micropython-umqtt.simple-1.3.4.tar.gz")
SHA256 = "b6a2520239e3992c63a7de9370ee9b3d9d27819a90359c521f1c0f7ccab8d12f"
MEMBER = "micropython-umqtt.simple-1.3.4/umqtt/simple.py"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: fetch_umqtt.py DEST_DIR")
    dest = os.path.join(argv[0], "umqtt")
    target = os.path.join(dest, "simple.py")
    if os.path.exists(target):
        return 0
    with urllib.request.urlopen(URL, timeout=120) as r:
        data = r.read()
    got = hashlib.sha256(data).hexdigest()
    if got != SHA256:
        raise SystemExit("fetch_umqtt: %s has sha256 %s, expected %s" % (URL, got, SHA256))
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
