# Stand-in for the `esp` module: dht_readinto fills the 5 DHT22 bytes from the sensor script.
from emulator import state


def dht_readinto(pin, buf):
    state.board.hw.dht(pin.id, buf)


def osdebug(level):
    pass
