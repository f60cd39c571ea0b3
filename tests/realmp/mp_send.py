# Run by tests/realmp/test_usmtp_real.py on the real MicroPython unix port: one usmtp session
# against a real server on 127.0.0.1, described by the JSON file named in $MP_JOB; prints one
# line "RESULT <json>" with what happened (the test reads it; CPython checks the server's side).
import json
import os

import usmtp
from usmtp.writer import Message

with open(os.getenv("MP_JOB")) as f:
    job = json.load(f)


class Pattern:
    # a file-like attachment made on demand: its size never exists in RAM
    def __init__(self, size):
        self.size = size
        self.pos = 0

    def readinto(self, buf):
        n = min(len(buf), self.size - self.pos)
        for i in range(n):
            buf[i] = 65 + (self.pos + i) % 26
        self.pos += n
        return n


def run():
    ca = job.get("ca")
    s = usmtp.SMTP(job["host"], job["port"], mode=job["mode"],
                   cadata=ca.encode() if ca else None,
                   server_hostname=job.get("server_hostname"), timeout=20)
    try:
        if job.get("user"):
            s.login(job["user"], job["password"], defer=job.get("defer", False))
        m = Message("board@example.org", job["to"], "real runtime", body="hello\n",
                    date=1790000000, message_id="<rt-1@example.org>")
        if job.get("attach"):
            m.attach("data.bin", Pattern(job["attach"]), "application/octet-stream")
        refused = s.send_message(m)
        s.quit()
    finally:
        s.close()
    return {"ok": True, "refused": refused, "tls": s.is_tls}


try:
    out = run()
except Exception as e:
    out = {"ok": False, "error": e.__class__.__name__, "text": str(e)}
print("RESULT " + json.dumps(out))
