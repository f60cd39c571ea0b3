# `machine` for the MicroPython unix port, in plain MicroPython: the firmware runs unchanged on
# a real MicroPython with real sockets (tests/realmp). The hardware is files in the board's
# folder (its flash, the current directory): an input pin reads the number in `pin<id>`, an ADC
# the microvolts in `adc<pin>` (0 when absent); a UART the tty named in `uart<id>`; the I2C bus
# has nothing on it; RTC memory is a file. reset() and deepsleep() end the process
# with an exit code the test harness reads (it starts the board again, like a power cycle).
# The watchdog is checked at every feed: a gap longer than its timeout prints "WDT: bit" and
# ends the process, as the hardware one would have reset the board.
import sys
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5

EXIT_RESET = 70        # exit codes the harness reads
EXIT_DEEPSLEEP = 71
EXIT_WDT = 72

_RTC_FILE = "rtc.mem"


def _read_int(name):
    try:
        with open(name) as f:
            return int(f.read().strip() or "0")
    except (OSError, ValueError):
        return 0


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
        self.v = 0 if value is None else value

    def init(self, *a, **kw):
        pass

    def value(self, v=None):
        if v is None:
            return _read_int("pin" + str(self.id)) if self.mode == Pin.IN else self.v
        self.v = 1 if v else 0

    __call__ = value

    def on(self):
        self.v = 1

    def off(self):
        self.v = 0

    def irq(self, handler=None, trigger=3):
        return None


class ADC:
    ATTN_0DB = 0
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin.id if isinstance(pin, Pin) else pin

    def atten(self, a):
        pass

    def width(self, w):
        pass

    def read_uv(self):
        return _read_int("adc" + str(self.pin))

    def read_u16(self):
        return min(65535, self.read_uv() * 65535 // 3300000)

    def read(self):
        return self.read_u16() >> 4


class SoftI2C:
    def __init__(self, scl=None, sda=None, freq=400000, timeout=50000):
        pass

    def scan(self):
        return []

    def readfrom_mem(self, addr, reg, n, addrsize=8):
        raise OSError(19)     # ENODEV: nothing on this bus

    def writeto_mem(self, addr, reg, buf, addrsize=8):
        raise OSError(19)


I2C = SoftI2C


class UART:
    # a serial port: the tty named in the file `uart<id>` (a pty the test or bench wires to
    # the gateway); without that file the port has none, as before. Reads follow the esp32
    # port's: readline() and read() wait at most `timeout` ms for each byte and return what
    # came (None for nothing); any() says whether a byte is waiting.
    def __init__(self, id, baudrate=115200, timeout=0, **kw):
        try:
            with open("uart" + str(id)) as f:
                path = f.read().strip()
        except OSError:
            raise OSError(19, "no UART " + str(id) + " on the unix port (no file uart" +
                          str(id) + ")")
        import select
        self.f = open(path, "r+b")
        self.p = select.poll()
        self.p.register(self.f, select.POLLIN)
        self.timeout = timeout

    def any(self):
        return 1 if self.p.poll(0) else 0

    def _take(self, n, stop):
        out = b""
        while len(out) < n and self.p.poll(self.timeout):
            c = self.f.read(1)
            if not c:
                break
            out += c
            if c == stop:
                break
        return out or None

    def read(self, n=4096):
        return self._take(n, None)

    def readline(self):
        return self._take(4096, b"\n")

    def write(self, b):
        return self.f.write(b)


class RTC:
    def datetime(self, t=None):
        return time.localtime()

    def memory(self, data=None):
        if data is None:
            try:
                with open(_RTC_FILE, "rb") as f:
                    return f.read()
            except OSError:
                return b""
        with open(_RTC_FILE, "wb") as f:
            f.write(data)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.last = time.ticks_ms()
        print("WDT: armed, " + str(timeout) + " ms")

    def feed(self):
        n = time.ticks_ms()
        gap = time.ticks_diff(n, self.last)
        self.last = n
        if gap > self.timeout:
            print("WDT: bit (no feed for " + str(gap) + " ms)")
            sys.exit(EXIT_WDT)


def reset():
    print("machine.reset()")
    sys.exit(EXIT_RESET)


soft_reset = reset


def deepsleep(ms=0):
    print("machine.deepsleep(" + str(ms) + ")")
    sys.exit(EXIT_DEEPSLEEP)


def lightsleep(ms=0):
    time.sleep_ms(ms)


def reset_cause():
    try:
        with open("reset.cause") as f:
            return int(f.read())
    except (OSError, ValueError):
        return PWRON_RESET


def unique_id():
    return b"unix0001"


def freq(f=None):
    return 240000000


def idle():
    pass


def disable_irq():
    return 0


def enable_irq(state=0):
    pass
