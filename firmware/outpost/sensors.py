# Sensors: drivers that are handed their pin or bus (so a fake one works), and the conversions
# from raw values as pure functions. A sensor that fails or is absent gives None, never a number.
# The switch and the ADC live here; the other drivers are files of their own (bme280.py,
# dht22.py, mcu_temp.py), loaded by build() only on a board that has that sensor fitted.
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


def line(readings):
    # the log line of a sample: "door=1 temp=-" (App.step and a quiet wake, outpost/quiet.py)
    return "sample " + " ".join([k + "=" + ("-" if readings[k][0] is None else str(readings[k][0]))
                                 for k in readings])


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
            from outpost import mcu_temp
            out.append(mcu_temp.InternalTemp(name, mcu_temp.source(machine)))
        elif t == "dht22":
            from outpost import dht22
            out.append(dht22.Dht22(name, machine.Pin(s["pin"]), dht22.readinto()))
        elif t == "bme280":
            from outpost import bme280
            i2c = machine.SoftI2C(scl=machine.Pin(s["scl"]), sda=machine.Pin(s["sda"]))
            out.append(bme280.Bme280(name, i2c, s.get("addr", 0x76)))
        if s.get("unit") and out and name in out[-1].units:
            out[-1].units[name] = s["unit"]     # the config's unit for a one-quantity sensor
    return out
