# The old name of `ssl`: umqtt.simple before 1.4 imports `ussl`, which MicroPython 1.22 and
# later no longer provide. A board image that still ships umqtt.simple 1.3 needs this alias.
from ssl import *  # noqa: F401,F403
