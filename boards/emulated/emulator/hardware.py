# The emulated board's hardware: sensors wired as the firmware's config says, each reading its
# value from the sensor script at the current world time. The devices behave like the real parts
# (a BME280 register map with calibration data, DHT22 bytes with a checksum, an ADC behind a
# divider), so the firmware's drivers and conversions run unchanged.
import errno

# trimming values of a plausible BME280 (temperature/pressure as in Bosch's worked example)
CAL_TP = [27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000]
CAL_H = {"H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30}


def _le16(v):
    v &= 0xFFFF
    return bytes((v & 0xFF, v >> 8))


def _cal_bytes():
    b88 = b"".join(_le16(v) for v in CAL_TP)
    a1 = bytes((CAL_H["H1"],))
    h4, h5 = CAL_H["H4"], CAL_H["H5"]
    e1 = _le16(CAL_H["H2"]) + bytes((CAL_H["H3"], (h4 >> 4) & 0xFF, (h4 & 0x0F) | ((h5 & 0x0F) << 4),
                                     (h5 >> 4) & 0xFF, CAL_H["H6"] & 0xFF))
    return b88, a1, e1


def _search(fn, target, lo, hi, increasing=True):
    # integer raw value whose compensated output is closest to target (fn is monotonic)
    while lo < hi:
        mid = (lo + hi) // 2
        v = fn(mid)
        if (v < target) == increasing:
            lo = mid + 1
        else:
            hi = mid
    return lo


class Bme280Device:
    def __init__(self, hw, name):
        self.hw = hw
        self.name = name
        self.b88, self.a1, self.e1 = _cal_bytes()
        self.regs = {}

    def _raw(self):
        from outpost.bme280 import calibration, compensate as bme280_compensate
        cal = calibration(self.b88, self.a1, self.e1)
        t = self.hw.value(self.name + ".temperature")
        p = self.hw.value(self.name + ".pressure")
        h = self.hw.value(self.name + ".humidity")
        if t is None:
            raise OSError(errno.ENODEV, "ENODEV")
        p = 1013.25 if p is None else p
        h = 50.0 if h is None else h
        at = _search(lambda r: bme280_compensate(r, 400000, 30000, cal)[0], t, 0, (1 << 20) - 1)
        ap = _search(lambda r: bme280_compensate(at, r, 30000, cal)[1], p, 0, (1 << 20) - 1, False)
        ah = _search(lambda r: bme280_compensate(at, ap, r, cal)[2], h, 0, 65535)
        return bytes((ap >> 12, (ap >> 4) & 0xFF, (ap & 0x0F) << 4,
                      at >> 12, (at >> 4) & 0xFF, (at & 0x0F) << 4, ah >> 8, ah & 0xFF))

    def read(self, reg, n):
        if self.hw.value(self.name + ".temperature") is None:
            raise OSError(errno.ENODEV, "ENODEV")
        if reg == 0xD0:
            data = b"\x60"
        elif reg == 0x88:
            data = self.b88
        elif reg == 0xA1:
            data = self.a1
        elif reg == 0xE1:
            data = self.e1
        elif reg == 0xF3:
            data = b"\x00"
        elif reg == 0xF7:
            data = self._raw()
        else:
            data = bytes((self.regs.get(reg, 0),))
        return (data + bytes(n))[:n]

    def write(self, reg, data):
        for i, b in enumerate(data):
            self.regs[reg + i] = b


def dht22_bytes(t, h):
    hv = int(round(h * 10))
    tv = int(round(abs(t) * 10))
    b = [hv >> 8, hv & 0xFF, (tv >> 8) | (0x80 if t < 0 else 0), tv & 0xFF]
    return bytes(b + [sum(b) & 0xFF])


class Hardware:
    def __init__(self, board, sensor_cfgs):
        self.board = board
        self.pins = {}       # pin -> sensor cfg (digital, adc, dht22)
        self.i2c = {}        # (scl, sda) -> {addr: device}
        self.mcu = None      # name of the internal temperature reading
        self.leds = {}       # output pin -> level
        for s in sensor_cfgs or []:
            t = s["type"]
            if t in ("digital", "adc", "dht22"):
                self.pins[s["pin"]] = s
            elif t == "bme280":
                bus = self.i2c.setdefault((s["scl"], s["sda"]), {})
                bus[s.get("addr", 0x76)] = Bme280Device(self, s["name"])
            elif t == "internal_temp":
                self.mcu = s["name"]

    def value(self, name):
        return self.board.script(name, self.board.clock.elapsed())

    def pin_level(self, pin):
        s = self.pins.get(pin)
        if s is None or s["type"] != "digital":
            return self.leds.get(pin, 0)
        v = self.value(s["name"])
        if v is None:
            return 0
        v = 1 if v else 0
        return 1 - v if s.get("invert") else v

    def adc_uv(self, pin):
        s = self.pins.get(pin)
        if s is None or s["type"] != "adc":
            return 0
        v = self.value(s["name"])
        if v is None:
            return 0
        r1, r2 = s.get("r1", 1), s.get("r2", 1)
        return int(v * r2 / (r1 + r2) * 1000000)

    def dht(self, pin, buf):
        s = self.pins.get(pin)
        if s is None or s["type"] != "dht22":
            raise OSError(errno.ETIMEDOUT, "ETIMEDOUT")
        t = self.value(s["name"] + ".temperature")
        h = self.value(s["name"] + ".humidity")
        if t is None:
            raise OSError(errno.ETIMEDOUT, "ETIMEDOUT")
        buf[:5] = dht22_bytes(t, 50.0 if h is None else h)

    def mcu_temperature(self):
        v = self.value(self.mcu) if self.mcu else None
        return 40 if v is None else v

    def i2c_device(self, scl, sda, addr):
        dev = self.i2c.get((scl, sda), {}).get(addr)
        if dev is None:
            raise OSError(errno.ENODEV, "ENODEV")
        return dev
