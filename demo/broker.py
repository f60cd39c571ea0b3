"""Mosquitto for the demo: its own config on 127.0.0.1 and a free port, in a temp folder."""
import os
import socket
import subprocess
import time

from ports import free_port

BINARY = "/usr/sbin/mosquitto"


class Broker:
    def __init__(self, folder):
        if not os.path.exists(BINARY):
            raise SystemExit("the demo needs Mosquitto: sudo apt-get install mosquitto "
                             "(make demo installs it when run as root)")
        self.port = free_port()
        self.folder = folder
        self.proc = None

    def __enter__(self):
        conf = self.conf = os.path.join(self.folder, "mosquitto.conf")
        with open(conf, "w") as f:
            # the queue limit of host/mosquitto/outpost.conf, which the gateway checks at start
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 100000\n"
                    "log_dest file %s\n" % (self.port, os.path.join(self.folder, "mosquitto.log")))
            if os.geteuid() == 0:
                f.write("user root\n")
        self.proc = subprocess.Popen([BINARY, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.proc.kill()
        raise SystemExit("mosquitto did not start; see " + self.folder)

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(10)
