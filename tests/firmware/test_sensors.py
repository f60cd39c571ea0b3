# Sensor conversions as pure functions, and drivers on hardware handed to them
# (a pin or bus object with the MicroPython method names).
import pytest

from outpost import bme280, dht22, mcu_temp, sensors
from outpost.sensors import SensorError

# Bosch's worked example (BMP280 datasheet 3.12): same temperature/pressure compensation as the BME280
CAL = {"T1": 27504, "T2": 26435, "T3": -1000, "P1": 36477, "P2": -10685, "P3": 3024, "P4": 2855,
       "P5": 140, "P6": -7, "P7": 15500, "P8": -14600, "P9": 6000,
       "H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30}


def test_bme280_worked_example():
    t, p, h = bme280.compensate(519888, 415148, 30000, CAL)
    assert t == pytest.approx(25.08, abs=0.01)
    assert p == pytest.approx(1006.5327, abs=0.01)
    assert 0 <= h <= 100


def test_bme280_humidity_rises_with_raw_and_is_clamped():
    hs = [bme280.compensate(519888, 415148, raw, CAL)[2] for raw in (20000, 25000, 30000, 35000)]
    assert hs == sorted(hs) and hs[0] < hs[-1]
    assert bme280.compensate(519888, 415148, 0, CAL)[2] == 0.0
    assert bme280.compensate(519888, 415148, 65535, CAL)[2] == 100.0


def test_bme280_calibration_layout():
    b88 = bytes([0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC]) + bytes(18)
    e1 = bytes([0x6A, 0x01, 0x00, 0x13, 0x2A, 0x03, 0x1E])
    c = bme280.calibration(b88, b"\x4b", e1)
    assert (c["T1"], c["T2"], c["T3"]) == (27504, 26435, -1000)
    assert (c["H1"], c["H2"], c["H3"], c["H4"], c["H5"], c["H6"]) == (75, 362, 0, 314, 50, 30)


def test_bme280_raw_unpacking():
    assert bme280.raw(bytes([0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x75, 0x30])) == (519888, 415148, 30000)


def test_dht22_decode():
    assert dht22.decode(bytes([0x02, 0x8C, 0x01, 0x5F, 0xEE])) == (35.1, 65.2)
    t, h = dht22.decode(bytes([0x01, 0xF4, 0x80, 0x65, (0x01 + 0xF4 + 0x80 + 0x65) & 0xFF]))
    assert (t, h) == (-10.1, 50.0)
    with pytest.raises(SensorError, match="checksum"):
        dht22.decode(bytes([0x02, 0x8C, 0x01, 0x5F, 0xEF]))
    with pytest.raises(SensorError, match="short"):
        dht22.decode(b"\x00")


def test_simple_conversions():
    assert sensors.divider_volts(1.8, 100000, 100000) == pytest.approx(3.6)
    assert sensors.divider_volts(1.0, 200000, 100000) == pytest.approx(3.0)
    assert sensors.adc_u16_volts(65535, 3.3) == pytest.approx(3.3)
    assert mcu_temp.rp2040_temp(int(0.706 / 3.3 * 65535)) == pytest.approx(27, abs=0.1)
    assert mcu_temp.fahrenheit_to_c(212) == pytest.approx(100)


class Pin:
    def __init__(self, v):
        self.v = v

    def value(self):
        return self.v


class Adc:
    def __init__(self, uv):
        self.uv = uv

    def read_uv(self):
        return self.uv


class BrokenBus:
    def readfrom_mem(self, addr, reg, n):
        raise OSError(19, "ENODEV")


class WrongChip:
    def readfrom_mem(self, addr, reg, n):
        return b"\x58" * n  # a BMP280 answers 0x58


def test_drivers_and_failed_sensor_reported_as_none():
    drivers = [sensors.Digital("door", Pin(0), invert=True),
               sensors.Adc("battery", Adc(1850000), 100000, 100000),
               mcu_temp.InternalTemp("mcu", lambda: 41.26),
               bme280.Bme280("freezer", BrokenBus()),
               dht22.Dht22("shed", Pin(4), lambda pin, buf: (_ for _ in ()).throw(OSError(110, "ETIMEDOUT")))]
    readings, errors = sensors.sample(drivers)
    assert readings["door"] == (1, "")
    assert readings["battery"] == (3.7, "V")
    assert readings["mcu"] == (41.3, "°C")
    for k in ("freezer.temperature", "freezer.pressure", "freezer.humidity", "shed.temperature", "shed.humidity"):
        assert readings[k][0] is None
    assert readings["freezer.pressure"][1] == "hPa"
    assert set(errors) == {"freezer", "shed"}
    assert "ENODEV" in errors["freezer"] or "19" in errors["freezer"]


def test_bme280_wrong_chip_named():
    readings, errors = sensors.sample([bme280.Bme280("x", WrongChip())])
    assert "chip id 0x58" in errors["x"]
    assert readings["x.temperature"] == (None, "°C")


def test_dht22_driver_reads_bytes():
    def readinto(pin, buf):
        buf[:] = bytes([0x02, 0x8C, 0x01, 0x5F, 0xEE])
    assert dht22.Dht22("s", Pin(4), readinto).read() == {"s.temperature": 35.1, "s.humidity": 65.2}
