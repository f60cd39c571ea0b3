"""The whole Outpost job on one machine: two emulated boards, the gateway, Mosquitto, and a
mail catcher standing in for your mail provider.

  greenhouse  direct SMTP (STARTTLS + AUTH, verified certificate) -> catcher
  freezer     its mail server is unreachable -> MQTT -> gateway (SQLite spool) -> catcher
              then it goes quiet -> the gateway's watchdog mails "board silent", and "back"
"""
import email
import email.policy
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = sys.executable

from broker import Broker
from catcher import Catcher
from ports import free_port

OWNER = "owner@example.com"
START = "2026-11-28T06:00:00Z"

GREENHOUSE = {
    "air.temperature": [[0, 22.0], [1800, 26.0], [2700, 33.5], [4200, 33.0], [5400, 25.0]],
    "air.humidity": [[0, 70.0], [7200, 55.0]],
    "air.pressure": 1012.0,
}
FREEZER = {
    "freezer.temperature": [[0, -18.5], [300, -18.2], [420, -7.5], [1200, -7.0]],
    "freezer.humidity": 40.0,
    "freezer.pressure": 1012.0,
}


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def board_config(folder, name, cfg):
    import json
    return write(os.path.join(folder, name + "_config.py"), "CONFIG = " + repr(cfg) + "\n"), \
        write(os.path.join(folder, name + "_sensors.json"),
              json.dumps(GREENHOUSE if name == "greenhouse" else FREEZER))


def gateway_config(folder, catcher, broker, http_port):
    ca = write(os.path.join(folder, "ca.pem"), catcher.ca_pem.decode())
    return write(os.path.join(folder, "gateway.toml"), """
[gateway]
state_dir = "%(state)s"
log_level = "info"

[mqtt]
host = "127.0.0.1"
port = %(mqtt)d
client_id = "outpost-demo-gateway"
broker_config = "%(broker_conf)s"

[relay]
host = "localhost"
port = %(smtp)d
mode = "starttls"
ca = "%(ca)s"
username = "gateway"
password = "gateway-password"
sender = "gateway@outpost.example"
timeout = 10.0
backoff_base = 1.0
idle_close = 2.0

[routing]
owner = "%(owner)s"
default = ["%(owner)s"]

[watchdog]
intervals = { freezer = 6 }
min_interval = 1.0
flap_guard = 0.0

[http]
enabled = true
listen = "127.0.0.1"
port = %(http)d
""" % {"state": os.path.join(folder, "gateway"), "mqtt": broker.port, "smtp": catcher.port,
       "ca": ca, "owner": OWNER, "http": http_port, "broker_conf": broker.conf})


def prefixed(proc, tag, lines=None):
    # show a child's output as it happens, each line tagged with who said it
    def pump():
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            if lines is not None:
                lines.append(line)
            print("   %-10s %s" % (tag, line), flush=True)
    t = threading.Thread(target=pump, daemon=True)
    t.start()
    return t


def run_board(folder, name, cfg, seconds, speed, lines=None):
    conf, sensors = board_config(folder, name, cfg)
    proc = subprocess.Popen(
        [PY, os.path.join(ROOT, "boards", "emulated", "run.py"), "--config", conf,
         "--sensors", sensors, "--flash", os.path.join(folder, name + "-flash"),
         "--speed", str(speed), "--for", str(seconds), "--start", START],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    return proc, prefixed(proc, name, lines)


def events(lines, what):
    # (HH:MM, text) of each line the board printed about `what` ("alert", "sent"): the story
    # is told from what happened, never from what was expected to happen
    out = []
    for line in lines:
        stamp, _, rest = line.partition("] ")
        if rest.startswith(what + " ") and stamp.startswith("[") and "T" in stamp:
            out.append((stamp.split("T")[1][:5], rest[len(what) + 1:]))
    return out


def told(lines):
    # one line per alert the board made (when, and what it said) and per alert it handed on
    said = []
    for at, text in events(lines, "alert"):
        rid, _, rest = text.partition(" ")
        said.append((at, 0, "%s %s: %s" % (at, rid, rest.partition("] ")[2] or rest)))
    for at, text in events(lines, "sent"):
        rid, _, via = text.partition(" via ")
        said.append((at, 1, "%s %s went out via %s" % (at, rid, via)))
    return [t for _, _, t in sorted(said)]


def wait(pred, timeout, step=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def main(keep=None):
    keep = os.environ.get("KEEP", "") not in ("", "0") if keep is None else keep
    folder = tempfile.mkdtemp(prefix="outpost-demo-")
    try:
        return story(folder)
    finally:
        if keep:
            print("\n== KEEP=1: the demo's files (configs, the relay password, the spool, the "
                  "boards' flash) stay in %s" % folder)
        else:
            shutil.rmtree(folder, ignore_errors=True)
            print("\n== removed the demo's files (%s); KEEP=1 keeps them" % folder)


def story(folder):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.join(ROOT, "host"), os.path.join(ROOT, "lib")] +
                                        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    with Catcher(accounts={"greenhouse": "greenhouse-password",
                           "gateway": "gateway-password"}) as catcher, Broker(folder) as broker:
        http_port = free_port()
        gw_conf = gateway_config(folder, catcher, broker, http_port)
        print("== mail provider (catcher) on 127.0.0.1:%d, MQTT broker on 127.0.0.1:%d, "
              "files in %s" % (catcher.port, broker.port, folder))
        gw = subprocess.Popen([PY, "-m", "outpost_gateway", "run", "--config", gw_conf],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env, cwd=ROOT)
        prefixed(gw, "gateway")
        p = None
        try:
            ca = catcher.ca_pem.decode()
            common = {"wifi": {"ssid": "demo-ap", "password": "demo-wifi"},
                      "mail": {"to": [OWNER]}}
            print("\n== greenhouse: direct SMTP to the provider; its rule: air.temperature "
                  "above 30 C; its daily report at 07:00")
            greenhouse = dict(common, device="greenhouse")
            greenhouse["mail"] = {"sender": "greenhouse@outpost.example", "to": [OWNER]}
            greenhouse["smtp"] = {"host": "127.0.0.1", "port": catcher.port, "mode": "starttls",
                                  "username": "greenhouse", "password": "greenhouse-password",
                                  "ca": ca, "server_hostname": "localhost", "timeout": 10}
            greenhouse["sensors"] = [{"name": "air", "type": "bme280", "scl": 22, "sda": 21}]
            greenhouse["rules"] = [{"sensor": "air.temperature", "above": 30, "hysteresis": 1.0,
                                    "cooldown": 3600, "severity": "warning"}]
            greenhouse["report"] = {"at": "07:00"}
            greenhouse["sample_every"] = 300
            greenhouse["transport"] = {"order": ["smtp"]}
            seen = []
            p, t = run_board(folder, "greenhouse", greenhouse, 5400, 0, seen)
            p.wait(120)
            t.join(5)
            print("\n== what the greenhouse did:")
            for line in told(seen):
                print("   " + line)

            print("\n== freezer: its mail server cannot be reached (the internet is down), so "
                  "its alert goes over MQTT to the gateway, which relays it")
            dead = free_port()
            freezer = dict(common, device="freezer")
            freezer["mail"] = {"sender": "freezer@outpost.example", "to": [OWNER]}
            freezer["smtp"] = {"host": "127.0.0.1", "port": dead, "mode": "tls", "ca": ca,
                               "server_hostname": "localhost", "timeout": 3}
            freezer["mqtt"] = {"host": "127.0.0.1", "port": broker.port, "heartbeat": 30}
            freezer["sensors"] = [{"name": "freezer", "type": "bme280", "scl": 22, "sda": 21}]
            freezer["rules"] = [{"sensor": "freezer.temperature", "above": -12,
                                 "hysteresis": 1.0, "cooldown": 1800, "severity": "critical"}]
            freezer["report"] = {"at": ""}
            freezer["sample_every"] = 60
            freezer["transport"] = {"order": ["smtp", "mqtt"], "budget": 10}
            seen = []
            p, t = run_board(folder, "freezer", freezer, 900, 120, seen)
            p.wait(120)
            t.join(5)
            print("\n== what the freezer did:")
            for line in told(seen):
                print("   " + line)
            print("\n== the freezer board has stopped; the gateway's watchdog notices")
            silent = wait(lambda: any(b"is silent" in m[2] for m in catcher.messages), 30)
            print("\n== the freezer comes back")
            # it runs until the gateway has noticed; then the gateway stops first, so the
            # board's own stop is not reported as a second silence
            p, t = run_board(folder, "freezer", freezer, 3600, 60)
            back = wait(lambda: any(b"is back" in m[2] for m in catcher.messages), 60)
            catcher.wait_for(5, timeout=10)
            status = subprocess.run([PY, "-m", "outpost_gateway", "status", "--config", gw_conf],
                                    capture_output=True, text=True, env=env, cwd=ROOT)
            print("\n== outpost-gateway status")
            for line in status.stdout.splitlines():
                print("   " + line)
        finally:
            gw.terminate()
            try:
                gw.wait(15)
            except subprocess.TimeoutExpired:
                gw.kill()
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(15)
        print("\n== the owner's inbox (%d messages)" % len(catcher.messages))
        for (mail_from, rcpts, data), login in zip(catcher.messages, catcher.logins):
            m = email.message_from_bytes(data, policy=email.policy.default)
            via = "direct from the board" if login != "gateway" else "relayed by the gateway"
            atts = [a.get_filename() for a in m.iter_attachments()]
            print("   %-58s %s" % (m["Subject"], via))
            print("      Message-ID %s%s" % (m["Message-ID"],
                                            ("   attachments: " + ", ".join(atts)) if atts else ""))
        ok = silent and back and len(catcher.messages) >= 5
        print("\n== %s" % ("done: every alert arrived once" if ok else
                           "something did not arrive; see the lines above"))
        return 0 if ok else 1
