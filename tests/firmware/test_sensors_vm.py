# lane: micropython
# The sensor conversions on the MicroPython VM too (its float formatting and integer maths).
from outpost import bme280, dht22, mcu_temp, sensors
from tinytest import raises

CAL = {"T1": 27504, "T2": 26435, "T3": -1000, "P1": 36477, "P2": -10685, "P3": 3024, "P4": 2855,
       "P5": 140, "P6": -7, "P7": 15500, "P8": -14600, "P9": 6000,
       "H1": 75, "H2": 362, "H3": 0, "H4": 313, "H5": 50, "H6": 30}


def test_bme280_worked_example():
    t, p, h = bme280.compensate(519888, 415148, 30000, CAL)
    assert abs(t - 25.08) < 0.01
    assert abs(p - 1006.5327) < 0.05
    assert 0 <= h <= 100


def test_bme280_raw_and_calibration_bytes():
    assert bme280.raw(bytes([0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x75, 0x30])) == (519888, 415148, 30000)
    b88 = bytes([0x70, 0x6B, 0x43, 0x67, 0x18, 0xFC]) + bytes(18)
    c = bme280.calibration(b88, b"\x4b", bytes([0x6A, 0x01, 0x00, 0x13, 0x2A, 0x03, 0xE2]))
    assert (c["T1"], c["T2"], c["T3"]) == (27504, 26435, -1000)
    assert (c["H2"], c["H4"], c["H5"], c["H6"]) == (362, 314, 50, -30)


def test_dht22_decode_and_checksum():
    assert dht22.decode(bytes([0x02, 0x8C, 0x01, 0x5F, 0xEE])) == (35.1, 65.2)
    t, h = dht22.decode(bytes([0x01, 0xF4, 0x80, 0x65, (0x01 + 0xF4 + 0x80 + 0x65) & 0xFF]))
    assert (t, h) == (-10.1, 50.0)
    e = raises(sensors.SensorError, dht22.decode, bytes([0x02, 0x8C, 0x01, 0x5F, 0xEF]))
    assert "checksum" in str(e)


def test_divider_and_adc():
    assert abs(sensors.divider_volts(1.8, 100000, 100000) - 3.6) < 1e-6
    assert abs(sensors.adc_u16_volts(65535, 3.3) - 3.3) < 1e-6
    assert abs(mcu_temp.rp2040_temp(14020) - 27) < 0.2


class Pin:
    def __init__(self, v):
        self.v = v

    def value(self):
        return self.v


class DeadBus:
    def readfrom_mem(self, addr, reg, n):
        raise OSError(19)


def test_failed_sensor_reads_none_not_a_number():
    readings, errors = sensors.sample([sensors.Digital("door", Pin(1)), bme280.Bme280("f", DeadBus())])
    assert readings["door"] == (1, "")
    assert readings["f.temperature"] == (None, "°C") and readings["f.humidity"] == (None, "%")
    assert list(errors) == ["f"]
