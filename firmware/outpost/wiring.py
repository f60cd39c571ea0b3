# The board's own check of a config against the board it runs on: every rule names a reading
# some fitted sensor gives, and every pin is one this board has and can use that way. The board
# runs it at boot (outpost/app.py, then unloads it); the computer runs the very same function
# at `make check` and `make deploy` (tools/deploy_tree.py), so a config the computer accepts
# boots without a config error. MicroPython's subset only.
#
# A board folder's BOARD may say which pins exist and what they can do:
#   "gpio": pins usable at all (flash and radio pins left out), "adc": pins an ADC reads (with
#   Wi-Fi on), "input_only": pins that cannot drive a line (no I2C, no DHT22, no pull resistor),
#   "uarts": the UART ids free for a gateway (not the console).
# A board without "gpio" (the unix port) has its pins left unchecked.


class ConfigError(ValueError):
    # named as outpost.config's (app.main tells them by name), without loading the checker
    pass


def readings(sensor_cfgs):
    # the reading names the fitted sensors give, as their drivers name them (outpost/sensors.py)
    out = []
    for s in sensor_cfgs:
        t = s.get("type")
        n = s.get("name")
        if t == "bme280":
            out += [n + ".temperature", n + ".pressure", n + ".humidity"]
        elif t == "dht22":
            out += [n + ".temperature", n + ".humidity"]
        else:
            out.append(n)
    return out


def _pin(problems, key, pin, b, adc=False, drive=False, pull=False):
    gpio = b.get("gpio")
    if gpio is None or pin is None or pin == -1:
        return
    name = b.get("name", "this board")
    if pin not in gpio:
        problems.append(key + ": " + name + " has no usable pin " + str(pin))
    elif adc and pin not in b.get("adc", ()):
        problems.append(key + ": pin " + str(pin) + " has no ADC on " + name +
                        " (ADC pins: " + ", ".join([str(p) for p in b.get("adc", ())]) + ")")
    elif (drive or pull) and pin in b.get("input_only", ()):
        problems.append(key + ": pin " + str(pin) + " is input-only on " + name +
                        (" (no pull resistor)" if pull else " (cannot drive the line)"))


def problems(cfg, b):
    """Every problem of cfg (checked by outpost.config) on the board described by b (a board
    folder's BOARD), as "key: what is wrong" lines; [] when it boots."""
    out = []
    fitted = cfg["sensors"] if cfg["sensors"] is not None else b.get("sensors", [])
    key = "sensors[" if cfg["sensors"] is not None else "board sensors["
    used = {}
    for i in range(len(fitted)):
        s = fitted[i]
        k = key + str(i) + "]"
        t = s.get("type")
        if t in ("digital", "adc", "dht22"):
            _pin(out, k + ".pin", s.get("pin"), b, adc=(t == "adc"), drive=(t == "dht22"),
                 pull=(t == "digital" and s.get("pull") in ("up", "down")))
            pins = ((s.get("pin"), k + ".pin"),)
        elif t == "bme280":
            _pin(out, k + ".scl", s.get("scl"), b, drive=True)
            _pin(out, k + ".sda", s.get("sda"), b, drive=True)
            pins = ()       # several I2C sensors share one bus
        else:
            pins = ()
        for p, pk in pins:
            if p in used:
                out.append(pk + ": pin " + str(p) + " is also " + used[p])
            else:
                used[p] = pk
    if cfg["serial"]["uart"] >= 0:
        u = cfg["serial"]["uart"]
        if b.get("uarts") is not None and u not in b["uarts"]:
            out.append("serial.uart: " + b.get("name", "this board") + " has no UART " + str(u) +
                       " free for the gateway (free: " + ", ".join([str(x) for x in b["uarts"]]) + ")")
        _pin(out, "serial.tx", cfg["serial"]["tx"], b, drive=True)
        _pin(out, "serial.rx", cfg["serial"]["rx"], b)
    known = readings(fitted)
    for i in range(len(cfg["rules"])):
        r = cfg["rules"][i]["sensor"]
        if r not in known:
            # a misspelt reading name would make a rule that can never fire
            out.append("rules[" + str(i) + "].sensor: no sensor gives " + repr(r) +
                       " (readings: " + ", ".join(known) + ")")
    return out
