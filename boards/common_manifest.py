# Shared freeze manifest: the Outpost firmware and the lib/ contracts, frozen as bytecode.
# Each board's manifest.py includes its port's own manifest, then this file.
# One metadata() per tree (MicroPython's manifest tool refuses a second one): this file's is the
# firmware's; usmtp comes in through require(), which gives it a tree of its own for its metadata.
# umqtt.simple ships in the ESP32 and Pico W firmware images (bundle-networking); a custom
# build without it would add: require("umqtt.simple")
metadata(version="0.1.0", description="Outpost board firmware", license="MIT")
add_library("outpost-lib", "../lib")
require("usmtp", library="outpost-lib")
package("outpost_contract", base_path="../lib", opt=3)
package("outpost", base_path="../firmware", opt=3)
