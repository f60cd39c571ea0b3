# `make test-alert` (and `boards/emulated/run.py --test-alert`): one test alert through each
# configured path in turn (transport.order), each path's result printed, and the SMTP
# dialogue shown as it happens (usmtp's trace: AUTH arguments are never shown). Nothing goes
# into the outbox: this checks the paths, it does not queue mail. Each run takes a fresh boot
# number, so its alert ids are new and no gateway drops them as duplicates of an earlier run.
#
#   mpremote connect PORT exec "from outpost.testalert import main; main()"
import time

from outpost import Down, Refused, alerts, clock, smtp_path
from outpost.serial_path import SerialPath
from outpost.run import load_config
from outpost.net import Net

DONE = "test-alert: done"


def _say(line):
    print(line)


def record(cfg, rid, path, now):
    body = ("A test alert from " + cfg["device"] + ", sent over " + path + " by make test-alert.\n"
            "If you read this, the " + path + " path works; nothing needs doing.\n")
    ev = {"kind": "test", "severity": "info", "subject": "test alert via " + path, "body": body}
    return alerts.make_record(cfg["device"], rid, ev, now if clock.is_set(now) else 0)


def run(cfg, root="", say=_say):
    """Returns (sent, tried): how many configured paths took their test alert."""
    mono = clock.Mono()
    log = lambda msg: say("  " + msg)   # noqa: E731 (the paths' log lines, indented)
    net = Net(cfg["wifi"], cfg["ntp"], log, None, mono)
    boot = alerts.bump_boot_counter(root + "/boot.count" if root else "boot.count")
    seq = 0
    say("test-alert: " + cfg["device"] + ", paths in order: " + ", ".join(cfg["transport"]["order"]))
    if cfg["wifi"]["ssid"]:
        net.up()
    from outpost.mqtt_path import MqttPath
    paths = {"smtp": smtp_path.SmtpPath(cfg, net, log, root),
             "mqtt": MqttPath(cfg, net, log, mono, keep=False),
             "serial": SerialPath(cfg, log)}
    paths["smtp"].trace = lambda line: say("    " + line)
    how = {"smtp": "the mail server said 250", "mqtt": "the broker's PUBACK",
           "serial": "the gateway's ACK"}
    unset = {"smtp": "smtp.host is empty", "mqtt": "mqtt.host is empty", "serial": "serial.uart is -1"}
    sent = 0
    tried = 0
    for name in cfg["transport"]["order"]:
        p = paths[name]
        if not p.enabled():
            say(name + ": not configured (" + unset[name] + ")")
            continue
        tried += 1
        seq += 1
        rec = record(cfg, alerts.make_id(cfg["device"], boot, seq), name, clock.now())
        say(name + ": sending " + rec["id"] + " (" + rec["subject"] + ")")
        t0 = time.ticks_ms()
        try:
            if name == "smtp":
                say("  SMTP dialogue with " + cfg["smtp"]["host"] + " (" + cfg["smtp"]["mode"] + "):")
            p.send(rec, None, {"smtp": cfg["smtp"]["timeout"], "mqtt": cfg["mqtt"]["timeout"],
                               "serial": cfg["serial"]["timeout"]}[name])
            ms = time.ticks_diff(time.ticks_ms(), t0)
            say(name + ": SENT in " + str(ms) + " ms (" + how[name] + ")")
            sent += 1
        except Refused as e:
            say(name + ": REFUSED for good: " + str(e))
        except Down as e:
            say(name + ": FAILED: " + str(e))
        except Exception as e:   # a surprise is a result too: shown, and the next path tried
            say(name + ": FAILED: " + (e.__class__.__name__ + " " + str(e)).strip())
    paths["mqtt"].close()
    if not tried:
        say("test-alert: no path is configured (set smtp.host, mqtt.host or serial.uart)")
    say(DONE + ": " + str(sent) + " of " + str(tried) + " configured path(s) sent")
    return sent, tried


def main():
    import board
    root = getattr(board, "FS_ROOT", "")
    sent, tried = run(load_config(root), root)
    return 0 if tried and sent == tried else 1
