# The MCU's own temperature: the ESP32's sensor, or the RP2040's ADC channel 4. Loaded only
# when an `internal_temp` sensor is fitted.


def rp2040_temp(raw_u16):
    # RP2040 datasheet 4.9.5: 27 C at 0.706 V, -1.721 mV per degree, 3.3 V reference
    return 27 - (raw_u16 * 3.3 / 65535 - 0.706) / 0.001721


def fahrenheit_to_c(f):
    return (f - 32) / 1.8


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


def source(machine):
    try:
        import esp32
        if hasattr(esp32, "mcu_temperature"):
            return esp32.mcu_temperature
        return lambda: fahrenheit_to_c(esp32.raw_temperature())
    except ImportError:
        return machine.ADC(4)  # RP2040: the temperature sensor channel
