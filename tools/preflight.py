"""Checks `make deploy` and `make flash` run before they touch anything: each returns a list of
problems, each one line that names what is wrong and what to do. Nothing here talks to a board.

    port_problems(port)                  the serial port exists and can be opened by this user
    placeholder_problems(config)         values still the example config's placeholders
    image_problems(path, board_chip)     a MicroPython image fit for this board (ESP32 .bin / .uf2)
"""
import glob
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "firmware", "config_example.py")

# mpremote's shortcuts for serial ports
SHORTCUTS = {"a": "/dev/ttyACM", "u": "/dev/ttyUSB", "c": "COM"}


def resolve_port(port):
    if len(port) >= 2 and port[0] in SHORTCUTS and port[1:].isdigit():
        return SHORTCUTS[port[0]] + port[1:]
    return port


def serial_ports():
    found = []
    for pattern in ("/dev/ttyUSB*", "/dev/ttyACM*", "/dev/tty.usb*", "/dev/cu.usb*"):
        found.extend(sorted(glob.glob(pattern)))
    return found


def port_problems(port):
    if not port:
        return ["PORT= is required, e.g. PORT=/dev/ttyUSB0 (ports now: %s)" % _ports_now()]
    dev = resolve_port(port)
    if dev.upper().startswith("COM") or dev.startswith("rfc2217://") or dev.startswith("socket://"):
        return []       # Windows ports and network serial cannot be checked by path
    if not os.path.exists(dev):
        return ["PORT=%s: no such device (serial ports now: %s). Is the board plugged in, with a "
                "data cable (not a charge-only one)?" % (port, _ports_now())]
    if not os.access(dev, os.R_OK | os.W_OK):
        return ["PORT=%s: no permission to open it; add yourself to its group (Debian/Ubuntu: "
                "sudo usermod -aG dialout $USER, then log in again)" % port]
    return []


def _ports_now():
    ports = serial_ports()
    return ", ".join(ports) if ports else "none found"


# ---- placeholders ---------------------------------------------------------------------------

# what each placeholder of the example stands for, by the key it sits under
WHAT = {
    "wifi.ssid": "your Wi-Fi network's name",
    "wifi.password": "your Wi-Fi password",
    "smtp.host": "your mail server (or \"provider\": \"gmail\", ...)",
    "smtp.username": "your mail account",
    "smtp.password": "its (app) password",
    "smtp.ca": "the CA certificate: make ca HOST=... PORT=... then \"ca\": \"ca.pem\"",
    "mail.sender": "the board's From address",
    "mail.to": "who gets the alerts",
    "mqtt.host": "your gateway's address (or leave mqtt out)",
}
MARKERS = ("paste the PEM here", "...paste")
EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net")


def _example_config():
    ns = {}
    with open(EXAMPLE) as f:
        exec(compile(f.read(), EXAMPLE, "exec"), ns)
    return ns["CONFIG"]


def _leaves(d, prefix=""):
    for k in d:
        v = d[k]
        key = prefix + k
        if isinstance(v, dict):
            for item in _leaves(v, key + "."):
                yield item
        else:
            yield key, v


def _is_example_domain(s):
    s = s.strip().lower().rstrip(">")
    host = s.rpartition("@")[2]
    return any(host == d or host.endswith("." + d) for d in EXAMPLE_DOMAINS)


def placeholder_problems(config, example=None):
    """Each value that is still one of the example's placeholders, named with its key."""
    example = dict(_leaves(example if example is not None else _example_config()))
    found = []
    for key, v in _leaves(config):
        values = v if isinstance(v, list) else [v]
        for item in values:
            if not isinstance(item, str) or not item:
                continue
            bad = (key in WHAT and example.get(key) is not None and
                   (item == example[key] or (isinstance(example[key], list) and item in example[key])))
            bad = bad or any(m in item for m in MARKERS)
            bad = bad or ((key.endswith(".host") or key in ("mail.sender", "mail.to", "smtp.username"))
                          and _is_example_domain(item))
            if bad:
                shown = item if "-----BEGIN" not in item else "...paste the PEM here..."
                if key.endswith("password"):
                    shown = "(the example's)"
                found.append("%s = %r: a placeholder; put %s" % (key, shown, WHAT.get(key, "your own value")))
                break
    return found


# ---- firmware images ------------------------------------------------------------------------

ESP_MAGIC = 0xE9
# the chip id in an ESP image's extended header (bytes 12-13, little-endian)
ESP_CHIP_IDS = {0: "esp32", 2: "esp32s2", 5: "esp32c3", 9: "esp32s3", 12: "esp32c2",
                13: "esp32c6", 16: "esp32h2", 18: "esp32p4"}
# MicroPython's image names: ESP32_GENERIC_S3-20251209-v1.27.0.bin and the like
NAME_CHIPS = (("ESP32_GENERIC_S3", "esp32s3"), ("ESP32_GENERIC_S2", "esp32s2"),
              ("ESP32_GENERIC_C3", "esp32c3"), ("ESP32_GENERIC_C6", "esp32c6"),
              ("ESP32_GENERIC", "esp32"))
UF2_MAGIC0 = 0x0A324655
UF2_MAGIC1 = 0x9E5D5157
UF2_FAMILY_RP2040 = 0xE48BFF56
MIN_IMAGE = 64 * 1024           # MicroPython images are 0.5 MB and more
MAX_ESP_IMAGE = 16 * 1024 * 1024


def chip_from_name(path):
    name = os.path.basename(path).upper()
    for prefix, chip in NAME_CHIPS:
        if name.startswith(prefix + "-") or name.startswith(prefix + ".") or name == prefix:
            return chip
    return None


def image_problems(path, chip):
    """chip: the board's esptool chip name (esp32, esp32s3, esp32c3) or "rp2040" for a .uf2."""
    if not path:
        return ["FIRMWARE= must name the MicroPython image (.bin for ESP32, .uf2 for the Pico W)"]
    if not os.path.isfile(path):
        return ["FIRMWARE=%s: no such file" % path]
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(512)
    if chip == "rp2040":
        return _uf2_problems(path, size, head)
    problems = []
    if size < MIN_IMAGE:
        problems.append("FIRMWARE=%s: %d bytes, too small for a MicroPython image (a download "
                        "cut short?)" % (path, size))
    if size > MAX_ESP_IMAGE:
        problems.append("FIRMWARE=%s: %d bytes, larger than any ESP32 flash" % (path, size))
    if not head or head[0] != ESP_MAGIC:
        what = "a UF2 file (for the Pico)" if head[:4] == b"UF2\n" else \
            "an ELF file (use the .bin)" if head[:4] == b"\x7fELF" else "not an ESP image"
        problems.append("FIRMWARE=%s: starts with 0x%02x, not the ESP image magic 0xe9: %s"
                        % (path, head[0] if head else 0, what))
        return problems
    if len(head) >= 14:
        cid = head[12] | head[13] << 8
        in_header = ESP_CHIP_IDS.get(cid)
        if in_header is None:
            problems.append("FIRMWARE=%s: unknown chip id %d in its header" % (path, cid))
        elif in_header != chip:
            problems.append("FIRMWARE=%s: an image for %s (its header), this board is %s"
                            % (path, in_header, chip))
    by_name = chip_from_name(path)
    if by_name is not None and by_name != chip:
        problems.append("FIRMWARE=%s: the file name says %s, this board is %s" % (path, by_name, chip))
    return problems


def _uf2_problems(path, size, head):
    import struct
    if len(head) < 512 or struct.unpack("<II", head[:8]) != (UF2_MAGIC0, UF2_MAGIC1):
        return ["FIRMWARE=%s: not a UF2 file (the Pico W takes RPI_PICO_W-....uf2)" % path]
    if size % 512:
        return ["FIRMWARE=%s: %d bytes, not whole 512-byte UF2 blocks (cut short?)" % (path, size)]
    flags, family = struct.unpack("<I", head[8:12])[0], struct.unpack("<I", head[28:32])[0]
    if flags & 0x2000 and family != UF2_FAMILY_RP2040:
        return ["FIRMWARE=%s: a UF2 for family 0x%08x, not the RP2040 (0x%08x)"
                % (path, family, UF2_FAMILY_RP2040)]
    if size < MIN_IMAGE:
        return ["FIRMWARE=%s: %d bytes, too small for a MicroPython image" % (path, size)]
    return []


def main(argv=None):
    """python tools/preflight.py port PORT | image FILE CHIP: exit 2 with the problems, if any."""
    import sys
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "port":
        problems = port_problems(args[1])
    elif len(args) == 3 and args[0] == "image":
        problems = image_problems(args[1], args[2])
    else:
        print("usage: preflight.py port PORT | image FILE CHIP", file=sys.stderr)
        return 2
    for p in problems:
        print(p, file=sys.stderr)
    if not problems and args[0] == "image":
        print("%s: %d bytes, an image for %s; flashing" % (args[1], os.path.getsize(args[1]), args[2]))
    return 2 if problems else 0


if __name__ == "__main__":
    import sys
    sys.exit(main())
