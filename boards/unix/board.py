# The MicroPython unix port as a board: the unchanged firmware on a real MicroPython with real
# sockets and TLS (the real-runtime test lane, tests/realmp). Its "hardware" is files in the
# current directory, which is the board's flash (see machine.py): `pin27` holds the door
# switch, `adc34` the battery's microvolts.
BOARD = {
    "name": "unix",
    "mcu": "MicroPython unix port (64-bit host)",
    "port": "unix",
    "pins": {"door": 27, "battery_adc": 34},
    "led": None,
    "sensors": [
        {"name": "door", "type": "digital", "pin": 27},
        {"name": "battery", "type": "adc", "pin": 34, "r1": 100000, "r2": 100000},
    ],
}
FS_ROOT = ""
