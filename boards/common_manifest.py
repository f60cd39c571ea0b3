# Shared freeze manifest: the Outpost firmware and the lib/ contracts, frozen as bytecode.
# Each board's manifest.py includes its port's own manifest, then this file.
# umqtt.simple ships in the ESP32 and Pico W firmware images (bundle-networking); a custom
# build without it would add: require("umqtt.simple")
metadata(version="0.1.0", description="Outpost board firmware", license="MIT")
include("../lib/usmtp/manifest.py")
package("outpost_contract", base_path="../lib", opt=3)
package("outpost", base_path="../firmware", opt=3)
