# A board that finds its config broken at boot does not fall silent: it says `config error`
# over every path the config still lets it reach, then sleeps with a long backoff and says it
# again. MQTT: the retained status `config error` and an alert to the gateway; serial: the
# alert; direct SMTP: the alert, when the smtp section itself is usable. A path is usable when
# its own sections pass the config check (outpost.config) on their own. The gateway's watchdog
# covers a board that reaches nothing. Loaded only after a config error, never by a wake.
import binascii
import time

from outpost_contract.rules import backoff

SLEEP_MIN = 600          # seconds before the first repeat, doubling up to SLEEP_MAX
SLEEP_MAX = 6 * 3600
SENT_FILE = "cfgerr.sent"   # the ids already mailed: a repeat publishes, it does not mail again
# the sections each path needs on top of device, wifi and ntp
NEEDS = {"mqtt": ("mqtt",), "smtp": ("smtp", "mail"), "serial": ("serial",)}


def raw_config():
    # the config as written, when there is one: config.json, else config_local.CONFIG
    import json
    try:
        with open(_path("config.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        pass
    try:
        import config_local
        return getattr(config_local, "CONFIG", None)
    except Exception:       # missing, or does not even compile
        return None


def usable(given, path, read):
    """The checked config for one path (that path's sections from the config, the rest the
    defaults), or None when those sections do not pass the check themselves."""
    from outpost import config
    over = {}
    for k in ("device", "wifi", "ntp") + NEEDS[path]:
        if isinstance(given, dict) and k in given:
            over[k] = given[k]
    try:
        if path == "smtp":
            from outpost_contract import providers
            over = providers.apply(over)
        cfg = config.validate(config.merge(config.DEFAULTS, over), read)
    except Exception:
        return None
    on = {"mqtt": cfg["mqtt"]["host"], "smtp": cfg["smtp"]["host"],
          "serial": cfg["serial"]["uart"] >= 0}[path]
    return cfg if on else None


_root = ""


def _path(name):
    return _root + "/" + name if _root else name


def _read(name):
    with open(name if name.startswith("/") else _path(name), "rb") as f:
        return f.read()


def record(device, err, now):
    text = str(err)
    rid = device + "-cfgerr-" + "%08x" % (binascii.crc32(text.encode()) & 0xFFFFFFFF)
    rec = {"v": 1, "id": rid, "device": device, "severity": "critical", "kind": "config-error",
           "subject": ("config error: " + text.replace("\n", " "))[:200],
           "body": "The board found its config broken at boot and cannot run:\n\n" + text +
           "\n\nFix the config (make check BOARD=... CONFIG=...) and deploy it again."}
    if now:
        rec["ts"] = now
    return rec


def _sent():
    try:
        with open(_path(SENT_FILE)) as f:
            return f.read().split()
    except OSError:
        return []


def _mark(rid):
    try:
        with open(_path(SENT_FILE), "w") as f:
            f.write(rid)
    except OSError:
        pass


def report(given, err, log, root=""):
    """One round: every usable path is told. Returns the paths that took it."""
    global _root
    _root = root
    from outpost import clock
    from outpost import transport
    from outpost.net import Net
    cfgs = {}
    for p in ("mqtt", "smtp", "serial"):
        c = usable(given, p, _read)
        if c is not None:
            cfgs[p] = c
    if not cfgs:
        log("config error: no path is usable with this config; nothing to tell")
        return []
    base = cfgs[sorted(cfgs)[0]]
    mono = clock.Mono()
    net = Net(base["wifi"], base["ntp"], log, None, mono)
    if "mqtt" in cfgs or "smtp" in cfgs:
        net.up()
    now = clock.now()
    rec = record(base["device"], err, now if clock.is_set(now) else 0)
    from outpost_contract import record as alert_record
    data = alert_record.encode(rec)
    told = []
    done = rec["id"] in _sent()
    for p in ("mqtt", "serial", "smtp"):
        cfg = cfgs.get(p)
        if cfg is None or (p == "smtp" and done):
            continue
        try:
            if p == "mqtt":
                m = transport.MqttPath(cfg, net, log, mono, keep=False)
                timeout = cfg["mqtt"]["timeout"]
                m.send(rec, None, timeout, data)
                m._publish([(m.status, b"config error", True)], timeout)
                m.close()
            elif p == "serial":
                transport.SerialPath(cfg, log).send(rec, None, cfg["serial"]["timeout"], data)
            else:
                from outpost.smtp_path import SmtpPath
                SmtpPath(cfg, net, log, root).send_now(rec, None, cfg["smtp"]["timeout"])
                _mark(rec["id"])
            told.append(p)
            log("config error: told over " + p)
        except Exception as e:      # Down, Refused, anything: this path cannot say it
            log("config error: " + p + " " + (e.__class__.__name__ + " " + str(e)).strip())
    return told


def run(err, root=""):
    # never returns: say it, sleep, say it again (the watchdog was never started)
    global _root
    _root = root
    given = raw_config()
    n = 0
    while True:
        n += 1
        print("CONFIG ERROR: " + str(err))
        try:
            report(given, err, print, root)
        except Exception as e:      # whatever happens, the board sleeps and says it again
            print("config error: reporting failed: " + repr(e))
        wait = backoff(n, SLEEP_MIN, 2, SLEEP_MAX)
        print("config error: next report in " + str(wait) + " s")
        time.sleep(wait)
