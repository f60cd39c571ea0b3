# Freeze manifest for esp32_c3: build MicroPython with
#   make -C ports/esp32 BOARD=ESP32_GENERIC_C3 FROZEN_MANIFEST=<outpost>/boards/esp32_c3/manifest.py
# boot.py, main.py and config_local.py stay on the filesystem (the config holds secrets).
include("$(PORT_DIR)/boards/manifest.py")
include("../common_manifest.py")
module("board.py")
