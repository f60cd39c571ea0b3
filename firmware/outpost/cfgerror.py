# A board that finds its config broken at boot does not fall silent: it says `config error`
# over every path the config still lets it reach, then sleeps with a long backoff and says it
# again. MQTT: the retained status `config error` and an alert to the gateway; serial: the
# alert; direct SMTP: the alert, when the smtp section itself is usable. A path is usable when
# its own sections pass the config check (outpost.config) on their own. The gateway's watchdog
# covers a board that reaches nothing. Loaded only after a config error, never by a wake.
# On a heap too small for TLS beside what the failed boot left (smtp.send_wake_below), the mail
# goes in a send wake (outpost/sendwake.py) as the app's would; the round count is kept on
# flash (ROUND_FILE), so the backoff goes on after that wake.
import binascii
import time

from outpost_contract.rules import backoff

SLEEP_MIN = 600          # seconds before the first repeat, doubling up to SLEEP_MAX
SLEEP_MAX = 6 * 3600
APP_MODULES = ("outpost.app", "outpost.rules", "outpost.report", "outpost.outbox",
               "outpost.sensors", "outpost.alerts", "outpost.words", "outpost.wiring")
SENT_FILE = "cfgerr.sent"       # the id already mailed: a repeat publishes, it does not mail again
ROUND_FILE = "cfgerr.round"     # "<id> <rounds so far>"
# the sections each path needs on top of device, wifi and ntp
NEEDS = {"mqtt": ("mqtt",), "smtp": ("smtp", "mail"), "serial": ("serial",)}


def raw_config():
    # (the config as written, checked): config.json, which the computer checked in full at
    # make deploy (the board found fault with it against the board only), else
    # config_local.CONFIG, unchecked; (None, False) when there is none
    import json
    try:
        with open(_path("config.json")) as f:
            return json.load(f), True
    except (OSError, ValueError):
        pass
    try:
        import config_local
        return getattr(config_local, "CONFIG", None), False
    except Exception:       # missing, or does not even compile
        return None, False


def _on(cfg, path):
    return {"mqtt": cfg["mqtt"]["host"], "smtp": cfg["smtp"]["host"],
            "serial": cfg["serial"]["uart"] >= 0}[path]


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
    return cfg if _on(cfg, path) else None


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


def _small(kb):
    # on the board the mail always goes in a send wake: what the failed boot left (whatever
    # smtp.send_wake_below says, which is about the app's own SMTP step) leaves no room for TLS
    import sys
    return sys.implementation.name == "micropython"


def _wake():
    # the send wake: main.py mails SEND_FILE from a fresh heap, then the board boots again
    import machine
    machine.deepsleep(1)


def _round(rid, n=None):
    # read (n None) or write the rounds told for this error
    if n is None:
        try:
            with open(_path(ROUND_FILE)) as f:
                got, _, k = f.read().partition(" ")
            return int(k) if got == rid else 0
        except (OSError, ValueError):
            return 0
    try:
        with open(_path(ROUND_FILE), "w") as f:
            f.write(rid + " " + str(n))
    except OSError:
        pass


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


def report(given, err, log, root="", checked=False):
    """One round: every usable path is told. Returns the paths that took it. checked: given
    passed the full check already (config.json): every configured path is usable as it is,
    and the checker (25 KB) is not loaded."""
    global _root
    _root = root
    from outpost import clock
    from outpost.net import Net
    cfgs = {}
    for p in ("mqtt", "smtp", "serial"):
        if checked:
            c = given if _on(given, p) else None
        else:
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
                from outpost.mqtt_path import MqttPath
                m = MqttPath(cfg, net, log, mono, keep=False)
                timeout = cfg["mqtt"]["timeout"]
                m.send(rec, None, timeout, data)
                m._publish([(m.status, b"config error", True)], timeout)
                m.close()
            elif p == "serial":
                from outpost.serial_path import SerialPath
                SerialPath(cfg, log).send(rec, None, cfg["serial"]["timeout"], data)
            else:
                from outpost.smtp_path import SmtpPath
                sp = SmtpPath(cfg, net, log, root)
                timeout = cfg["smtp"]["timeout"]
                if checked and _small(cfg["smtp"]["send_wake_below"]):
                    sp.wake = _wake     # sends from the next wake; returns once it did
                    sp.wake_resets = True
                    sp.send(rec, None, timeout)
                else:
                    sp.send_now(rec, None, timeout)
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
    # the app will not run: its modules make room for TLS (a board's heap is small)
    from outpost.smtp_path import unload
    for m in APP_MODULES:
        unload(m)
    import gc
    gc.collect()
    given, checked = raw_config()
    device = given.get("device", "outpost") if isinstance(given, dict) else "outpost"
    rid = record(device, err, 0)["id"]
    n = _round(rid)
    while True:
        n += 1
        print("CONFIG ERROR: " + str(err))
        try:
            report(given, err, print, root, checked)
        except Exception as e:      # whatever happens, the board sleeps and says it again
            print("config error: reporting failed: " + repr(e))
        _round(rid, n)              # after the round: a send wake in it does not count twice
        wait = backoff(n, SLEEP_MIN, 2, SLEEP_MAX)
        print("config error: next report in " + str(wait) + " s")
        time.sleep(wait)
