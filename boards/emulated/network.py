# Stand-in for MicroPython's `network` on the emulated board: a station interface whose
# association follows the harness's Wi-Fi switch (board.wifi_up).
from emulator import state

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202


class WLAN:
    def __init__(self, interface=STA_IF):
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
        state.board.log("wifi: connect to " + repr(ssid) + (" (up)" if state.board.wifi_up else " (no AP)"))

    def disconnect(self):
        self._ssid = None

    def isconnected(self):
        return bool(self._active and self._ssid and state.board.wifi_up)

    def status(self, param=None):
        if param == "rssi":
            return -55
        if self.isconnected():
            return STAT_GOT_IP
        return STAT_NO_AP_FOUND if self._ssid else STAT_IDLE

    def ifconfig(self, cfg=None):
        return ("127.0.0.1", "255.0.0.0", "127.0.0.1", "127.0.0.1")

    def config(self, *a, **kw):
        if a and a[0] == "mac":
            return b"\xe0\x5a\x1b\x00\x00\x01"
        return None
