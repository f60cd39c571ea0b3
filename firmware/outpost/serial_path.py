# The serial path to the gateway: the record as one frame (lib/outpost_contract/frame.py) over a
# UART, done on the gateway's ACK. Its own module, loaded only when the chain reaches it.
import time

from outpost import Down


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

    def send(self, rec, csv, timeout, data=None):
        from outpost_contract import frame as serial_frame
        if data is None or csv:
            from outpost import alerts
            data = alerts.gateway_record(rec, csv)
        try:
            u = self._port()
            while u.any():
                u.read()  # drop stale replies from an earlier attempt
            u.write(serial_frame.encode(data))
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
