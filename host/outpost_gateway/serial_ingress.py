# USB serial ingress (the only module that imports pyserial). One thread per port reads lines;
# an "A1" frame is checked (CRC, record) and handed to the spool; "ACK <id>" goes back only
# after the commit, "NAK <id> <reason>" for a frame that cannot be taken. Other lines (boot
# chatter, the REPL) are ignored. An unplugged port is reopened every serial.reopen_interval.
#
# Survival: a line whose handling raises is answered "NAK - error", logged and kept in the
# spool's `rejected` table; the reader goes on with the next line. Anything else the loop
# raises closes the port and reopens it. alive() and step_error tell the gateway's supervisor
# whether this path works; supervise() starts a reader thread that is gone.
import logging
import threading

import serial
from outpost_contract import frame as serial_frame
from outpost_contract import record as alert_record

from .ingest import show

log = logging.getLogger("outpost.serial")


def _record_id(payload):
    try:
        rid = alert_record.loads(payload).get("id")     # size and nesting bounded
    except (ValueError, AttributeError):
        return None
    if isinstance(rid, str) and 0 < len(rid) <= 128 and \
            all(c.isascii() and (c.isalnum() or c in "._-") for c in rid):
        return rid
    return None


class SerialIngress:
    def __init__(self, port, scfg, ingest):
        self.port = port
        self.baudrate = scfg["baudrate"]
        self.reopen = scfg["reopen_interval"]
        self.ingest = ingest
        self.ser = None
        self.is_open = False
        self.last_error = None
        self.opens = 0
        self.step_error = None   # what the last line's handling raised, until one goes through
        self.restarts = 0
        self._stop = threading.Event()
        self._wlock = threading.Lock()
        self._t = None

    def start(self):
        self._t = threading.Thread(target=self._run, name="serial " + self.port, daemon=True)
        self._t.start()

    def stop(self):
        self._stop.set()
        if self._t is not None:
            self._t.join(timeout=5)

    def alive(self):
        return self._t is not None and self._t.is_alive()

    def supervise(self):
        # called by the gateway every few seconds: a reader thread that is gone starts again
        if self._stop.is_set() or self._t is None or self._t.is_alive():
            return False
        self.restarts += 1
        log.error("serial %s: reader thread is gone; starting it again (restart %d)", self.port,
                  self.restarts)
        self.start()
        return True

    def _run(self):
        while not self._stop.is_set():
            try:
                self.ser = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.2)
                self.is_open = True
                self.opens += 1
                self.last_error = None
                log.info("serial %s open", self.port)
                self._read_loop(self.ser)
            except (serial.SerialException, OSError, ValueError) as e:
                if self.last_error is None:
                    log.warning("serial %s: %s; retrying every %.0f s", self.port, e, self.reopen)
                self.last_error = str(e)
            except Exception as e:
                # not the port's fault: a bug met on some input. Close, reopen, go on
                log.exception("serial %s: reader failed; reopening", self.port)
                self.last_error = "%s: %s" % (type(e).__name__, e)
            finally:
                self.is_open = False
                s, self.ser = self.ser, None
                if s is not None:
                    try:
                        s.close()
                    except (serial.SerialException, OSError):
                        pass
            self._stop.wait(self.reopen)

    def _read_loop(self, ser):
        buf = bytearray()
        skipping = False         # inside an over-long line: drop up to its end
        while not self._stop.is_set():
            data = ser.read(max(1, min(ser.in_waiting, 65536)))
            if not data:
                continue
            buf += data
            while True:
                i = buf.find(b"\n")
                if i < 0:
                    break
                line = bytes(buf[:i + 1])
                del buf[:i + 1]
                if skipping:
                    skipping = False
                    continue
                self._safe_line(line)
            if len(buf) > serial_frame.MAX_LINE:
                if buf.startswith(serial_frame.PREFIX) and not skipping:
                    self.ingest.refuse("serial", "too-long", "frame longer than %d bytes" % serial_frame.MAX_LINE,
                                       bytes(buf[:4096]), self.port)
                    self._write(serial_frame.nak(None, "too-long"))
                del buf[:]
                skipping = True

    def _write(self, data):
        with self._wlock:
            s = self.ser
            if s is None:
                return        # unplugged meanwhile: the board sends again and is deduplicated
            try:
                s.write(data)
            except (serial.SerialException, OSError) as e:
                self.last_error = str(e)

    def _safe_line(self, line):
        try:
            self._line(line)
            self.step_error = None
        except Exception as e:
            self.step_error = "%s: %s" % (type(e).__name__, e)
            try:
                self.ingest.failed("serial", self.port, e, line, "a line " + show(line, 40))
                self._write(serial_frame.nak(None, "error"))
            except Exception:
                log.exception("serial %s: could not answer a line that failed", self.port)

    def _line(self, line):
        try:
            payload = serial_frame.parse(line)
        except serial_frame.FrameError as e:
            self.ingest.refuse("serial", e.reason, str(e), line, self.port)
            self._write(serial_frame.nak(e.id, e.reason))
            return
        if payload is None:
            return
        rid = _record_id(payload)

        def answer(res, why=None):
            if res in ("new", "dup"):
                self._write(serial_frame.ack(rid))
            elif res == "bad":
                self._write(serial_frame.nak(rid, "bad-record " + (why or "")))
            elif res == "full":
                self._write(serial_frame.nak(rid, "spool-full"))
            else:
                self._write(serial_frame.nak(rid, "spool-error"))

        self.ingest.offer(payload, "serial", answer, origin=self.port)
