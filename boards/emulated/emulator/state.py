# The one emulated board running in this process; the stand-in modules read it.
board = None
