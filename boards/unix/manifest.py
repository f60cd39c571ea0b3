# The unix port runs the app from the filesystem (.mpy files laid out as `make deploy` does);
# a frozen build of the unix port would use this manifest:
#   make -C ports/unix FROZEN_MANIFEST=<outpost>/boards/unix/manifest.py
include("$(PORT_DIR)/variants/manifest.py")
include("../common_manifest.py")
module("board.py")
module("machine.py")
module("network.py")
module("ntptime.py")
