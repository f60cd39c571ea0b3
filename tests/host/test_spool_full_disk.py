# The disk under the spool fills up for real (a size-limited tmpfs mounted for the test, filled
# to the last byte): the SMTP ingress answers 452, the serial ingress NAKs (no ACK), MQTT sends
# no PUBACK and the broker keeps the alert. Nothing is lost, and once space returns intake
# resumes by itself: the broker's alert comes in without anyone's help, and a resent frame or
# submission is taken.
import errno
import json
import logging
import os
import smtplib
import subprocess

import pytest

from gateway_helpers import Publisher, make_cfg, record, wait_for
from outpost_contract import frame as serial_frame
from outpost_gateway.mqtt_ingress import MqttIngress
from outpost_gateway.service import Gateway
from peers.mosquitto import Mosquitto
from test_gateway_mqtt import alert_topic
from test_gateway_serial import Board

SUBMISSION = (b"From: board@lan.example\r\nTo: ops@example.org\r\nSubject: frost %d\r\n"
              b"Message-ID: <pump-1-%d@lan.example>\r\nX-Outpost-Device: pump\r\n\r\n"
              b"It is -2 C.\r\n")


@pytest.fixture
def small_disk(tmp_path):
    # tests run as root in CI (.ci/run): a test that cannot mount says so and fails, it is never
    # skipped quietly
    d = tmp_path / "disk"
    d.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(d)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.fail("this test mounts an 8 MB tmpfs under the spool and needs root (CI runs as "
                    "root): mount failed: %s" % (r.stderr.strip() or r.returncode))
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)


def fill(d):
    # every last byte of the file system taken by one file -> its path
    path = str(d / "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return path


def submit(port, n):
    c = smtplib.SMTP("127.0.0.1", port, timeout=20)
    try:
        c.sendmail("board@lan.example", ["ops@example.org"], SUBMISSION % (n, n))
        return 250
    except smtplib.SMTPDataError as e:
        return e.smtp_code
    finally:
        try:
            c.quit()
        except smtplib.SMTPException:
            pass


def frame(rec):
    return serial_frame.encode(json.dumps(rec, separators=(",", ":")).encode())


def test_full_disk_refuses_on_every_path_loses_nothing_and_resumes(tmp_path, small_disk, monkeypatch, caplog):
    monkeypatch.setattr(MqttIngress, "BOUNCE_DELAY", 0.3)
    caplog.set_level(logging.INFO, logger="outpost")
    link = str(tmp_path / "ttyBOARD")
    board = Board(link)
    with Mosquitto() as broker:
        cfg = make_cfg(tmp_path, gateway={"state_dir": str(small_disk / "state")},
                       spool={"min_free_mb": 1},
                       mqtt={"enabled": True, "host": broker.host, "port": broker.port, "client_id": "gw-full"},
                       smtp_ingress={"enabled": True, "port": 0, "require_tls": False,
                                     "allow_networks": ["127.0.0.0/8"], "allowed_domains": ["example.org"]},
                       serial={"ports": [link], "reopen_interval": 0.1},
                       relay={"enabled": False}, watchdog={"enabled": False})
        gw = Gateway(cfg)
        gw.start()
        pub = Publisher(broker)
        try:
            assert wait_for(lambda: gw.mqtt.subscribed and gw.serial[0].is_open, 30)
            # all is well: one alert by each path
            a = record(device="m", seq=1)
            pub.publish(alert_topic(a), json.dumps(a)).wait_for_publish(20)
            s1 = record(device="s", seq=1)
            board.send(frame(s1))
            assert board.reply() == ("ACK", s1["id"])
            assert submit(gw.smtp.port, 1) == 250
            assert wait_for(lambda: gw.spool.counts()["alerts"] == 3, 20)

            filler = fill(small_disk)
            # the spool notices within a second (it looks at the free space at most once a second)
            b = record(device="m", seq=2)
            pub.publish(alert_topic(b), json.dumps(b)).wait_for_publish(20)   # the broker has it
            s2 = record(device="s", seq=2)
            assert wait_for(lambda: submit(gw.smtp.port, 2) == 452, 20)
            board.send(frame(s2))
            kind, rid, why = board.reply()
            assert (kind, rid) == ("NAK", s2["id"]) and "full" in why
            assert wait_for(lambda: gw.mqtt.refusing == "full", 20)
            assert gw.spool.show(b["id"]) is None and gw.spool.show(s2["id"]) is None
            assert gw.spool.counts()["alerts"] == 3
            assert gw.metrics.c["acknowledged"] == 3

            os.unlink(filler)                   # space returns
            # the broker's alert comes in by itself (redelivered after the ingress's reconnect)
            assert wait_for(lambda: gw.spool.show(b["id"]) is not None, 30)
            board.send(frame(s2))               # the board tries again, as its outbox does
            assert board.reply() == ("ACK", s2["id"])
            assert submit(gw.smtp.port, 2) == 250
            assert wait_for(lambda: gw.mqtt.refusing is None, 20)
            assert gw.spool.counts()["alerts"] == 6            # nothing lost, nothing twice
        finally:
            pub.close()
            gw.stop()
            gw.spool.close()
            board.unplug()
    assert not [r for r in caplog.records if r.exc_info]      # no tracebacks
