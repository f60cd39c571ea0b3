# The assembled gateway in-process: an alert in through LAN SMTP, out through the relay to a
# real upstream, every counter and gauge of /metrics moving, /health turning 503 when the relay
# pauses, graceful stop returning in-flight rows to ready, and JSON logs without secrets.
import io
import json
import logging
import smtplib

from gateway_helpers import (base_data, free_port, http_json as health, make_cfg, metrics, record, unwritable,
                             wait_for, write_toml)
from outpost_gateway import cli, config
from outpost_gateway.clock import ManualClock
from outpost_gateway.service import Gateway, JsonFormatter, setup_logging
from outpost_gateway.spool import Alert
from peers.smtpd import MailServer
from usmtp.writer import make_message_id

MSG = (b"From: board@lan.example\r\nTo: me@example.org\r\nSubject: %s\r\n"
       b"Message-ID: <%s@lan.example>\r\n\r\nbody\r\n")


def submit(port, n, start=0):
    c = smtplib.SMTP("127.0.0.1", port, timeout=30)
    for i in range(start, start + n):
        c.sendmail("board@lan.example", ["me@example.org"], MSG % (b"s%d" % i, b"svc-%d" % i))
    c.quit()


def test_end_to_end_metrics_health_and_graceful_stop(tmp_path):
    with MailServer(auth_users={"gw": "svc-secret-pw"}, auth_require_tls=False) as up:
        http = free_port()
        cfg = make_cfg(tmp_path, smtp_ingress={"enabled": True, "port": 0, "require_tls": False,
                                               "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]},
                       relay={"port": up.port, "mode": "plain", "username": "gw", "password": "svc-secret-pw",
                              "allow_plaintext_auth": True, "backoff_base": 0.2, "backoff_max": 0.5,
                              "timeout": 2.0, "pause_retry": 3600.0},
                       digest={"threshold": 1000, "rate_per_hour": 0},
                       http={"enabled": True, "port": http})
        gw = Gateway(cfg)
        gw.start()
        try:
            port = gw.smtp.port
            submit(port, 3)
            submit(port, 1, start=0)                       # a duplicate
            up.wait_for(3)
            assert wait_for(lambda: metrics(http)["outpost_relayed_total"] == 3)
            m = metrics(http)
            assert m["outpost_received_total"] == 4 and m["outpost_acknowledged_total"] == 4
            assert m["outpost_duplicates_total"] == 1 and m["outpost_spool_depth"] == 0
            assert health(http)[0] == 200
            # a 4xx for the next one: retried
            up.data_reply = ["451 4.3.0 try again", None]
            submit(port, 1, start=10)
            up.wait_for(4, timeout=30)
            assert wait_for(lambda: metrics(http)["outpost_retried_total"] >= 1)
            # a 5xx: dead (and the owner is told)
            up.rcpt_reply["me@example.org"] = ["550 5.1.1 gone", None]
            submit(port, 1, start=20)
            assert wait_for(lambda: metrics(http)["outpost_dead_total"] == 1)
            # AUTH now fails: the relay pauses, health says so
            up.auth_users["gw"] = "changed"
            up.down()                                      # drop the kept-open, logged-in connection
            up.up()
            submit(port, 1, start=30)
            assert wait_for(lambda: health(http)[0] == 503, 30)
            code, h = health(http)
            assert h["problems"] == ["relay paused"]
            m = metrics(http)
            assert m["outpost_relay_paused"] == 1 and m["outpost_spool_depth"] >= 1
            assert m["outpost_oldest_alert_age_seconds"] >= 0
        finally:
            gw.stop()
        c = gw.spool.counts()
        assert c["sending"] == 0 and c["ready"] >= 1     # nothing left in flight after the stop
        gw.spool.close()


def test_json_logs_have_no_secrets(tmp_path):
    cfg = make_cfg(tmp_path, gateway={"log_format": "json"}, relay={"username": "u", "password": "very-secret",
                                                                          "allow_plaintext_auth": True})
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(cfg)
        buf = io.StringIO()
        root.handlers[0].stream = buf
        assert isinstance(root.handlers[0].formatter, JsonFormatter)
        logging.getLogger("outpost.test").warning("relay paused: %s", "535 5.7.8 bad credentials")
        line = json.loads(buf.getvalue().splitlines()[0])
        assert line["level"] == "warning" and line["logger"] == "outpost.test"
        assert "very-secret" not in buf.getvalue()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_rate_window_survives_a_gateway_restart(tmp_path):
    # the per-recipient rate window is in the spool: a restarted (or crash-looping) gateway
    # still holds what the hour before it already sent
    clock = ManualClock()
    t0 = clock.time()
    with MailServer() as up:
        cfg = make_cfg(tmp_path, relay={"port": up.port, "timeout": 5.0},
                       digest={"threshold": 100, "rate_per_hour": 2}, watchdog={"enabled": False})

        def add(gw, seq):
            rec = record(device="rate", seq=seq)
            gw.spool.write([Alert(rec["id"], "rate", "warning", rec["kind"], rec["subject"], "test",
                                  json.dumps(rec).encode(), ["ops@example.org"])])
            gw.wake.set()
            return rec["id"]

        gw = Gateway(cfg, clock)
        gw.start()
        try:
            add(gw, 1)
            add(gw, 2)
            up.wait_for(2, timeout=30)
            assert wait_for(lambda: gw.spool.counts()["done"] == 2)
        finally:
            gw.stop()
            gw.spool.close()
        clock.advance(600)
        gw = Gateway(cfg, clock)
        gw.start()
        try:
            aid = add(gw, 3)
            held = wait_for(lambda: [d for d in gw.spool.show(aid)["deliveries"]
                                     if d["last_error"] == "held by rate limit"])
            assert held and held[0]["status"] == "ready"
            assert held[0]["next_at"] == t0 + 3600.0        # when the first send leaves the window
            assert len(up.messages) == 2
            clock.advance(3000)
            gw.wake.set()
            assert len(up.wait_for(3, timeout=30)) == 3
        finally:
            gw.stop()
            gw.spool.close()


def test_open_smtp_sessions_in_status_and_metrics(tmp_path):
    http = free_port()
    conf = write_toml(tmp_path / "gw.toml", base_data(
        tmp_path, smtp_ingress={"enabled": True, "port": 0, "require_tls": False,
                                "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]},
        relay={"enabled": False}, watchdog={"enabled": False}, http={"enabled": True, "port": http},
        serial={"ports": ["loop://"]}))
    gw = Gateway(config.load(conf))
    gw.STATUS_EVERY = 0.2
    gw.start()
    clients = []
    try:
        assert metrics(http)["outpost_smtp_sessions"] == 0
        for _ in range(2):
            c = smtplib.SMTP("127.0.0.1", gw.smtp.port, timeout=30)
            c.ehlo()
            clients.append(c)
        assert wait_for(lambda: metrics(http)["outpost_smtp_sessions"] == 2)
        assert gw.status()["smtp_ingress"]["sessions"] == 2

        def status_text():
            out = io.StringIO()
            assert cli.main(["status", "--config", conf], out=out) == 0
            return out.getvalue()
        assert wait_for(lambda: "2 sessions open" in status_text(), 30), status_text()
        assert "serial loop://: open" in status_text()
        m = metrics(http)
        assert (m["outpost_serial_ports"], m["outpost_serial_ports_open"]) == (1, 1)
        assert (m["outpost_mqtt_connected"], m["outpost_mqtt_subscribed"]) == (0, 0)   # MQTT is off
        clients.pop().quit()
        assert wait_for(lambda: metrics(http)["outpost_smtp_sessions"] == 1)
        assert wait_for(lambda: "1 session open" in status_text(), 30), status_text()
        out = io.StringIO()
        cli.main(["status", "--json", "--config", conf], out=out)
        assert json.loads(out.getvalue())["running"]["smtp_ingress"]["sessions"] == 1
    finally:
        for c in clients:
            c.close()
        gw.stop()
        gw.spool.close()


def test_relay_pass_the_spool_cannot_finish_is_sent_again_after_recovery(tmp_path, caplog):
    # the upstream accepts a message but the spool cannot record it (disk error): once the
    # disk recovers, the row left "sending" goes out again (at-least-once, same Message-ID)
    # instead of staying stuck until a restart
    caplog.set_level(logging.DEBUG, logger="outpost")
    with MailServer() as up:
        cfg = make_cfg(tmp_path, relay={"port": up.port, "timeout": 30.0},
                       digest={"threshold": 100, "rate_per_hour": 0}, watchdog={"enabled": False})
        gw = Gateway(cfg)
        up.delay = 0.2            # slow replies: time to break the disk while the batch is out
        gw.start()
        try:
            rec = record(device="stuck", seq=1)
            gw.spool.write([Alert(rec["id"], "stuck", "warning", rec["kind"], rec["subject"], "test",
                                  json.dumps(rec).encode(), ["ops@example.org"])])
            gw.wake.set()
            assert wait_for(lambda: gw.spool.counts()["sending"] == 1)
            with unwritable(config.spool_path(cfg) + "-wal"):
                up.wait_for(1, timeout=60)
                assert wait_for(lambda: "relay" in gw._spool_trouble, 60)
                assert gw.spool.counts()["sending"] == 1
                up.delay = 0
            gw.wake.set()             # the relay loop waits 5 s between tries of a failing spool
            assert wait_for(lambda: gw.spool.counts()["done"] == 1, 60), gw.spool.counts()
            msgs = up.wait_for(2, timeout=30)
            assert set(m.parsed()["Message-ID"] for m in msgs) == {make_message_id(rec["id"], "outpost@example.org")}
        finally:
            gw.stop()
            gw.spool.close()
    assert sum(1 for r in caplog.records if r.getMessage().startswith("relay: spool write failed")) == 1
    assert sum(1 for r in caplog.records if r.getMessage() == "relay: spool writes work again") == 1
