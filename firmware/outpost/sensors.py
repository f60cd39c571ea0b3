# Sensors: drivers that are handed their pin or bus (so a fake one works), and the conversions
# from raw values as pure functions. A sensor that fails or is absent gives None, never a number.
#
# Reading names: a single-quantity sensor gives "<name>"; a multi-quantity one gives
# "<name>.temperature", "<name>.humidity", "<name>.pressure".


class SensorError(Exception):
    pass


# --- pure conversions ---------------------------------------------------------------------

def divider_volts(volts_at_pin, r1, r2):
    # r1 from the measured voltage to the pin, r2 from the pin to ground
    return volts_at_pin * (r1 + r2) / r2


def adc_u16_volts(raw, vref):
    return raw * vref / 65535


def rp2040_temp(raw_u16):
    # RP2040 datasheet 4.9.5: 27 C at 0.706 V, -1.721 mV per degree, 3.3 V reference
    return 27 - (raw_u16 * 3.3 / 65535 - 0.706) / 0.001721


def fahrenheit_to_c(f):
    return (f - 32) / 1.8


def dht22_decode(buf):
    # 5 bytes from the sensor -> (temperature C, humidity %); raises SensorError on a bad checksum
    if len(buf) < 5:
        raise SensorError("dht22: short read")
    if (buf[0] + buf[1] + buf[2] + buf[3]) & 0xFF != buf[4]:
        raise SensorError("dht22: checksum error")
    hum = ((buf[0] << 8) | buf[1]) / 10
    t = (((buf[2] & 0x7F) << 8) | buf[3]) / 10
    if buf[2] & 0x80:
        t = -t
    if hum > 100 or t < -40 or t > 80:
        raise SensorError("dht22: value out of range")
    return t, hum


def _u16(b, i):
    return b[i] | (b[i + 1] << 8)


def _s16(b, i):
    v = _u16(b, i)
    return v - 65536 if v > 32767 else v


def _s12(v):
    return v - 4096 if v > 2047 else v


def bme280_calibration(b88, a1, e1):
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


def bme280_raw(data):
    # registers 0xF7..0xFE -> (adc_T, adc_P, adc_H)
    p = (data[0] << 12) | (data[1] << 4) | (data[2] >> 4)
    t = (data[3] << 12) | (data[4] << 4) | (data[5] >> 4)
    h = (data[6] << 8) | data[7]
    return t, p, h


def bme280_compensate(adc_t, adc_p, adc_h, c):
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


# --- drivers ------------------------------------------------------------------------------

class Digital:
    # a door, float or reed switch on a GPIO: 1 = active (after `invert`)
    def __init__(self, name, pin, invert=False):
        self.name = name
        self.pin = pin
        self.invert = invert
        self.units = {name: ""}

    def read(self):
        v = self.pin.value()
        return {self.name: (1 - v) if self.invert else v}


class Adc:
    # a voltage through a divider; prefers the port's calibrated read_uv() (ESP32)
    def __init__(self, name, adc, r1=1, r2=1, vref=3.3):
        self.name = name
        self.adc = adc
        self.r1 = r1
        self.r2 = r2
        self.vref = vref
        self.units = {name: "V"}

    def read(self):
        if hasattr(self.adc, "read_uv"):
            v = self.adc.read_uv() / 1000000
        else:
            v = adc_u16_volts(self.adc.read_u16(), self.vref)
        return {self.name: round(divider_volts(v, self.r1, self.r2), 3)}


class InternalTemp:
    # the MCU's own temperature; `source` is a callable giving C, or an ADC (RP2040 channel 4)
    def __init__(self, name, source):
        self.name = name
        self.source = source
        self.units = {name: "°C"}

    def read(self):
        if hasattr(self.source, "read_u16"):
            return {self.name: round(rp2040_temp(self.source.read_u16()), 1)}
        return {self.name: round(self.source(), 1)}


class Dht22:
    # readinto(pin, buf): the port's bit-banging reader (esp.dht_readinto / rp2.dht_readinto)
    def __init__(self, name, pin, readinto):
        self.name = name
        self.pin = pin
        self.readinto = readinto
        self.buf = bytearray(5)
        self.units = {name + ".temperature": "°C", name + ".humidity": "%"}

    def read(self):
        self.readinto(self.pin, self.buf)
        t, h = dht22_decode(self.buf)
        return {self.name + ".temperature": t, self.name + ".humidity": h}


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
        self.cal = bme280_calibration(self.i2c.readfrom_mem(self.addr, 0x88, 24),
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
        t, p, h = bme280_compensate(*(bme280_raw(self.i2c.readfrom_mem(self.addr, 0xF7, 8)) + (self.cal,)))
        n = self.name
        return {n + ".temperature": round(t, 2), n + ".pressure": round(p, 1), n + ".humidity": round(h, 1)}


def sample(drivers):
    """Read every driver; returns (readings {name: (value|None, unit)}, errors {name: text})."""
    readings = {}
    errors = {}
    for d in drivers:
        try:
            got = d.read()
        except Exception as e:  # a failed or absent sensor is reported, not guessed
            got = None
            errors[d.name] = e.__class__.__name__ + ": " + str(e)
        for k in d.units:
            v = None if got is None else got.get(k)
            readings[k] = (v, d.units[k])
    return readings, errors


def build(sensor_cfgs, machine):
    """Drivers for the configured sensors, on the given `machine` module."""
    out = []
    for s in sensor_cfgs:
        t = s["type"]
        name = s["name"]
        if t == "digital":
            pull = {"up": machine.Pin.PULL_UP, "down": machine.Pin.PULL_DOWN}.get(s.get("pull"))
            if pull is None:
                pin = machine.Pin(s["pin"], machine.Pin.IN)
            else:
                pin = machine.Pin(s["pin"], machine.Pin.IN, pull)
            out.append(Digital(name, pin, s.get("invert", False)))
        elif t == "adc":
            adc = machine.ADC(machine.Pin(s["pin"]))
            if "atten" in s and hasattr(adc, "atten"):
                adc.atten(s["atten"])
            elif hasattr(machine.ADC, "ATTN_11DB"):
                adc.atten(machine.ADC.ATTN_11DB)  # ESP32: full 0-3.3 V range
            out.append(Adc(name, adc, s.get("r1", 1), s.get("r2", 1), s.get("vref", 3.3)))
        elif t == "internal_temp":
            out.append(InternalTemp(name, _mcu_temp_source(machine)))
        elif t == "dht22":
            out.append(Dht22(name, machine.Pin(s["pin"]), _dht_readinto()))
        elif t == "bme280":
            i2c = machine.SoftI2C(scl=machine.Pin(s["scl"]), sda=machine.Pin(s["sda"]))
            out.append(Bme280(name, i2c, s.get("addr", 0x76)))
        if s.get("unit") and out and name in out[-1].units:
            out[-1].units[name] = s["unit"]     # the config's unit for a one-quantity sensor
    return out


def _mcu_temp_source(machine):
    try:
        import esp32
        if hasattr(esp32, "mcu_temperature"):
            return esp32.mcu_temperature
        return lambda: fahrenheit_to_c(esp32.raw_temperature())
    except ImportError:
        return machine.ADC(4)  # RP2040: the temperature sensor channel


def _dht_readinto():
    try:
        from esp import dht_readinto
    except ImportError:
        try:
            from rp2 import dht_readinto
        except ImportError:
            from machine import dht_readinto
    return dht_readinto

