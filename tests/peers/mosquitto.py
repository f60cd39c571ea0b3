"""A real MQTT broker for tests: /usr/sbin/mosquitto with its own config on 127.0.0.1.

    with Mosquitto() as broker:                 # free port, persistence in a temp dir
        client.connect(broker.host, broker.port)
        broker.stop()                           # clean shutdown: the broker saves its state
        broker.start()                          # same port, same persistence file
    Mosquitto(users={"gw": "pw"})               # password file, anonymous refused
    Mosquitto(tls=True)                         # adds a TLS listener: .tls_port, .ca_pem, .hostname

stop() ends the broker with SIGTERM (it writes its persistence file); kill() with SIGKILL (a
crash: only what it saved before is kept). The log is in .log_path, and in the error when the
broker does not come up.
"""
import os
import shutil
import signal
import subprocess
import tempfile

from .certs import WithCA
from .process import end, read_log
from .ports import free_port, wait_for_port

BINARY = "/usr/sbin/mosquitto"
PASSWD = "/usr/bin/mosquitto_passwd"


class Mosquitto(WithCA):
    def __init__(self, port=0, users=None, tls=False, ca=None, hostname="localhost",
                 extra_config="", start_timeout=15):
        if not os.path.exists(BINARY):
            raise RuntimeError("mosquitto is not installed (%s); .ci/run installs it" % BINARY)
        self.host = "127.0.0.1"
        self.port = port
        self.tls_port = None        # chosen with the plain port when tls=True
        self.users = dict(users) if users else None
        self.tls = tls
        self.hostname = hostname
        self._ca = ca
        self.extra_config = extra_config
        self.start_timeout = start_timeout
        self.dir = tempfile.mkdtemp(prefix="outpost-mosquitto-")
        self.log_path = os.path.join(self.dir, "mosquitto.log")
        self.conf_path = os.path.join(self.dir, "mosquitto.conf")
        self.proc = None

    def _write_config(self):
        lines = [
            "# written by tests/peers/mosquitto.py",
            "listener %d %s" % (self.port, self.host),
            "persistence true",
            "persistence_location %s/" % self.dir,
            "log_dest file %s" % self.log_path,
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
        ]
        if os.geteuid() == 0:
            # as root mosquitto would switch to the "mosquitto" user, which cannot use our temp dir
            lines.append("user root")
        if self.users:
            pw = os.path.join(self.dir, "passwd")
            open(pw, "w").close()
            os.chmod(pw, 0o600)
            for user, password in self.users.items():
                subprocess.run([PASSWD, "-b", pw, user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", "password_file %s" % pw]
        else:
            lines.append("allow_anonymous true")
        if self.tls:
            files = self.ca.write_files(self.dir, self.hostname)
            lines += [
                "listener %d %s" % (self.tls_port, self.host),
                "cafile %s" % files["ca"],
                "certfile %s" % files["cert"],
                "keyfile %s" % files["key"],
            ]   # allow_anonymous and password_file above apply to every listener
        if self.extra_config:
            lines.append(self.extra_config)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        """Start the broker (again): same ports, same persistence."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        # ports picked here (first start only) may be taken before mosquitto binds them: retry
        pick = self.port == 0
        for attempt in range(3 if pick else 1):
            if pick:
                self.port = free_port()
                if self.tls:
                    self.tls_port = free_port()
            elif self.tls and self.tls_port is None:
                self.tls_port = free_port()
            self._write_config()
            self.proc = subprocess.Popen([BINARY, "-c", self.conf_path], stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            ok = wait_for_port(self.host, self.port, self.start_timeout, self.proc)
            if ok and self.tls:
                ok = wait_for_port(self.host, self.tls_port, self.start_timeout, self.proc)
            if ok:
                return self
            self._end(signal.SIGKILL)
        raise RuntimeError("mosquitto did not start on %s:%s; log:\n%s" % (self.host, self.port, self.log()))

    def stop(self):
        """Clean shutdown (SIGTERM): the broker saves its persistent state first."""
        self._end(signal.SIGTERM)

    def kill(self):
        """Crash (SIGKILL): state not yet saved is lost."""
        self._end(signal.SIGKILL)

    def _end(self, sig):
        proc, self.proc = self.proc, None
        end(proc, sig)

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        return read_log(self.log_path)

    def close(self):
        self._end(signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
