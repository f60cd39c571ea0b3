# The gateway package lives in host/; put it on sys.path next to lib/ (tests/conftest.py).
import os
import sys

_HOST = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "host")
if _HOST not in sys.path:
    sys.path.insert(0, _HOST)
