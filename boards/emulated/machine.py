# Stand-in for MicroPython's `machine` on the emulated board (CPython). Pins, ADC, I2C and UART
# talk to the emulated hardware; reset and deep sleep hand control back to the harness.
import errno

from emulator import state
from emulator.errors import BoardReset, DeepSleep

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def _b():
    return state.board


class Pin:
    IN = 1
    OUT = 3
    OPEN_DRAIN = 7
    PULL_UP = 2
    PULL_DOWN = 1
    IRQ_RISING = 1
    IRQ_FALLING = 2

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, value=None):
        self.__init__(self.id, mode, pull, value)

    def value(self, v=None):
        hw = _b().hw
        if v is None:
            return hw.pin_level(self.id)
        hw.leds[self.id] = 1 if v else 0
        return None

    __call__ = value

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=3):
        return None


class Signal:
    def __init__(self, pin, invert=False):
        self.pin = pin
        self.invert = invert

    def value(self, v=None):
        if v is None:
            r = self.pin.value()
            return 1 - r if self.invert else r
        self.pin.value((not v) if self.invert else v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3
    WIDTH_12BIT = 3

    def __init__(self, pin, atten=None):
        self.pin = pin.id if isinstance(pin, Pin) else pin

    def atten(self, a):
        pass

    def width(self, w):
        pass

    def read_uv(self):
        return _b().hw.adc_uv(self.pin)

    def read_u16(self):
        return min(65535, int(self.read_uv() / 3300000 * 65535))

    def read(self):
        return self.read_u16() >> 4


class SoftI2C:
    def __init__(self, scl, sda, freq=400000, timeout=50000):
        self.scl = scl.id if isinstance(scl, Pin) else scl
        self.sda = sda.id if isinstance(sda, Pin) else sda

    def scan(self):
        return sorted(_b().hw.i2c.get((self.scl, self.sda), {}))

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        return _b().hw.i2c_device(self.scl, self.sda, addr).read(reg, n)

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        _b().hw.i2c_device(self.scl, self.sda, addr).write(reg, bytes(buf))


class I2C(SoftI2C):
    def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
        SoftI2C.__init__(self, scl, sda, freq)


class UART:
    # bridged to a pyserial URL (a pty, `loop://`, ...) chosen by the harness per UART id
    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, tx=None, rx=None,
                 timeout=0, **kw):
        url = _b().uart_urls.get(id)
        if url is None:
            raise OSError(errno.ENODEV, "UART " + str(id) + " is not wired on the emulated board")
        self.port = _b().open_uart(id, url, baudrate)
        self.timeout_ms = timeout

    def init(self, *a, **kw):
        pass

    def deinit(self):
        pass

    def any(self):
        return self.port.in_waiting

    def write(self, buf):
        n = self.port.write(bytes(buf))
        self.port.flush()
        return n

    def read(self, n=-1):
        if n is None or n < 0:
            n = max(1, self.port.in_waiting)
        self.port.timeout = self.timeout_ms / 1000
        data = self.port.read(n)
        return data or None

    def readline(self):
        self.port.timeout = self.timeout_ms / 1000
        data = self.port.readline()
        return data or None


class RTC:
    def datetime(self, t=None):
        from emulator import vtime
        c = _b().clock
        if t is None:
            y, mo, d, h, mi, s, wd, yd = vtime.gmtime()
            return (y, mo, d, wd, h, mi, s, 0)
        c.set_rtc(vtime.mktime((t[0], t[1], t[2], t[4], t[5], t[6], 0, 0)))

    def init(self, t):
        self.datetime(t)

    def memory(self, data=None):
        b = _b()
        if data is None:
            return b.rtc_memory
        if len(data) > 2048:
            raise ValueError("RTC memory holds 2048 bytes")
        b.rtc_memory = bytes(data)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        b = _b()
        b.wdt = self
        self.last = b.clock.world()

    def feed(self):
        b = _b()
        now = b.clock.world()
        gap = now - self.last
        self.last = now
        if gap * 1000 > self.timeout:
            b.log("WATCHDOG: not fed for %.1f s (timeout %.1f s): reset" % (gap, self.timeout / 1000))
            raise BoardReset(WDT_RESET)


def reset():
    raise BoardReset(HARD_RESET)


def soft_reset():
    raise BoardReset(SOFT_RESET)


def deepsleep(ms=0):
    raise DeepSleep(ms)


def lightsleep(ms=0):
    _b().clock.sleep(ms / 1000)


def reset_cause():
    return _b().reset_cause


def unique_id():
    return b"\xe0\x5a\x1b\x00\x00\x01"


def freq(f=None):
    return 240000000


def idle():
    pass


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
