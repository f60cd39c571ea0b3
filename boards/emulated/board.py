# The emulated board: an ESP32-like board whose hardware is modelled in CPython
# (boards/emulated/emulator). The firmware reads this module like any other board's.
from emulator import state

BOARD = {
    "name": "emulated",
    "mcu": "CPython model of an ESP32 (machine, network, ntptime stand-ins)",
    "pins": {"led": 2, "i2c_scl": 22, "i2c_sda": 21, "uart1_tx": 17, "uart1_rx": 16, "adc": 34},
    # the ESP32-DevKitC's pin map (boards/esp32_devkitc), so a config checked here holds there
    "gpio": (0, 1, 2, 3, 4, 5, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 25, 26, 27, 32, 33,
             34, 35, 36, 37, 38, 39),
    "uarts": (1, 2),  # free for the gateway (as on the DevKitC)
    "adc": (32, 33, 34, 35, 36, 37, 38, 39),
    "input_only": (34, 35, 36, 37, 38, 39),
    "led": 2,
    "led_invert": False,
    # fitted when the config says sensors=None
    "sensors": [
        {"name": "mcu", "type": "internal_temp"},
        {"name": "freezer", "type": "bme280", "scl": 22, "sda": 21, "addr": 0x76},
        {"name": "door", "type": "digital", "pin": 27, "pull": "up"},
    ],
}

# the flash filesystem: the directory given to run.py --flash (or by the test)
FS_ROOT = state.board.flash_dir if state.board is not None else ""
