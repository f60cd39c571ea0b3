"""The emulated board itself: the one-command runner, scripted sensors, Wi-Fi switching,
deep sleep with state in RTC memory, and the stand-ins' MicroPython shapes."""
import os
import subprocess
import sys

import pytest

from emu_fixtures import EMU, ROOT, RISE, base_config, emu  # noqa: F401 (fixture)
from serial_gateway import SerialGateway


def test_run_py_shows_what_the_board_does(tmp_path):
    flash = tmp_path / "flash"
    p = subprocess.run(
        [sys.executable, os.path.join(EMU, "run.py"),
         "--config", os.path.join(EMU, "examples", "freezer_config.py"),
         "--sensors", os.path.join(EMU, "examples", "freezer_rise.json"),
         "--flash", str(flash), "--speed", "0", "--for", "2400"],
        capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "wifi: connected" in out and "ntp: clock set" in out
    assert "alert demo-freezer-1-1 [warning] door open" in out
    assert "alert demo-freezer-1-2 [warning] door closed after 90 s" in out
    crit = [l for l in out.splitlines() if "alert demo-freezer-1-3 [critical] freezer.temperature -" in l]
    assert len(crit) == 1 and crit[0].endswith(" °C (above -12 °C)"), out
    assert "sample freezer.temperature=-18.5" in out
    assert (flash / "boot.count").read_text() == "1"
    assert (flash / "outbox.log").stat().st_size > 0


def test_run_py_refuses_bad_arguments(tmp_path):
    p = subprocess.run([sys.executable, os.path.join(EMU, "run.py"), "--config", str(tmp_path / "nope.py")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "--config: no such file" in p.stderr


def test_config_error_is_printed_not_a_reset_loop(emu):
    board = emu({"device": "shed", "smtp": {"prot": 25}})
    board.run(300)
    assert any("CONFIG ERROR: smtp.prot: unknown key" in line for line in board.lines)
    assert board.boots == 1


def test_wifi_down_then_back_uses_backoff_and_reconnects(emu):
    with SerialGateway() as gw:
        cfg = base_config(serial=gw, order=("mqtt", "serial"))
        board = emu(cfg, {"freezer.temperature": -18.0}, uart_urls={1: gw.url}, wifi=False)
        board.run(1800)
        attempts = [l for l in board.lines if "wifi: connecting" in l]
        # 5 s doubling: far fewer association attempts than the 60 samples
        assert 3 <= len(attempts) <= 10
        assert not any("wifi: connected" in l for l in board.lines)
        board.wifi_up = True
        board.run(1200)
        assert any("wifi: connected" in l for l in board.lines)
        assert any("ntp: clock set" in l for l in board.lines)


def test_deep_sleep_keeps_ids_and_rule_state_in_rtc_memory(emu):
    with SerialGateway() as gw:
        cfg = base_config(serial=gw, order=("serial",), deep_sleep=True, sample_every=60)
        # two separate warm episodes an hour apart: firing, resolved (the episode's state and
        # its firing id kept in RTC memory across wakes), firing; ids continue across wakes
        script = {"freezer.temperature": [[0, -18.0], [600, -18.0], [660, -5.0], [1200, -5.0],
                                          [1260, -18.0], [4800, -18.0], [4860, -5.0]]}
        board = emu(cfg, script, uart_urls={1: gw.url})
        board.run(2 * 3600)
        gw.wait_frames(3)
        ids = [(r["id"], r.get("closes")) for r in gw.records]
        assert ids == [("shed-1-1", None), ("shed-1-2", "shed-1-1"), ("shed-1-3", None)]
        assert gw.records[1]["subject"].startswith("freezer.temperature back to -18 °C after 10 min")
        assert board.boots > 100          # woke from deep sleep for every sample
        with open(os.path.join(board.flash_dir, "boot.count")) as f:
            assert f.read() == "1"       # no flash write per wake
        assert sum("deep sleep" in l for l in board.lines) > 100
        assert sum("ntp: clock set" in l for l in board.lines) == 1   # the RTC keeps time in deep sleep
        # a wake with nothing to say is outpost/quiet.py's: no Wi-Fi, no app (the power-on
        # wake and the three alerts' wakes associate)
        assert sum("wifi: connecting" in l for l in board.lines) == 4
        assert sum("outpost on " in l for l in board.lines) == 4


def test_a_battery_boards_report_counts_the_samples_of_its_quiet_wakes(emu):
    # the quiet wakes (outpost/quiet.py) fold their samples into the report in RTC memory; the
    # wake the report is due in runs the app, which journals and sends it
    with SerialGateway() as gw:
        cfg = base_config(serial=gw, order=("serial",), deep_sleep=True, sample_every=60)
        cfg["rules"] = []
        cfg["report"] = {"at": "", "every": 3600, "chart": False}
        board = emu(cfg, {"freezer.temperature": -18.0}, uart_urls={1: gw.url})
        board.run(2 * 3600 + 120)
        gw.wait_frames(2)
        reps = [r for r in gw.records if r["kind"] == "report"]
        assert len(reps) == 2, [r["subject"] for r in gw.records]
        for r in reps:
            # an hour of samples, one a minute: all but the report's own wake were quiet ones
            line = [l for l in r["body"].splitlines() if l.startswith("freezer.temperature:")][0]
            n = int(line.split("(")[1].split()[0])
            assert 55 <= n <= 61, line
        # the power-on wake and the two report wakes associate; the quiet ones do not
        assert sum("wifi: connecting" in l for l in board.lines) == 3
        assert board.boots > 100


def test_every_sensor_type_reads_its_script_through_the_hardware_model(emu):
    cfg = base_config(order=("serial",))
    cfg["sensors"] = [
        {"name": "mcu", "type": "internal_temp"},
        {"name": "battery", "type": "adc", "pin": 34, "r1": 200000, "r2": 100000},
        {"name": "shed", "type": "dht22", "pin": 4},
        {"name": "freezer", "type": "bme280", "scl": 22, "sda": 21, "addr": 0x77},
        {"name": "door", "type": "digital", "pin": 27, "pull": "up", "invert": True},
        {"name": "float", "type": "dht22", "pin": 5},   # nothing answers on this pin
    ]
    cfg["rules"] = [{"type": "missing", "sensor": "float.temperature", "after": 90}]
    script = {"mcu": 41.5, "battery": 3.71, "shed.temperature": -3.4, "shed.humidity": 61.0,
              "freezer.temperature": -18.25, "freezer.pressure": 1003.5, "freezer.humidity": 35.0,
              "door": 1}
    board = emu(cfg, script)
    board.run(120)
    line = [l for l in board.lines if "] sample " in l][-1]
    vals = dict(kv.split("=") for kv in line.split("] sample ")[1].split())
    assert float(vals["mcu"]) == 41.5
    assert abs(float(vals["battery"]) - 3.71) < 0.005
    assert (float(vals["shed.temperature"]), float(vals["shed.humidity"])) == (-3.4, 61.0)
    assert abs(float(vals["freezer.temperature"]) + 18.25) < 0.02
    assert abs(float(vals["freezer.pressure"]) - 1003.5) < 0.2
    assert abs(float(vals["freezer.humidity"]) - 35.0) < 0.2
    assert vals["door"] == "1"
    assert vals["float.temperature"] == "-" and vals["float.humidity"] == "-"
    assert any("sensor float: " in l and "ETIMEDOUT" in l for l in board.lines)
    # the rule fires at the first sample 90 s after the first missing one (samples every 30 s
    # of board time; a step under load may land a little later), saying how long it has been
    said = [l.split("[warning] float.temperature: no reading for ")[1] for l in board.lines
            if "[warning] float.temperature: no reading for " in l]
    # 90 to 120 s, rounded as shown: "2 min" from 119.5 s on
    assert len(said) == 1 and (said[0] == "2 min" or
                               (said[0].endswith(" s") and 90 <= int(said[0][:-2]) < 120)), said


def test_watchdog_is_fed_through_long_idle_periods(emu):
    # 10-minute samples with a 60 s watchdog: the idle wait feeds it (the emulated WDT resets
    # the board when a feed comes later than its timeout)
    cfg = base_config(order=("serial",), sample_every=600, watchdog=60)
    board = emu(cfg, {"freezer.temperature": -18.0})
    board.run(2 * 3600)
    assert board.boots == 1
    assert not any("WATCHDOG" in l for l in board.lines)
    assert sum("] sample " in l for l in board.lines) >= 12


def test_emulated_watchdog_resets_a_board_that_stops_feeding(emu):
    # the stand-in itself: a feed later than the timeout resets the board, like the hardware
    board = emu(base_config(order=("serial",)), {"freezer.temperature": -18.0})
    import machine
    from emulator.errors import BoardReset
    w = machine.WDT(timeout=1000)
    board.clock.advance(2)
    with pytest.raises(BoardReset):
        w.feed()


def test_rule_on_a_reading_no_sensor_gives_is_a_config_error(emu):
    cfg = base_config(order=("serial",))
    cfg["rules"] = [{"sensor": "freezer.temp", "above": -12}]
    board = emu(cfg, {"freezer.temperature": -18.0})
    board.run(600)
    errors = [l for l in board.lines if "CONFIG ERROR: rules[0].sensor: no sensor gives 'freezer.temp'" in l]
    assert errors and "freezer.temperature" in errors[0]
    assert board.boots == 1      # no watchdog reset loop (no flash write per boot)


def test_outage_backoff_survives_deep_sleep(emu):
    with SerialGateway() as gw:
        gw.answer = False
        cfg = base_config(serial=gw, order=("serial",), deep_sleep=True, sample_every=60)
        cfg["serial"]["timeout"] = 1
        cfg["transport"]["retry_max"] = 960
        board = emu(cfg, RISE, uart_urls={1: gw.url})
        board.run(2400)
        # 30 s doubling to 960 s over the ~27 minutes after the alert, not one try per wake
        assert 4 <= gw.frames <= 7, gw.frames
        gw.answer = True
        board.run(1200)
        assert [r["id"] for r in gw.records] == ["shed-1-1"]
