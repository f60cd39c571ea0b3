# Stand-in for MicroPython's `ntptime`: sets the board's RTC from the emulated world clock,
# and fails like the real one when the network is down.
import errno

from emulator import state

host = "pool.ntp.org"
timeout = 1


def time():
    if not state.board.wifi_up or not state.board.ntp_up:
        raise OSError(errno.ETIMEDOUT, "ETIMEDOUT")
    return int(state.board.clock.world())


def settime():
    time()
    state.board.clock.ntp_set()
