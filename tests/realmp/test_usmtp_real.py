"""usmtp on the real MicroPython unix port (real sockets, mbedTLS 3.6) against real servers on
127.0.0.1: STARTTLS and implicit TLS verified against the test CA, AUTH, a wrong CA and a wrong
host name refused, a 256 KB attachment streamed, PIPELINING and CHUNKING."""
import json
import os
import subprocess
import tempfile

from peers.certs import TestCA
from peers.rttproxy import RttProxy
from peers.smtpd import MailServer
from realboard import MICROPYTHON, ROOT, require_runtime

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mp_send.py")


def mp_send(job, heapsize="256k"):
    require_runtime()
    fd, path = tempfile.mkstemp(suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(job, f)
    env = dict(os.environ, MICROPYPATH=":.frozen:" + os.path.join(ROOT, "lib"), MP_JOB=path)
    try:
        r = subprocess.run([MICROPYTHON, "-X", "heapsize=" + heapsize, "-c",
                            "exec(open(%r).read())" % SCRIPT],
                           env=env, capture_output=True, text=True, timeout=120)
    finally:
        os.remove(path)
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, "no result from MicroPython: " + r.stdout[-2000:] + r.stderr[-2000:]
    return json.loads(lines[-1][7:])


def job(srv, **kw):
    j = {"host": "127.0.0.1", "port": srv.port, "mode": "starttls", "ca": srv.ca_pem.decode(),
         "server_hostname": "localhost", "to": ["me@example.org"]}
    j.update(kw)
    return j


def test_starttls_with_auth_and_a_256k_streamed_attachment():
    with MailServer(tls="starttls", auth_users={"board": "pw"}, auth_required=True,
                    chunking=True) as srv:
        r = mp_send(job(srv, user="board", password="pw", attach=256 * 1024))
        assert r["ok"] and r["tls"], r
        m = srv.wait_for(1)[0]
        assert m.tls and m.auth_user == "board" and m.via == "BDAT"
        parts = [p for p in m.parsed().iter_attachments()]
        data = parts[0].get_content()
        assert len(data) == 256 * 1024
        assert data[:3] == b"ABC" and data[-1] == 65 + (256 * 1024 - 1) % 26


def test_implicit_tls_verified():
    with MailServer(tls="implicit") as srv:
        r = mp_send(job(srv, mode="tls"))
        assert r["ok"] and r["tls"], r
        assert srv.wait_for(1)[0].tls


def test_deferred_auth_over_starttls():
    with MailServer(tls="starttls", auth_users={"board": "pw"}, auth_required=True,
                    chunking=True) as srv:
        assert mp_send(job(srv, user="board", password="pw", defer=True))["ok"]
        assert srv.wait_for(1)[0].auth_user == "board"
        r = mp_send(job(srv, user="board", password="wrong", defer=True))
        assert not r["ok"] and r["error"] == "SMTPAuthError", r
        assert len(srv.messages) == 1


def test_wrong_ca_is_refused():
    with MailServer(tls="starttls") as srv:
        r = mp_send(job(srv, ca=TestCA().ca_pem.decode()))
        assert not r["ok"] and r["error"] == "SMTPTLSError", r
        assert srv.messages == [] and all("MAIL" not in c.verbs for c in srv.connections)


def test_wrong_host_name_is_refused():
    with MailServer(tls="implicit") as srv:
        r = mp_send(job(srv, mode="tls", server_hostname="mail.example.net"))
        assert not r["ok"] and r["error"] == "SMTPTLSError", r
        assert srv.messages == []


def _turns(pipelining, chunking):
    with MailServer(pipelining=pipelining, chunking=chunking) as srv:
        with RttProxy(srv.host, srv.port, rtt=0.0) as proxy:
            r = mp_send({"host": "127.0.0.1", "port": proxy.port, "mode": "plain",
                         "to": ["a@example.org", "b@example.org", "c@example.org"]})
            assert r["ok"], r
            m = srv.wait_for(1)[0]
            assert sorted(m.rcpt_tos) == ["a@example.org", "b@example.org", "c@example.org"]
            return m.via, proxy.turns


def test_pipelining_and_chunking_cut_the_turns():
    via_plain, plain = _turns(False, False)
    via_pipe, pipe = _turns(True, False)
    via_bdat, bdat = _turns(True, True)
    assert (via_plain, via_pipe, via_bdat) == ("DATA", "DATA", "BDAT")
    # lock-step: MAIL, 3 RCPT, DATA, body each wait; pipelined: MAIL+RCPTs+DATA in one write
    assert pipe + 6 <= plain, (plain, pipe)
    assert bdat < pipe, (pipe, bdat)
