# The BME280 (temperature, pressure, humidity over I2C): its driver, and the conversions from
# its registers as pure functions (Bosch's datasheet). Loaded only when one is fitted.
from outpost.sensors import SensorError


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


def _s16(b, i):
    v = _u16(b, i)
    return v - 65536 if v > 32767 else v


def _s12(v):
    return v - 4096 if v > 2047 else v


def calibration(b88, a1, e1):
    """Trimming parameters from registers 0x88..0x9F (24 bytes), 0xA1 (1) and 0xE1..0xE7 (7)."""
    c = {"T1": _u16(b88, 0), "T2": _s16(b88, 2), "T3": _s16(b88, 4), "P1": _u16(b88, 6)}
    for i in range(2, 10):
        c["P" + str(i)] = _s16(b88, 6 + 2 * (i - 1))
    c["H1"] = a1[0]
    c["H2"] = _s16(e1, 0)
    c["H3"] = e1[2]
    c["H4"] = _s12((e1[3] << 4) | (e1[4] & 0x0F))
    c["H5"] = _s12((e1[5] << 4) | (e1[4] >> 4))
    h6 = e1[6]
    c["H6"] = h6 - 256 if h6 > 127 else h6
    return c


def raw(data):
    # registers 0xF7..0xFE -> (adc_T, adc_P, adc_H)
    p = (data[0] << 12) | (data[1] << 4) | (data[2] >> 4)
    t = (data[3] << 12) | (data[4] << 4) | (data[5] >> 4)
    h = (data[6] << 8) | data[7]
    return t, p, h


def compensate(adc_t, adc_p, adc_h, c):
    """Bosch BME280 datasheet floating-point compensation -> (C, hPa, %RH)."""
    v1 = (adc_t / 16384.0 - c["T1"] / 1024.0) * c["T2"]
    d = adc_t / 131072.0 - c["T1"] / 8192.0
    v2 = d * d * c["T3"]
    t_fine = v1 + v2
    temp = t_fine / 5120.0
    v1 = t_fine / 2.0 - 64000.0
    v2 = v1 * v1 * c["P6"] / 32768.0
    v2 = v2 + v1 * c["P5"] * 2.0
    v2 = v2 / 4.0 + c["P4"] * 65536.0
    v1 = (c["P3"] * v1 * v1 / 524288.0 + c["P2"] * v1) / 524288.0
    v1 = (1.0 + v1 / 32768.0) * c["P1"]
    if v1 == 0:
        raise SensorError("bme280: bad calibration")
    p = 1048576.0 - adc_p
    p = (p - v2 / 4096.0) * 6250.0 / v1
    v1 = c["P9"] * p * p / 2147483648.0
    v2 = p * c["P8"] / 32768.0
    p = p + (v1 + v2 + c["P7"]) / 16.0
    h = t_fine - 76800.0
    h = (adc_h - (c["H4"] * 64.0 + c["H5"] / 16384.0 * h)) * \
        (c["H2"] / 65536.0 * (1.0 + c["H6"] / 67108864.0 * h * (1.0 + c["H3"] / 67108864.0 * h)))
    h = h * (1.0 - c["H1"] * h / 524288.0)
    if h > 100.0:
        h = 100.0
    elif h < 0.0:
        h = 0.0
    return temp, p / 100.0, h


class Bme280:
    CHIP_ID = 0x60

    def __init__(self, name, i2c, addr=0x76):
        self.name = name
        self.i2c = i2c
        self.addr = addr
        self.cal = None
        self.units = {name + ".temperature": "°C", name + ".pressure": "hPa", name + ".humidity": "%"}

    def _setup(self):
        chip = self.i2c.readfrom_mem(self.addr, 0xD0, 1)[0]
        if chip != self.CHIP_ID:
            raise SensorError("bme280: chip id 0x%02x at 0x%02x, expected 0x60" % (chip, self.addr))
        self.cal = calibration(self.i2c.readfrom_mem(self.addr, 0x88, 24),
                                      self.i2c.readfrom_mem(self.addr, 0xA1, 1),
                                      self.i2c.readfrom_mem(self.addr, 0xE1, 7))

    def read(self, sleep_ms=None):
        if self.cal is None:
            self._setup()
        self.i2c.writeto_mem(self.addr, 0xF2, b"\x01")      # humidity x1
        self.i2c.writeto_mem(self.addr, 0xF4, b"\x25")      # temp x1, pressure x1, forced mode
        for _ in range(20):
            if not self.i2c.readfrom_mem(self.addr, 0xF3, 1)[0] & 0x08:
                break
            if sleep_ms:
                sleep_ms(2)
        t, p, h = compensate(*(raw(self.i2c.readfrom_mem(self.addr, 0xF7, 8)) + (self.cal,)))
        n = self.name
        return {n + ".temperature": round(t, 2), n + ".pressure": round(p, 1), n + ".humidity": round(h, 1)}
