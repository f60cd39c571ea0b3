"""Shared pieces of the emulated-board tests: the board fixture and a base config."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EMU = os.path.join(ROOT, "boards", "emulated")

T_START = 1795842000  # 2026-11-28T05:00:00Z


@pytest.fixture
def emu(tmp_path):
    """make(config, sensors, **kw) -> a started EmulatedBoard on tmp_path/flash; closed after."""
    sys.path.insert(0, EMU)
    from emulator.harness import EmulatedBoard
    boards = []

    def make(config, sensors=None, **kw):
        for b in boards:
            b.close()
        kw.setdefault("flash_dir", str(tmp_path / "flash"))
        kw.setdefault("start", T_START)
        b = EmulatedBoard(config, sensors=sensors, **kw)
        boards.append(b)
        b.start()
        return b

    yield make
    for b in boards:
        b.close()
    if EMU in sys.path:
        sys.path.remove(EMU)
    for name in list(sys.modules):
        if name.split(".")[0] == "emulator":
            del sys.modules[name]


def base_config(mail=None, mqtt=None, serial=None, order=("smtp", "mqtt", "serial"), **over):
    c = {
        "device": "shed",
        "wifi": {"ssid": "lab", "password": "not-a-secret"},
        "sensors": [{"name": "freezer", "type": "bme280", "scl": 22, "sda": 21}],
        "rules": [{"sensor": "freezer.temperature", "above": -12, "hysteresis": 1.0,
                   "cooldown": 1800, "severity": "critical"}],
        "report": {"at": ""},
        "transport": {"order": list(order), "budget": 30, "retry_min": 30, "retry_max": 240},
        "mail": {"sender": "shed@example.org", "to": ["me@example.org"]},
    }
    if mail is not None:
        c["smtp"] = {"host": mail.host, "port": mail.port, "mode": "tls", "ca": mail.ca_pem.decode(),
                     "server_hostname": "localhost", "timeout": 10}
    if mqtt is not None:
        c["mqtt"] = {"host": mqtt.host, "port": mqtt.port, "timeout": 5}
    if serial is not None:
        c["serial"] = {"uart": 1, "timeout": 2}
    c.update(over)
    return c


# the freezer warms from -18 C to -5 C between minute 10 and minute 15, and stays warm
RISE = {"freezer.temperature": [[0, -18.0], [600, -18.0], [900, -5.0]]}
