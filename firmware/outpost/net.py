# Wi-Fi with a timeout and exponential backoff between failed attempts, and NTP right after
# association (certificate checks need the right date).
import time

from outpost import clock


class Net:
    def __init__(self, wifi_cfg, ntp_cfg, log, feed=None, mono=None):
        self.w = wifi_cfg
        self.ntp = ntp_cfg
        self.log = log
        self.feed = feed or (lambda: None)
        self.mono = mono
        self.wlan = None
        self.fails = 0
        self.next_try = 0
        self.ntp_at = None     # mono time of the last good NTP sync

    def connected(self):
        return self.wlan is not None and self.wlan.isconnected()

    def up(self):
        """Associate if needed (respecting the backoff); returns True when connected."""
        if not self.w["ssid"]:
            return False
        if self.wlan is None:
            import network
            self.wlan = network.WLAN(network.STA_IF)
            self.wlan.active(True)
        now = self.mono()
        if not self.wlan.isconnected():
            if now < self.next_try:
                return False
            self.log("wifi: connecting to " + self.w["ssid"])
            try:
                self.wlan.connect(self.w["ssid"], self.w["password"])
            except OSError as e:
                self.log("wifi: " + str(e))
            deadline = time.ticks_add(time.ticks_ms(), self.w["timeout"] * 1000)
            while not self.wlan.isconnected() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
                self.feed()
                time.sleep_ms(250)
            if not self.wlan.isconnected():
                self.fails += 1
                from outpost_contract.rules import backoff
                wait = backoff(self.fails, 5, 2, self.w["backoff_max"])
                self.next_try = self.mono() + wait
                self.log("wifi: no connection (attempt " + str(self.fails) + "), next try in " +
                         str(wait) + " s")
                try:
                    self.wlan.disconnect()
                except OSError:
                    pass
                return False
            self.fails = 0
            self.log("wifi: connected")
        if self.ntp_at is None or not clock.is_set() or now - self.ntp_at >= self.ntp["every"]:
            self.sync_time()
        return True

    def sync_time(self):
        try:
            import ntptime
            ntptime.host = self.ntp["host"]
            ntptime.settime()
            self.ntp_at = self.mono()
            self.log("ntp: clock set")
        except Exception as e:  # OSError, or a bad packet: try again next time
            self.log("ntp: failed (" + str(e) + ")")
