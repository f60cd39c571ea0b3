# The transport chain: direct SMTP, MQTT to the gateway, serial to the gateway, in the configured
# order, all inside one time budget. The outbox (the caller) keeps whatever did not get through.
#
# A path raises Down for an outage (try the next path; retry later) and Refused for a permanent
# answer about this message (a 5xx): that is not an outage, so no other path is tried and the
# record is marked dead instead of going round again.
import gc
import time


class Down(Exception):
    pass


class Refused(Exception):
    pass


class SmtpPath:
    name = "smtp"

    def __init__(self, cfg, net, log):
        self.smtp = cfg["smtp"]
        self.mail = cfg["mail"]
        self.net = net
        self.log = log
        self.auth_warned = False

    def enabled(self):
        return bool(self.smtp["host"])

    def send(self, rec, csv, timeout):
        from outpost import alerts, clock
        import usmtp
        from usmtp.errors import (SMTPError, SMTPAuthError, SMTPUsageError, SMTPRecipientsRefused,
                                  is_transient)
        c = self.smtp
        if not self.net.connected():
            raise Down("no Wi-Fi")
        verify = c["verify"] and c["mode"] != "plain"
        if verify and not clock.is_set():
            raise Down("clock not set (NTP has not succeeded): cannot verify the server certificate")
        msg = alerts.to_message(rec, csv, self.mail)
        gc.collect()  # TLS needs the largest free block we can give it
        try:
            s = usmtp.SMTP(c["host"], c["port"], mode=c["mode"], cadata=c["ca"] or None,
                           server_hostname=c["server_hostname"] or None, timeout=timeout,
                           insecure_skip_verify=not c["verify"],
                           allow_plaintext_auth=c["allow_plaintext_auth"])
            try:
                if c["oauth_token"]:
                    s.login_oauth2(c["user"], c["oauth_token"], defer=True)
                elif c["user"]:
                    s.login(c["user"], c["password"], defer=True)  # rides with MAIL: one round trip less
                refused = s.sendmail(self.mail["sender"], msg.recipients(), msg.chunks())
                try:
                    s.quit()
                except (SMTPError, OSError):
                    pass  # the message was accepted (250) before this
            finally:
                s.close()
        except SMTPAuthError as e:
            # our credentials, not the message: the gateway can still deliver it
            if not self.auth_warned:
                self.log("smtp: AUTH refused (" + str(e) + "): check smtp.user / password")
                self.auth_warned = True
            raise Down("AUTH refused")
        except SMTPUsageError as e:
            raise Refused(str(e))
        except SMTPRecipientsRefused as e:
            if e.transient:
                raise Down(str(e))
            raise Refused(str(e))
        except SMTPError as e:
            if is_transient(e):
                raise Down(str(e) or e.__class__.__name__)
            raise Refused(str(e))
        except OSError as e:
            raise Down("network: " + str(e))
        for rcpt in refused:
            self.log("smtp: " + rcpt + " refused: " + str(refused[rcpt][0]) + " " + refused[rcpt][1])


class MqttPath:
    name = "mqtt"

    def __init__(self, cfg, net, log):
        self.m = cfg["mqtt"]
        self.device = cfg["device"]
        self.net = net
        self.log = log

    def enabled(self):
        return bool(self.m["host"])

    def send(self, rec, csv, timeout):
        from outpost import alerts
        topic = "outpost/" + self.device + ("/report" if rec["kind"] == "report" else "/alert")
        self._publish([(topic, alerts.gateway_record(rec, csv), False)], timeout)

    def beat(self, uptime, timeout):
        # a sign of life for the gateway's watchdog: retained status and the uptime
        base = "outpost/" + self.device
        self._publish([(base + "/status", b"online", True),
                       (base + "/heartbeat", str(int(uptime)).encode(), False)], timeout)

    def _publish(self, messages, timeout):
        from umqtt.simple import MQTTClient
        if not self.net.connected():
            raise Down("no Wi-Fi")
        m = self.m
        c = MQTTClient(self.device, m["host"], m["port"], m["user"] or None, m["password"] or None,
                       m["keepalive"])
        c.set_last_will("outpost/" + self.device + "/status", b"offline", True, 1)
        try:
            try:
                c.connect(timeout=timeout)
            except TypeError:  # an umqtt.simple without the timeout argument
                c.connect()
            c.sock.settimeout(timeout)
            for topic, data, retain in messages:
                c.publish(topic, data, retain, 1)  # QoS 1: returns only after the PUBACK
        except Exception as e:  # OSError, MQTTException: an outage of this path
            try:
                c.sock.close()
            except Exception:
                pass
            raise Down(e.__class__.__name__ + " " + str(e))
        try:
            c.disconnect()
        except Exception:
            pass


class SerialPath:
    name = "serial"

    def __init__(self, cfg, log, uart=None):
        self.s = cfg["serial"]
        self.log = log
        self.uart = uart

    def enabled(self):
        return self.s["uart"] >= 0

    def _port(self):
        if self.uart is None:
            import machine
            kw = {"baudrate": self.s["baud"], "timeout": 100}
            if self.s["tx"] >= 0:
                kw["tx"] = self.s["tx"]
            if self.s["rx"] >= 0:
                kw["rx"] = self.s["rx"]
            self.uart = machine.UART(self.s["uart"], **kw)
        return self.uart

    def send(self, rec, csv, timeout):
        import serial_frame
        from outpost import alerts
        try:
            u = self._port()
            while u.any():
                u.read()  # drop stale replies from an earlier attempt
            u.write(serial_frame.encode(alerts.gateway_record(rec, csv)))
        except OSError as e:
            raise Down(str(e))
        rid = rec["id"]
        deadline = time.ticks_add(time.ticks_ms(), int(timeout * 1000))
        buf = b""
        while time.ticks_diff(deadline, time.ticks_ms()) > 0:
            chunk = u.readline()
            if not chunk:
                continue
            buf += chunk
            if not buf.endswith(b"\n"):
                continue
            line = buf
            buf = b""
            r = serial_frame.parse_reply(line)
            if r is None:
                continue  # boot chatter, REPL, another board's reply
            if r[0] == "ACK" and r[1] == rid:
                return
            if r[0] == "NAK" and r[1] in (rid, None):
                raise Down("gateway NAK " + r[-1])
        raise Down("no ACK within " + str(timeout) + " s")


class Chain:
    # mono: a callable giving monotonic seconds (the app's clock.Mono)
    def __init__(self, paths, budget, log, mono, feed=None):
        self.paths = paths
        self.budget = budget
        self.log = log
        self.mono = mono
        self.feed = feed or (lambda: None)

    def send(self, rec, csv, timeouts):
        """Try each enabled path in order within the budget.
        Returns ("sent", path) | ("dead", reason) | ("down", reasons)."""
        start = self.mono()
        reasons = []
        for p in self.paths:
            if not p.enabled():
                continue
            left = self.budget - (self.mono() - start)
            if left < 1:
                reasons.append(p.name + ": no time left in the budget")
                break
            self.feed()
            try:
                p.send(rec, csv, min(timeouts.get(p.name, 10), left))
                return ("sent", p.name)
            except Refused as e:
                return ("dead", p.name + ": " + str(e))
            except Down as e:
                reasons.append(p.name + ": " + str(e))
                self.log("path " + reasons[-1])
        if not reasons:
            reasons.append("no path configured")
        return ("down", reasons)


def backoff(attempts, lo, hi):
    # seconds to wait before the next try after `attempts` failures: lo, 2lo, 4lo, ... <= hi
    if attempts <= 0:
        return 0
    d = lo
    for _ in range(attempts - 1):
        d *= 2
        if d >= hi:
            return hi
    return min(d, hi)
