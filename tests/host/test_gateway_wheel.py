# The installed gateway runs where it is installed: build the wheel as `pip install .` does,
# install it with its dependencies into a fresh venv, and drive `outpost-gateway` from a
# directory outside the tree with no PYTHONPATH: check-config, run (one alert over MQTT with a
# real Mosquitto, one over a serial pty pair, one SMTP submission, all relayed to an upstream
# aiosmtpd), status, queue list and send-test. A module the gateway imports but the wheel lacks
# fails here, not on a Pi.
import ast
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tty
import urllib.request
import zipfile

import pytest

from gateway_helpers import ROOT, PtyBoardEnd, free_port, wait_for, write_toml
from outpost_contract import frame as serial_frame
from peers.mosquitto import Mosquitto
from peers.process import end
from peers.smtpd import MailServer

SENDER = "outpost@example.org"
THIRD_PARTY = {"paho", "serial", "aiosmtpd", "tomli", "dns", "dkim", "pika"}


def _clean_env():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(cmd, cwd, timeout=600):
    r = subprocess.run(cmd, cwd=cwd, env=_clean_env(), capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(cmd), r.stdout[-4000:], r.stderr[-4000:])
    return r


# one wheel build for both tests: they run on one xdist worker (run_lanes: --dist loadgroup)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    # a copy of what pyproject packages (so the build writes nothing into the tree), built into a
    # wheel and installed into a new venv
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), src)
    for d in ("host", "lib"):
        shutil.copytree(os.path.join(ROOT, d), str(src / d), ignore=ignore)
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(base / "dist"), str(src)], str(base))
    wheels = list((base / "dist").glob("outpost_gateway-*.whl"))
    assert len(wheels) == 1, wheels
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], str(base))
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", str(wheels[0])], str(base))
    return {"wheel": wheels[0], "bin": str(venv / "bin" / "outpost-gateway"),
            "python": str(venv / "bin" / "python"), "work": base}


def test_wheel_holds_every_module_the_gateway_imports(installed):
    names = zipfile.ZipFile(str(installed["wheel"])).namelist()
    packages = {n.split("/")[0] for n in names if n.endswith(".py")}
    assert {"outpost_gateway", "outpost_contract", "usmtp"} <= packages
    stdlib = set(sys.stdlib_module_names)
    missing = set()
    for n in names:
        if not n.endswith(".py"):
            continue
        tree = ast.parse(zipfile.ZipFile(str(installed["wheel"])).read(n))
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                mods = [node.module]
            for m in mods:
                top = m.split(".")[0]
                if top not in stdlib and top not in packages and top not in THIRD_PARTY \
                        and top not in ("micropython", "tls", "ussl"):     # MicroPython-only branches
                    missing.add((n, m))
    assert not missing, missing
    # the status page's own files ship with it (it loads nothing from elsewhere)
    assert {"outpost_gateway/static/index.html", "outpost_gateway/static/page.js",
            "outpost_gateway/static/page.css"} <= set(names)
    # the installed package imports from outside the tree, nothing of the source on its path
    r = _run([installed["python"], "-c", "import outpost_gateway.cli, outpost_contract.record, usmtp;"
              "print(outpost_contract.record.__file__)"], str(installed["work"]))
    assert r.stdout.startswith(str(installed["work"] / "venv")) and ROOT not in r.stdout


class Pty(PtyBoardEnd):
    # the board's end of a pty pair; the gateway opens the other end by its path
    def __init__(self):
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        tty.setraw(slave)
        self.path = os.ttyname(slave)
        self._slave = slave
        self.buf = b""

    def close(self):
        os.close(self.master)
        os.close(self._slave)


def record(source, seq):
    return {"v": 1, "id": "wheel-1-%d" % seq, "device": "wheel", "severity": "warning",
            "kind": "test", "subject": "alert over %s" % source, "ts": 1795842000 + seq}


def test_installed_gateway_runs_outside_the_tree(installed, tmp_path):
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    work = tmp_path / "elsewhere"          # not the source tree, not its parent
    work.mkdir()
    assert not str(work).startswith(ROOT)
    gw = installed["bin"]
    with Mosquitto() as broker, MailServer() as up:
        pty = Pty()
        http_port, smtp_port = free_port(), free_port()
        cfg = write_toml(work / "gateway.toml", {
            "gateway": {"state_dir": str(work / "state"), "log_level": "info"},
            "mqtt": {"enabled": True, "host": broker.host, "port": broker.port, "client_id": "gw-wheel"},
            "serial": {"ports": [pty.path], "reopen_interval": 0.2},
            "smtp_ingress": {"enabled": True, "listen": "127.0.0.1", "port": smtp_port, "require_tls": False,
                             "allow_networks": ["127.0.0.1/32"], "allowed_domains": ["example.org"]},
            "relay": {"host": "127.0.0.1", "port": up.port, "mode": "plain", "sender": SENDER,
                      "timeout": 10.0, "backoff_base": 0.5, "backoff_max": 2.0, "jitter": 0.0},
            "routing": {"owner": "owner@example.org", "default": ["ops@example.org"]},
            "digest": {"threshold": 1000, "rate_per_hour": 0},
            "watchdog": {"enabled": False},
            "http": {"enabled": True, "port": http_port},
        })
        r = _run([gw, "check-config", "-c", cfg], str(work))
        assert "ok" in (r.stdout + r.stderr).lower()

        log = open(str(work / "gateway.log"), "ab")
        p = subprocess.Popen([gw, "run", "-c", cfg], cwd=str(work), env=_clean_env(), stdout=log,
                             stderr=subprocess.STDOUT)
        try:
            def subscribed():
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/health" % http_port, timeout=5) as h:
                        return (json.loads(h.read()).get("mqtt") or {}).get("subscribed")
                except OSError:
                    return p.poll() is not None     # stop waiting if it died
            assert wait_for(subscribed, 90) and p.poll() is None, open(str(work / "gateway.log")).read()

            def smtp_listening():
                try:
                    socket.create_connection(("127.0.0.1", smtp_port), timeout=5).close()
                    return True
                except OSError:
                    return p.poll() is not None
            assert wait_for(smtp_listening, 60) and p.poll() is None

            # MQTT: a board's QoS 1 publish
            pub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="board-wheel",
                              protocol=mqtt.MQTTv5)
            pub.connect(broker.host, broker.port)
            pub.loop_start()
            pub.publish("outpost/wheel/alert", json.dumps(record("mqtt", 1)), qos=1).wait_for_publish(30)
            pub.disconnect()
            pub.loop_stop()
            # serial: a frame on the pty, acknowledged after the spool commit
            os.write(pty.master, serial_frame.encode(json.dumps(record("serial", 2)).encode()))
            assert pty.reply() == ("ACK", "wheel-1-2")
            # SMTP submission on the LAN port
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as s:
                s.sendmail("board@lan.example", ["ops@example.org"],
                           b"From: board@lan.example\r\nTo: ops@example.org\r\nSubject: alert over smtp\r\n"
                           b"Message-ID: <wheel-smtp-3@lan.example>\r\n\r\nsubmitted\r\n")
            got = up.wait_for(3, timeout=90)
            subjects = sorted(m.parsed()["Subject"] for m in got)
            assert any("alert over mqtt" in x for x in subjects), subjects
            assert any("alert over serial" in x for x in subjects), subjects
            assert any("alert over smtp" in x for x in subjects), subjects

            r = _run([gw, "status", "-c", cfg], str(work))
            assert "gateway: running" in r.stdout, r.stdout
            # the status page and the JSON it reads, from the installed package
            with urllib.request.urlopen("http://127.0.0.1:%d/" % http_port, timeout=10) as h:
                assert b'<script src="/static/page.js"' in h.read()
            with urllib.request.urlopen("http://127.0.0.1:%d/static/page.js" % http_port, timeout=10) as h:
                assert b"/api/boards" in h.read()
            with urllib.request.urlopen("http://127.0.0.1:%d/api/queue" % http_port, timeout=10) as h:
                q = json.loads(h.read())
            assert {a["id"]: a["path"] for a in q["recent"]}["wheel-1-2"] == "serial"
            r = _run([gw, "queue", "list", "-c", cfg], str(work))
            assert "wheel-1-1" in r.stdout and "wheel-1-2" in r.stdout, r.stdout
            r = _run([gw, "send-test", "-c", cfg], str(work))
            assert "send-test: sent to owner@example.org" in r.stdout, r.stdout
            assert any(m.parsed()["Subject"] == "Outpost gateway test message" for m in up.wait_for(4, timeout=30))
            # a script's alert (text on stdin, as from cron), mailed by the running gateway
            r = subprocess.run([gw, "alert", "--device", "wheel", "-c", cfg], input="cron says hello\n",
                               cwd=str(work), env=_clean_env(), capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
            aid = r.stdout.split()[1]
            got = up.wait_for(5, timeout=60)
            assert [m.parsed()["Message-ID"] for m in got if m.parsed()["X-Outpost-Alert-Id"] == aid] == \
                ["<%s@example.org>" % aid]
        finally:
            end(p, signal.SIGTERM, 60)
            log.close()
            pty.close()
        assert p.returncode == 0, open(str(work / "gateway.log")).read()[-4000:]
