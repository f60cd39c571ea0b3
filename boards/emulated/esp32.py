# Stand-in for the `esp32` module: the MCU's temperature sensor reads the sensor script.
from emulator import state


def mcu_temperature():
    return state.board.hw.mcu_temperature()
