# The emulated board's machinery (CPython only): clock, hardware model, harness. The firmware
# never imports this package; the stand-in modules beside it (machine, network, ...) do.
