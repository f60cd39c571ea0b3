# The DHT22 (temperature and humidity on one wire): its driver, the port's bit-banging reader,
# and the decoding of its 5 bytes as a pure function. Loaded only when one is fitted.
from outpost.sensors import SensorError


def decode(buf):
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
        t, h = decode(self.buf)
        return {self.name + ".temperature": t, self.name + ".humidity": h}


def readinto():
    try:
        from esp import dht_readinto
    except ImportError:
        try:
            from rp2 import dht_readinto
        except ImportError:
            from machine import dht_readinto
    return dht_readinto
