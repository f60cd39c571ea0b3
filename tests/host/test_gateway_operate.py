# Operating the gateway as a service, on a real process (`python -m outpost_gateway run`):
# private state whoever starts it, one greppable log line per alert, and SIGHUP reloading the
# relay's credentials and CA (a paused relay tries again at once; status shows the current
# failure) and the SMTP listener whose section changed.
import json
import os
import signal
import smtplib
import stat
import subprocess

import pytest

from gateway_helpers import HOST, GatewayProcess, base_data, free_port, record, wait_for, write_toml
from outpost_gateway import config
from outpost_gateway.clock import SystemClock
from outpost_gateway.service import open_spool
from outpost_gateway.spool import Alert
from peers.certs import TestCA
from peers.smtpd import MailServer


class OperatedGateway(GatewayProcess):
    # started with a given umask; its config rewritten and reloaded (SIGHUP); status read the
    # way `outpost-gateway status` reads it
    def __init__(self, tmp_path, data, umask=0o022, http_port=None):
        self.tmp = tmp_path
        super().__init__(write_toml(tmp_path / "gw.toml", data), tmp_path / "gateway.log", http_port=http_port,
                         preexec_fn=lambda: os.umask(umask))

    def rewrite(self, data):
        write_toml(self.tmp / "gw.toml", data)
        self.p.send_signal(signal.SIGHUP)

    def status(self):
        cfg = config.load(self.config)
        sp = open_spool(cfg, SystemClock(), readonly=True, requeue=False)
        try:
            return sp.get_state("relay_paused"), sp.counts()
        finally:
            sp.close()


def test_state_private_whoever_starts_it_and_one_log_line_per_alert(tmp_path):
    port = free_port()
    data = base_data(tmp_path, relay={"enabled": False}, gateway={"log_level": "info"},
                     smtp_ingress={"enabled": True, "port": port, "require_tls": False,
                                   "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]})
    gw = OperatedGateway(tmp_path, data, umask=0o022)      # a root shell's usual umask
    try:
        assert gw.wait_line("SMTP ingress on", 60), gw.text()
        state = tmp_path / "state"
        assert stat.S_IMODE(os.stat(str(state)).st_mode) == 0o700
        for name in os.listdir(str(state)):             # spool.db, its -wal and -shm
            assert stat.S_IMODE(os.stat(str(state / name)).st_mode) == 0o600, name
        c = smtplib.SMTP("127.0.0.1", port, timeout=20)
        c.sendmail("board@lan.example", ["me@example.org"],
                   b"Subject: pump failed\r\nX-Outpost-Device: cellar\r\n\r\nthe pump\r\n")
        c.quit()
        line = gw.wait_line("committed", 30)
        assert len(line) == 1 and "received via smtp (board@lan.example) from device cellar" in line[0]
        alert_id = line[0].split("alert ", 1)[1].split()[0]
        assert alert_id.startswith("smtp")
    finally:
        gw.stop()


@pytest.fixture(scope="module")
def ca():
    return TestCA()


def test_sighup_reloads_credentials_ca_and_listener(tmp_path, ca):
    good_ca = tmp_path / "ca.pem"
    good_ca.write_bytes(ca.ca_pem)
    bad_ca = tmp_path / "other-ca.pem"
    bad_ca.write_bytes(TestCA().ca_pem)
    port_a, port_b = free_port(), free_port()
    with MailServer(tls="implicit", auth_users={"gw": "right-pw"}, ca=ca, hostname="127.0.0.1") as up:
        relay = {"host": "127.0.0.1", "port": up.port, "mode": "tls", "ca": str(good_ca),
                 "username": "gw", "password": "wrong-pw", "pause_retry": 3600.0, "timeout": 10.0}
        ingress = {"enabled": True, "port": port_a, "require_tls": False,
                   "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]}

        def data(**changes):
            r = dict(relay, **changes.pop("relay", {}))
            i = dict(ingress, **changes.pop("smtp_ingress", {}))
            return base_data(tmp_path, relay=r, smtp_ingress=i, gateway={"log_level": "info"},
                             digest={"threshold": 1000, "rate_per_hour": 0})

        # an alert waiting in the spool before the gateway starts
        cfg = config.merge(data(), env={})
        sp = open_spool(cfg, SystemClock())
        rec = record(device="shed", seq=1)
        sp.write([Alert(rec["id"], "shed", "warning", rec["kind"], rec["subject"], "mqtt",
                        json.dumps(rec).encode(), ["ops@example.org"])])
        sp.close()

        gw = OperatedGateway(tmp_path, data())
        try:
            paused = wait_for(lambda: gw.status()[0], 60)
            assert "535" in paused["reason"]
            # 1. the right password, but a CA that did not sign the server: still paused, and
            #    status shows this failure now, not the 535
            gw.rewrite(data(relay={"password": "right-pw", "ca": str(bad_ca)}))
            paused = wait_for(lambda: "certificate" in (gw.status()[0] or {}).get("reason", "") and gw.status()[0], 60)
            assert "certificate" in paused["reason"] and "535" not in paused["reason"]
            # 2. a config with an error is refused whole; the gateway keeps running
            (tmp_path / "gw.toml").write_text("[relay\n")
            gw.p.send_signal(signal.SIGHUP)
            assert gw.wait_line("reload refused", 30)
            assert gw.p.poll() is None
            # 3. the right CA and a new listener port: sent at once (pause_retry is an hour)
            gw.rewrite(data(relay={"password": "right-pw"}, smtp_ingress={"port": port_b}))
            mids = lambda: [m.parsed()["Message-ID"] for m in up.messages]     # noqa: E731
            assert wait_for(lambda: any(m.startswith("<shed-1-1@") for m in mids()), 60), mids()
            assert any(m.startswith("<gateway-paused-") for m in mids())     # the owner was told
            assert wait_for(lambda: gw.status()[0] is None, 30) is not False
            assert gw.wait_line("SMTP ingress restarted", 30)
            c = smtplib.SMTP("127.0.0.1", port_b, timeout=20)
            c.sendmail("board@lan.example", ["me@example.org"], b"Subject: hi\r\n\r\nbody\r\n")
            c.quit()
            with pytest.raises(OSError):
                smtplib.SMTP("127.0.0.1", port_a, timeout=5)
            log = gw.text()
            assert "alert shed-1-1 relayed to ops@example.org: 250" in log
            assert "right-pw" not in log and "wrong-pw" not in log
        finally:
            gw.stop()


def readme_test_alert():
    # the mosquitto_pub command host/README.md tells users to run: (topic, message)
    text = open(os.path.join(HOST, "README.md")).read()
    start = text.index("    mosquitto_pub ")
    cmd = text[start:text.index("\n\n", start)]
    cmd = " ".join(line.strip() for line in cmd.splitlines())
    topic = cmd.split(" -t ", 1)[1].split()[0]
    message = cmd.split(" -m '", 1)[1].rsplit("'", 1)[0]
    return topic, message


def test_readme_test_alert_with_mosquitto_pub_is_committed_and_relayed(tmp_path):
    from peers.mosquitto import Mosquitto
    topic, message = readme_test_alert()
    rec = json.loads(message)
    assert topic == "outpost/%s/alert" % rec["device"]
    with Mosquitto() as broker, MailServer() as up:
        http = free_port()
        data = base_data(tmp_path, gateway={"log_level": "info"}, http={"enabled": True, "port": http},
                         mqtt={"enabled": True, "host": broker.host, "port": broker.port},
                         relay={"host": "127.0.0.1", "port": up.port, "mode": "plain"})
        gw = OperatedGateway(tmp_path, data, http_port=http)
        try:
            gw.wait_healthy(lambda h: (h.get("mqtt") or {}).get("subscribed"))
            p = subprocess.run(["mosquitto_pub", "-h", broker.host, "-p", str(broker.port), "-q", "1",
                                "-t", topic, "-m", message], capture_output=True, timeout=60)
            assert p.returncode == 0, p.stderr
            msgs = up.wait_for(1, timeout=60)
            assert msgs[0].parsed()["Subject"].endswith(rec["subject"])
            lines = gw.wait_line(lambda ln: "alert " + rec["id"] + " " in ln and "relayed" in ln, 30)
            story = [ln for ln in gw.text().splitlines() if rec["id"] in ln]
            assert any("received via mqtt (%s) from device %s: committed" % (topic, rec["device"]) in ln
                       for ln in story), story
            assert lines and "relayed to ops@example.org: 250" in lines[0]
        finally:
            gw.stop()


def test_an_older_world_readable_spool_is_made_private(tmp_path, caplog):
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    os.chmod(str(state), 0o755)
    cfg = config.merge(base_data(tmp_path), env={})
    sp = open_spool(cfg, SystemClock())       # made by an older version, as root, umask 022
    sp.close()
    os.chmod(str(state / "spool.db"), 0o644)
    with caplog.at_level("WARNING", logger="outpost.service"):
        open_spool(cfg, SystemClock()).close()
    assert stat.S_IMODE(os.stat(str(state / "spool.db")).st_mode) == 0o600
    assert "spool folder %s is open to other users" % state in caplog.text     # shared? it only says so
    assert stat.S_IMODE(os.stat(str(state)).st_mode) == 0o755
