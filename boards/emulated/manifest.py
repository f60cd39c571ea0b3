# The emulated board runs on CPython and is never frozen. This manifest lists what a device
# build would freeze, so the emulated board stays comparable with the real ones.
include("../common_manifest.py")
module("board.py")
