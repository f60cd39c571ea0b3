"""The real-MicroPython lane (tools/run_lanes.py realmp): pytest drives the MicroPython unix
port against real peers on 127.0.0.1."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
