# `outpost-gateway alert` as a cron job or shell script runs it: the alert is spooled like one
# that came over MQTT (a record v1 with a <device>-<boot>-<seq> id, the same routing) and the
# relay mails it as the same email; text from stdin; a clear error and a non-zero exit when the
# spool cannot be written. Also: check-config lists every error at once, and status/queue still
# show the spool while the config file is broken.
import io
import json
import os
import re
import subprocess
import sys

from gateway_helpers import HOST, ROOT, base_data, write_toml
from outpost_contract import record as alert_record
from outpost_gateway import cli, config
from outpost_gateway.clock import SystemClock
from outpost_gateway.ingest import Ingest
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.service import open_spool
from peers.smtpd import MailServer


def run(argv):
    out = io.StringIO()
    rc = cli.main(argv, out=out)
    return rc, out.getvalue()


def test_alert_is_spooled_and_mailed_like_an_mqtt_one(tmp_path, capsys):
    with MailServer() as up:
        data = base_data(tmp_path, relay={"port": up.port}, digest={"threshold": 1000, "rate_per_hour": 0},
                         routing={"honour_alert_to": True, "alert_to_domains": ["example.org"]})
        conf = write_toml(tmp_path / "gw.toml", data)
        rc, out = run(["alert", "--device", "nas", "--severity", "critical", "--to", "admin@example.org",
                       "--config", conf, "disk", "/srv", "is", "95%", "full"])
        assert rc == 0, capsys.readouterr().err
        aid = re.match(r"alert (\S+) spooled for ops@example.org, admin@example.org$", out.strip()).group(1)
        assert re.match(r"^nas-\d+-1$", aid)
        rc, out = run(["alert", "--device", "nas", "--config", conf, "second one"])
        aid2 = out.split()[1]
        assert rc == 0 and aid2 != aid and aid2.endswith("-2")
        # the same alert over MQTT: the same checks, the same record, the same email
        cfg = config.load(conf)
        sp = open_spool(cfg, SystemClock())
        try:
            a = sp.show(aid)
            rec = alert_record.decode(bytes(a["payload"]))
            assert (a["source"], rec["device"], rec["severity"], rec["kind"], rec["subject"]) == \
                ("cli", "nas", "critical", "script", "disk /srv is 95% full")
            assert rec["to"] == ["admin@example.org"] and "body" not in rec
            twin = dict(rec, id="nas-1-99")
            got = []
            ing = Ingest(cfg, sp, Metrics(), SystemClock())
            sp.start_writer()
            import threading
            done = threading.Event()
            ing.offer(json.dumps(twin).encode(), "mqtt", lambda res, why=None: (got.append(res), done.set()),
                      device="nas")
            assert done.wait(10) and got == ["new"]
            sp.stop_writer()
            relay = Relay(cfg, sp, Metrics(), SystemClock())
            try:
                relay.run_once()
            finally:
                relay.close()
            msgs = up.wait_for(5, timeout=30)     # 2 recipients of the first, 1 of the second, 2 of the twin
        finally:
            sp.close()
        by_id = {}
        for m in msgs:
            p = m.parsed()
            by_id.setdefault(p["X-Outpost-Alert-Id"], p)
        mine, twin_mail = by_id[aid], by_id["nas-1-99"]
        assert mine["Message-ID"] == "<%s@example.org>" % aid
        for h in ("Subject", "X-Outpost-Device", "X-Outpost-Severity", "X-Outpost-Kind", "X-Outpost-State"):
            assert mine[h] == twin_mail[h], h
        assert mine.get_payload().replace(aid, "ID") == twin_mail.get_payload().replace("nas-1-99", "ID")


def test_alert_text_from_stdin_as_cron_runs_it(tmp_path):
    conf = write_toml(tmp_path / "gw.toml", base_data(tmp_path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HOST, os.path.join(ROOT, "lib")]))
    p = subprocess.run([sys.executable, "-m", "outpost_gateway", "alert", "--device", "backup", "-c", conf],
                       input="backup failed\nrsync exit 23\nsee /var/log/backup.log\n", capture_output=True,
                       text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    aid = p.stdout.split()[1]
    sp = open_spool(config.load(conf), SystemClock(), readonly=True, requeue=False)
    try:
        rec = json.loads(bytes(sp.show(aid)["payload"]))
    finally:
        sp.close()
    assert rec["subject"] == "backup failed" and rec["severity"] == "warning"
    assert rec["body"] == "backup failed\nrsync exit 23\nsee /var/log/backup.log\n"
    # nothing to say, or a name the contract refuses: exit 2, nothing spooled
    p = subprocess.run([sys.executable, "-m", "outpost_gateway", "alert", "--device", "backup", "-c", conf],
                       input="\n\n", capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 2 and "no text" in p.stderr
    assert run(["alert", "--device", "no/slash", "--config", conf, "x"])[0] == 2


def test_alert_exits_non_zero_when_the_spool_cannot_be_written(tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the state folder should be")
    conf = write_toml(tmp_path / "gw.toml", base_data(tmp_path, gateway={"state_dir": str(blocker / "state")}))
    rc, out = run(["alert", "--device", "nas", "--config", conf, "disk full"])
    err = capsys.readouterr().err
    assert rc == 1 and out == ""
    assert "cannot write the spool %s" % (blocker / "state" / "spool.db") in err and "NOT stored" in err
    # a full spool: refused, said so
    conf = write_toml(tmp_path / "gw2.toml", base_data(tmp_path, spool={"max_pending": 1}))
    assert run(["alert", "--device", "nas", "--config", conf, "one"])[0] == 0
    rc, _ = run(["alert", "--device", "nas", "--config", conf, "two"])
    assert rc == 1 and "the spool is full" in capsys.readouterr().err


def test_check_config_lists_every_error_with_key_value_and_fix(tmp_path, capsys):
    secret = str(tmp_path / "missing-secret")
    conf = write_toml(tmp_path / "gw.toml", base_data(
        tmp_path, relay={"port": "abc", "sender": "", "mode": "ssl"},
        mqtt={"password_file": secret, "keepalive": -1}, spool={"max_pendng": 5}))
    rc, _ = run(["check-config", "--config", conf])
    err = capsys.readouterr().err
    assert rc == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("outpost-gateway: config error: ")]
    assert "relay.port: must be an integer (got 'abc')" in err
    assert "spool.max_pendng: unknown key, did you mean spool.max_pending?" in err
    assert "mqtt.password_file: cannot read the secret file %r" % secret in err
    assert len(lines) == 3 and "3 errors" in err
    # with the types right, the value checks all come at once
    conf = write_toml(tmp_path / "gw2.toml", base_data(
        tmp_path, relay={"host": "", "sender": "", "mode": "ssl"}, mqtt={"keepalive": -1}))
    rc, _ = run(["check-config", "--config", conf])
    err = capsys.readouterr().err
    for want in ("relay.mode: must be one of", "relay.host: must be set", "relay.sender: must be set",
                 "mqtt.keepalive: must be more than zero (got -1)"):
        assert want in err, want


def test_relay_provider_fills_host_port_and_mode(tmp_path):
    from gateway_helpers import make_cfg
    cfg = make_cfg(tmp_path, relay={"provider": "gmail", "host": "", "port": 0, "mode": "tls"})
    assert (cfg["relay"]["host"], cfg["relay"]["port"], cfg["relay"]["mode"]) == ("smtp.gmail.com", 465, "tls")
    data = base_data(tmp_path)
    data["relay"] = {"provider": "outlook", "sender": "a@example.org"}
    cfg = config.merge(data, env={})
    assert (cfg["relay"]["host"], cfg["relay"]["port"], cfg["relay"]["mode"]) == \
        ("smtp.office365.com", 587, "starttls")
    data["relay"] = {"provider": "gmial", "sender": "a@example.org"}
    try:
        config.merge(data, env={})
    except config.ConfigError as e:
        assert "relay.provider: unknown provider, did you mean 'gmail'?" in str(e)
    else:
        raise AssertionError("an unknown provider was taken")


def test_status_and_queue_show_the_spool_while_the_config_is_broken(tmp_path, capsys):
    good = base_data(tmp_path)
    conf = write_toml(tmp_path / "gw.toml", good)
    assert run(["alert", "--device", "nas", "--config", conf, "disk full"])[0] == 0
    # the file on disk gets a mistake while the gateway runs on what it read before
    broken = dict(good, relay=dict(good["relay"], port="abc"))
    write_toml(tmp_path / "gw.toml", broken)
    capsys.readouterr()
    rc, out = run(["status", "--config", conf])
    err = capsys.readouterr().err
    assert rc == 0 and "spool: 1 alerts" in out
    assert "relay.port: must be an integer (got 'abc')" in err
    assert "showing the spool at %s (gateway.state_dir in the file)" % (tmp_path / "state" / "spool.db") in err
    assert "NOTE: the config file has errors" in out
    rc, out = run(["queue", "list", "--status", "pending", "--config", conf])
    assert rc == 0 and "1 deliveries" in out and "nas-" in out
    # other commands refuse a broken config
    assert run(["alert", "--device", "nas", "--config", conf, "x"])[0] == 2
    # not even TOML: the default place is said
    (tmp_path / "gw.toml").write_text("[gateway\n")
    rc, _ = run(["status", "--config", conf])
    assert "(the default place)" in capsys.readouterr().err
