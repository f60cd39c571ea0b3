# `network` for the MicroPython unix port: the host's own network is the board's Wi-Fi. A file
# `wifi.off` in the board's folder (its flash) takes the access point away.
import os

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010


def _ap():
    try:
        os.stat("wifi.off")
        return False
    except OSError:
        return True


class _WLAN:
    def __init__(self):
        self._active = False
        self._ssid = None

    def active(self, on=None):
        if on is None:
            return self._active
        self._active = bool(on)

    def connect(self, ssid=None, key=None, **kw):
        if not self._active:
            raise OSError("Wifi Not Started")
        self._ssid = ssid

    def disconnect(self):
        self._ssid = None

    def isconnected(self):
        return bool(self._active and self._ssid and _ap())

    def status(self, param=None):
        if param == "rssi":
            return -50
        return STAT_GOT_IP if self.isconnected() else STAT_IDLE

    def ifconfig(self, *a):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")


_IF = {}


def WLAN(interface=STA_IF):
    # one per interface, kept while powered, as on a board
    if interface not in _IF:
        _IF[interface] = _WLAN()
    return _IF[interface]
