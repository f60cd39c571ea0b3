# Freeze manifest for pico_w: build MicroPython with
#   make -C ports/rp2 BOARD=RPI_PICO_W FROZEN_MANIFEST=<outpost>/boards/pico_w/manifest.py
# boot.py, main.py and config_local.py stay on the filesystem (the config holds secrets).
include("$(PORT_DIR)/boards/manifest.py")
include("../common_manifest.py")
module("board.py")
