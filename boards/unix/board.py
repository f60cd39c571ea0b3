# The MicroPython unix port as a board: the unchanged firmware on a real MicroPython with real
# sockets and TLS (the real-runtime test lane, tests/realmp). No sensors are fitted: the
# MCU reads as absent, so the "missing" and threshold rules have nothing to act on unless a
# test config fits its own. The current directory is the board's flash.
BOARD = {
    "name": "unix",
    "mcu": "MicroPython unix port (64-bit host)",
    "port": "unix",
    "pins": {},
    "led": None,
    "sensors": [],
}
FS_ROOT = ""
