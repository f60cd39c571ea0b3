"""The fall-through: mail server down -> MQTT to a real Mosquitto; MQTT down too -> serial to a
test-side gateway on a pty; everything down -> the outbox, and out exactly once when a path
returns. The unchanged firmware on the emulated board; time is the emulated clock."""
import os

from outpost_contract import record as alert_record
import pytest

from emu_fixtures import RISE, base_config, emu  # noqa: F401 (fixture)
from mqtt_reader import MqttReader
from peers.smtpd import MailServer
from serial_gateway import SerialGateway

ALERT = "outpost/shed/alert"


def journal(board):
    # what the board's outbox holds now, read from its flash the way the firmware reads it
    from outpost import outbox
    ob = outbox.Outbox(os.path.join(board.flash_dir, "outbox.log"))
    ob.open()
    return [x[0] for x in ob.pending()]


def test_mail_server_down_alert_goes_via_mqtt(emu, broker, reader):
    with MailServer(tls="implicit") as srv:
        srv.down()
        board = emu(base_config(mail=srv, mqtt=broker), RISE)
        board.run(3600)
        msgs = reader.wait_for(ALERT, 1)
        board.run(600)
        assert len(reader.on(ALERT)) == 1
        rec = alert_record.decode(msgs[0][1])
        assert rec["id"] == "shed-1-1" and rec["severity"] == "critical" and rec["kind"] == "threshold"
        assert rec["readings"]["freezer.temperature"]["unit"] == "°C"
        assert rec["readings"]["freezer.temperature"]["value"] > -12
        assert rec["ts"] > 1795842000
        assert srv.messages == []
        assert journal(board) == []
        assert any("sent shed-1-1 via mqtt" in line for line in board.lines)


def test_mail_and_mqtt_down_alert_goes_via_serial(emu, broker, reader):
    with MailServer(tls="implicit") as srv, SerialGateway() as gw:
        srv.down()
        broker.stop()
        board = emu(base_config(mail=srv, mqtt=broker, serial=gw), RISE, uart_urls={1: gw.url})
        board.run(3600)
        gw.wait_frames(1)
        board.run(600)
        assert [r["id"] for r in gw.records] == ["shed-1-1"]
        assert gw.frames == 1
        assert gw.records[0]["subject"].startswith("freezer.temperature -")
        assert gw.records[0]["subject"].endswith(" °C (above -12 °C)")
        assert journal(board) == []
        assert any("sent shed-1-1 via serial" in line for line in board.lines)


@pytest.mark.slow
def test_everything_down_waits_in_outbox_then_goes_out_once(emu, broker):
    with MailServer(tls="implicit") as srv, SerialGateway() as gw:
        srv.down()
        broker.stop()
        gw.answer = False          # the gateway's serial side hears but never acknowledges
        cfg = base_config(mail=srv, mqtt=broker, serial=gw)
        cfg["serial"]["timeout"] = 1      # each silent try costs this much real time
        cfg["transport"]["retry_max"] = 1800
        board = emu(cfg, RISE, uart_urls={1: gw.url})
        board.run(3600)
        assert journal(board) == ["shed-1-1"]
        assert srv.messages == [] and gw.records == []
        # retried with backoff (30 s doubling up to 1800 s), not at each of ~95 samples
        assert 4 <= gw.frames <= 9, gw.frames
        broker.start()
        reader = MqttReader(broker.host, broker.port)
        try:
            board.run(1900)                # the next retry falls in this span
            msgs = reader.wait_for(ALERT, 1)
            srv.up()
            gw.answer = True
            board.run(3600)
            assert len(reader.on(ALERT)) == 1
            assert alert_record.decode(msgs[0][1])["id"] == "shed-1-1"
        finally:
            reader.close()
        assert srv.messages == [] and gw.records == []
        assert journal(board) == []


def test_reset_during_outage_resends_the_same_id(emu, broker, reader):
    with MailServer(tls="implicit") as srv:
        srv.down()
        broker.stop()
        board = emu(base_config(mail=srv, mqtt=broker), RISE)
        board.run(1800)
        assert journal(board) == ["shed-1-1"]
        # power lost: a fresh board on the same flash, paths back; the freezer is cold again
        srv.up()
        board = emu(base_config(mail=srv, mqtt=broker), {"freezer.temperature": -18.0})
        board.run(300)
        msgs = srv.wait_for(1)
        assert len(msgs) == 1
        assert msgs[0].parsed()["Message-ID"] == "<shed-1-1@example.org>"
        assert board.boots == 1 and journal(board) == []
        with open(os.path.join(board.flash_dir, "boot.count")) as f:
            assert f.read() == "2"   # the new boot's own alerts will be shed-2-<n>


def test_full_outbox_drops_info_first_and_the_report_says_so(emu):
    # the door opens and shuts every 2 minutes (an info alert each time) and the freezer warms
    # once (critical) while no path works; the small outbox drops info alerts, never the
    # critical one, and the morning report (via the serial gateway, CSV in its body) counts them
    def script(name, t):
        if name == "door":
            return 1 if int(t // 60) % 2 else 0
        if name == "freezer.temperature":
            return -18.0 if t < 1800 else -5.0
        return None
    with SerialGateway() as gw:
        gw.answer = False
        cfg = base_config(serial=gw, order=("serial",), outbox={"max_bytes": 3072, "compact_at": 8192},
                          report={"at": "07:00", "csv_every": 600})
        cfg["sensors"].append({"name": "door", "type": "digital", "pin": 27})
        # an info storm of openings (no "closed" notices: resolved False)
        cfg["rules"].append({"sensor": "door", "above": 0.5, "cooldown": 0, "severity": "info",
                             "resolved": False})
        cfg["serial"]["timeout"] = 1
        cfg["transport"]["retry_max"] = 3600
        board = emu(cfg, script, uart_urls={1: gw.url})
        board.run(7000)                   # 05:00 -> 06:56: every path down
        dropped = [l for l in board.lines if "outbox: full, DROPPED" in l]
        assert len(dropped) >= 10
        pending = journal(board)
        assert "shed-1-" in pending[0]
        critical = [l.split()[2] for l in board.lines if "[critical]" in l]
        assert len(critical) == 1 and critical[0] in pending
        gw.answer = True
        board.run(3700)                   # the report at 07:00; the hold ends within retry_max
        reports = [r for r in gw.records if r["kind"] == "report"]
        assert len(reports) == 1
        body = reports[0]["body"]
        told = int(body.split("alerts dropped (outbox full): ")[1].split()[0])
        assert len(dropped) <= told <= len(dropped) + 3   # door alerts keep coming until 07:00
        assert "--- samples (CSV) ---\ntime_utc,freezer.temperature" in body
        assert critical[0] in [r["id"] for r in gw.records]
        assert journal(board) == []


def test_heartbeat_and_retained_status_for_the_gateway(emu, broker, reader):
    cfg = base_config(mqtt=broker, order=("mqtt",))
    cfg["mqtt"]["heartbeat"] = 600
    board = emu(cfg, {"freezer.temperature": -18.0})
    board.run(3600)
    beats = reader.wait_for("outpost/shed/heartbeat", 6)
    uptimes = [int(m[1]) for m in beats]
    assert uptimes[0] < 60 and uptimes == sorted(uptimes)
    assert all(590 <= b - a <= 640 for a, b in zip(uptimes, uptimes[1:]))
    assert len(beats) <= 7
    status = reader.on("outpost/shed/status")
    assert status and status[-1][1] == b"online"
    assert reader.on(ALERT) == []
