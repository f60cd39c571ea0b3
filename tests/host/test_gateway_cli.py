# The CLI through main(argv): check-config, status, queue list|show|retry|purge|dead, run
# (stopped by a real SIGTERM), and a bad config that names the key.
import io
import json
import logging
import os
import re
import signal
import threading
import urllib.request

import pytest

from gateway_helpers import base_data, free_port, wait_for, write_toml
from outpost_gateway import cli
from outpost_gateway.clock import SystemClock
from outpost_gateway.compose import gateway_alert
from outpost_gateway.service import open_spool
from outpost_gateway.spool import Outcome
from outpost_gateway import config


def run(argv):
    out = io.StringIO()
    rc = cli.main(argv, out=out)
    return rc, out.getvalue()


@pytest.fixture
def conf(tmp_path):
    return write_toml(tmp_path / "gw.toml", base_data(tmp_path))


def seed(path):
    cfg = config.load(path)
    sp = open_spool(cfg, SystemClock())
    now = SystemClock().time()
    sp.write([gateway_alert("a-1-1", "threshold", "warning", "one", "b", ["x@example.org"], now),
              gateway_alert("a-1-2", "threshold", "warning", "two", "b", ["y@example.org"], now)])
    sp.finish([Outcome("a-1-2", "y@example.org", "dead", 1, now, "550 5.1.1 no such user", 550, None)], now)
    sp.close()


def test_check_config_ok_and_bad_key(tmp_path, conf, capsys):
    rc, out = run(["check-config", "--config", conf])
    assert rc == 0 and "config OK" in out
    bad = write_toml(tmp_path / "bad.toml", base_data(tmp_path, relay={"mode": "ssl"}))
    rc, out = run(["check-config", "--config", bad])
    assert rc == 2
    assert "relay.mode" in capsys.readouterr().err


def test_usage_errors(conf):
    assert run([])[0] == 2
    assert run(["queue", "--config", conf])[0] == 2
    assert run(["frobnicate"])[0] == 2


def test_status_and_queue_commands(conf, capsys):
    seed(conf)
    rc, out = run(["status", "--config", conf])
    assert rc == 0
    assert "not running" in out and "ready 1" in out and "dead 1" in out
    rc, out = run(["status", "--json", "--config", conf])
    assert json.loads(out)["spool"]["alerts"] == 2
    rc, out = run(["queue", "list", "--config", conf])
    assert rc == 0 and "a-1-1" in out and "2 deliveries" in out
    rc, out = run(["queue", "list", "--status", "dead", "--config", conf])
    assert "a-1-2" in out and "a-1-1" not in out
    rc, out = run(["queue", "show", "a-1-1", "--json", "--config", conf])
    assert rc == 0 and json.loads(out)["deliveries"][0]["rcpt"] == "x@example.org"
    # in words, with ISO times: where it came from, and why each delivery waits
    rc, out = run(["queue", "show", "a-1-2", "--config", conf])
    assert rc == 0 and "alert a-1-2" in out and "'two'" in out
    assert re.search(r"received \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out), out
    assert "dead letter after 1 attempt: 550 5.1.1 no such user" in out
    rc, out = run(["queue", "show", "a-1-1", "--config", conf])
    assert "x@example.org" in out and "waits: due, but the gateway is not running" in out
    rc, out = run(["queue", "list", "--status", "pending", "--config", conf])
    assert rc == 0 and "1 deliveries" in out and "a-1-1" in out
    assert "waits: due, but the gateway is not running" in out
    assert run(["queue", "show", "nope", "--config", conf])[0] == 1
    rc, out = run(["queue", "dead", "--config", conf])
    assert "550 5.1.1 no such user" in out and "1 dead letters" in out
    rc, out = run(["queue", "retry", "--dead", "--config", conf])
    assert rc == 0 and out.startswith("1 deliveries")
    rc, out = run(["queue", "list", "--status", "ready", "--config", conf])
    assert "2 deliveries" in out
    assert run(["queue", "retry", "a-1-1", "--config", conf])[0] == 0
    assert run(["queue", "retry", "nope", "--config", conf])[0] == 1
    rc, out = run(["queue", "purge", "a-1-1", "--config", conf])
    assert rc == 0 and "purged 1" in out
    assert run(["queue", "purge", "a-1-1", "--config", conf])[0] == 1
    rc, out = run(["queue", "purge", "--done-older-than", "0", "--config", conf])
    assert rc == 0 and "purged 0" in out       # a-1-2 is ready again, not finished


def test_run_serves_health_and_stops_on_sigterm(tmp_path, capsys):
    port = free_port()
    path = write_toml(tmp_path / "gw.toml", base_data(tmp_path, http={"enabled": True, "port": port},
                                                      relay={"enabled": False}))
    seen = {}

    def probe():
        def health():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/health" % port, timeout=5) as r:
                    return json.loads(r.read())
            except OSError:
                return None
        seen["health"] = wait_for(health, 30)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            seen["metrics"] = r.read().decode()
        seen["status"] = wait_for(lambda: "gateway: running" in run(["status", "--config", path])[1] and
                                  run(["status", "--config", path])[1], 30)
        # a second gateway on the same spool is refused before it touches anything
        seen["second"] = cli.main(["run", "--config", path])
        os.kill(os.getpid(), signal.SIGTERM)     # the handler only sets the stop flag

    t = threading.Thread(target=probe)
    t.start()
    old = signal.getsignal(signal.SIGTERM)
    old_hup = signal.getsignal(signal.SIGHUP)
    root = logging.getLogger()
    saved = root.handlers[:], root.level      # `run` sets up the process's logging
    umask = os.umask(0o022)                   # and the umask (0077)
    os.umask(umask)
    try:
        rc = cli.main(["run", "--config", path])
    finally:
        os.umask(umask)
        signal.signal(signal.SIGTERM, old)
        signal.signal(signal.SIGHUP, old_hup)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    t.join()
    assert rc == 0
    assert seen["second"] == 1
    assert "another gateway is already running on %s" % (tmp_path / "state" / "spool.db") in capsys.readouterr().err
    assert seen["health"]["ok"] is True
    assert "outpost_received_total 0" in seen["metrics"]
    assert "outpost_spool_depth 0.0" in seen["metrics"]
    assert "gateway: running (pid %d" % os.getpid() in seen["status"]
    rc, out = run(["status", "--config", path])
    assert "not running" in out        # a clean stop clears the running state


def test_send_test_prints_trace_without_secrets(tmp_path, capsys):
    from peers.certs import TestCA
    from peers.smtpd import MailServer
    ca = TestCA()
    with MailServer(tls="starttls", ca=ca, hostname="127.0.0.1", auth_users={"gw": "hunter2-secret"}) as up:
        cafile = tmp_path / "ca.pem"
        cafile.write_bytes(ca.ca_pem)
        pw = tmp_path / "pw"
        pw.write_text("hunter2-secret\n")
        path = write_toml(tmp_path / "gw.toml", base_data(tmp_path, relay={
            "port": up.port, "mode": "starttls", "ca": str(cafile), "username": "gw",
            "password_file": str(pw)}))
        rc, out = run(["send-test", "--config", path, "--to", "me@example.org"])
        assert rc == 0, out
        msg = up.wait_for(1)[0]
        assert msg.rcpt_tos == ["me@example.org"] and msg.tls and msg.auth_user == "gw"
        assert "STARTTLS" in out and "AUTH" in out and "send-test: sent to me@example.org" in out
        assert "hunter2" not in out
        import base64
        assert base64.b64encode(b"\0gw\0hunter2-secret").decode() not in out
        # a wrong password: failure reported, exit 1, still no secret
        pw.write_text("wrong-secret\n")
        rc, out = run(["send-test", "--config", path, "--to", "me@example.org"])
        assert rc == 1 and "FAILED" in out and "wrong-secret" not in out
        # ... and the fix: the keys, and what Gmail and Microsoft 365 want instead
        assert "535" in out and "relay.username" in out and "relay.password" in out
        assert "app password" in out and "relay.oauth2_token" in out


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_send_test_certificate_failure_names_the_ca_key_and_shows_the_certificate(tmp_path, security):
    from peers.certs import TestCA
    from peers.smtpd import MailServer
    ca, other = TestCA(), TestCA()
    with MailServer(tls="implicit" if security == "tls" else "starttls", ca=ca, hostname="127.0.0.1") as up:
        cafile = tmp_path / "other-ca.pem"
        cafile.write_bytes(other.ca_pem)             # not the CA that signed the server
        path = write_toml(tmp_path / "gw.toml", base_data(tmp_path, relay={
            "port": up.port, "mode": security, "ca": str(cafile)}))
        rc, out = run(["send-test", "--config", path, "--to", "me@example.org"])
    assert rc == 1 and "FAILED" in out
    assert "relay.ca = %r" % str(cafile) in out
    # trustme names its CA "Testing CA #..." and puts the host in the leaf's SAN, not in a CN:
    # the issuer shown is the one that really signed it
    assert "issued by O=trustme" in out and "Testing CA" in out, out


def test_missing_ca_file_names_the_path(tmp_path, capsys):
    missing = str(tmp_path / "nope" / "ca.pem")
    path = write_toml(tmp_path / "gw.toml", base_data(tmp_path, relay={"mode": "tls", "ca": missing}))
    rc, _ = run(["check-config", "--config", path])
    err = capsys.readouterr().err
    assert rc == 2 and "relay.ca" in err and missing in err and "No such file" in err


def test_status_lists_boards_and_queue_list_shows_device_and_subject(tmp_path, capsys):
    from outpost_gateway.spool import Alert, Seen
    conf = write_toml(tmp_path / "gw.toml", base_data(tmp_path, watchdog={"intervals": {"cellar": 600.0}}))
    cfg = config.load(conf)
    sp = open_spool(cfg, SystemClock())
    now = SystemClock().time()
    rec = {"v": 1, "id": "shed-1-1", "device": "shed", "severity": "warning", "kind": "threshold",
           "subject": "shed too warm"}
    sp.write([Alert("shed-1-1", "shed", "warning", "threshold", "shed too warm", "serial",
                    json.dumps(rec).encode(), ["x@example.org"])])
    # three heartbeats 100 s apart: the learned interval is factor x gap
    for t in (now - 200, now - 100, now):
        sp.write([Seen("shed", t, None, True)])
    sp.write([Seen("cellar", now - 5000, "online", True)])
    sp.set_board("cellar", 1, now, 1, 0)
    sp.finish([Outcome("shed-1-1", "x@example.org", "done", 1, now, None, 250, None)], now)
    sp.close()
    rc, out = run(["status", "--config", conf])
    assert rc == 0
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ") and "last seen" in ln}
    assert set(lines) == {"shed", "cellar"}
    assert "via serial" in lines["shed"] and "interval 300s" in lines["shed"] and lines["shed"].endswith("ok")
    assert "via mqtt" in lines["cellar"] and "interval 600s (config)" in lines["cellar"] and "SILENT" in lines["cellar"]
    data = json.loads(run(["status", "--json", "--config", conf])[1])
    assert {b["device"]: b["silent"] for b in data["boards"]} == {"shed": False, "cellar": True}
    rc, out = run(["queue", "list", "--config", conf])
    row = [ln for ln in out.splitlines() if ln.startswith("shed-1-1")][0]
    assert "shed " in row and "'shed too warm'" in row and "done" in row and "next=" not in row
