"""A real RabbitMQ for tests and benchmarks: Debian's 3.10 nodes on 127.0.0.1, each with its own
node name, data folder, config and ports, sharing one private epmd and one Erlang cookie.

    with RabbitCluster(1) as rc:                # one node: AMQP, MQTT plugin, users made
        node = rc.nodes[0]; node.amqp_port; node.mqtt_port
        rc.add_user("board1", "pw", board=True) # may publish only under outpost/board1/
    RabbitCluster(3)                            # three nodes that form one cluster at boot
    RabbitCluster(1, tls=True)                  # plus AMQP over TLS: node.amqps_port, .ca.ca_pem

The binaries in /usr/lib/rabbitmq/bin are called directly: the /usr/sbin wrappers switch user
and drop the environment. Everything lives in one temp folder (HOME holds the cookie that
nodes and rabbitmqctl share). epmd runs on a private port, started here so that it can be
stopped by its own pid afterwards. The guest user is removed and anonymous MQTT refused, as on
a LAN. kill(i) SIGKILLs node i's VM (a crash); start(i) brings it back with its data.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time

from .ports import free_port, wait_for_port

BIN = "/usr/lib/rabbitmq/bin"
EPMD = "/usr/bin/epmd"
SETUP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                     "host", "rabbitmq", "outpost-rabbitmq")
ADMIN = ("outpost-admin", "admin-pw")


def installed():
    return os.path.exists(os.path.join(BIN, "rabbitmq-server"))


class RabbitNode:
    def __init__(self, cluster, index):
        self.cluster = cluster
        self.index = index
        self.name = "outpost%d-%s@localhost" % (index, cluster.tag)
        self.pick_ports()
        self.dir = os.path.join(cluster.dir, "n%d" % index)
        os.makedirs(os.path.join(self.dir, "log"), exist_ok=True)
        self.proc = None

    def pick_ports(self):
        # free now; another process may take one before the node binds it (start() retries)
        self.amqp_port = free_port()
        self.mqtt_port = free_port()
        self.dist_port = free_port()
        self.amqps_port = free_port() if self.cluster.tls else None

    @property
    def host(self):
        return "127.0.0.1"

    def env(self):
        e = self.cluster.env()
        e.update({
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": os.path.join(self.dir, "mnesia"),
            "RABBITMQ_LOG_BASE": os.path.join(self.dir, "log"),
            "RABBITMQ_CONFIG_FILE": os.path.join(self.dir, "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": os.path.join(self.cluster.dir, "enabled_plugins"),
            "RABBITMQ_PID_FILE": os.path.join(self.dir, "pid"),
        })
        return e

    def _write_config(self):
        c = self.cluster
        lines = [
            "# written by tests/peers/rabbitmq.py",
            "listeners.tcp.default = 127.0.0.1:%d" % self.amqp_port,
            "mqtt.listeners.tcp.default = 127.0.0.1:%d" % self.mqtt_port,
            "mqtt.allow_anonymous = false",
            "loopback_users = none",
            "log.file.level = info",
            # the admin the helper and the tests use; no guest user is made
            "default_user = %s" % ADMIN[0],
            "default_pass = %s" % ADMIN[1],
            "default_user_tags.administrator = true",
            "log.console = false",
            # a shared machine: no disk alarm from other people's files
            "disk_free_limit.absolute = 50MB",
        ]
        if c.tls:
            # AMQP over TLS beside the plain listener, with a certificate for "localhost" signed
            # by the cluster's test CA (clients verify it; the node asks for no client certificate)
            files = c.ca.write_files(self.dir, "localhost")
            lines += ["listeners.ssl.default = 127.0.0.1:%d" % self.amqps_port,
                      "ssl_options.cacertfile = %s" % files["ca"],
                      "ssl_options.certfile = %s" % files["cert"],
                      "ssl_options.keyfile = %s" % files["key"],
                      "ssl_options.verify = verify_none",
                      "ssl_options.fail_if_no_peer_cert = false"]
        if len(c.nodes) > 1:
            lines.append("cluster_formation.peer_discovery_backend = classic_config")
            for i, n in enumerate(c.nodes):
                lines.append("cluster_formation.classic_config.nodes.%d = %s" % (i + 1, n.name))
        with open(os.path.join(self.dir, "rabbitmq.conf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        if self.running:
            return self
        self._write_config()
        self.log = open(os.path.join(self.dir, "server.out"), "ab")
        self.proc = subprocess.Popen([os.path.join(BIN, "rabbitmq-server")], env=self.env(),
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def wait(self, timeout=90):
        # the node is up when its AMQP and MQTT listeners accept (both open after boot)
        ok = wait_for_port(self.host, self.amqp_port, timeout, self.proc) and \
            wait_for_port(self.host, self.mqtt_port, timeout, self.proc) and \
            (self.amqps_port is None or wait_for_port(self.host, self.amqps_port, timeout, self.proc))
        if not ok:
            raise RuntimeError("rabbitmq node %s did not start; log:\n%s" % (self.name, self.log_text()))
        return self

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ctl(self, *args, tool="rabbitmqctl", check=True, timeout=120):
        r = subprocess.run([os.path.join(BIN, tool), "-n", self.name] + list(args), env=self.env(),
                           capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise RuntimeError("%s %s failed: %s%s" % (tool, " ".join(args), r.stdout, r.stderr))
        return r.stdout

    def kill(self):
        """Crash the node (SIGKILL to its whole process group: the VM and its helpers)."""
        self._end(signal.SIGKILL)

    def stop(self):
        if self.running:
            try:
                self.ctl("stop", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        self._end(signal.SIGKILL)

    def _end(self, sig):
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        self.log.close()

    def log_text(self):
        out = []
        for p in (os.path.join(self.dir, "server.out"), os.path.join(self.dir, "log", self.name + ".log")):
            try:
                with open(p, errors="replace") as f:
                    out.append(f.read()[-6000:])
            except OSError:
                pass
        return "\n".join(out) or "(no log)"

    def rss_kib(self):
        # resident memory of the node's VM (beam.smp), from /proc
        if not self.running:
            return 0
        total = 0
        for pid in _group_pids(self.proc.pid):
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total


def _group_pids(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getpgid(int(d)) == pgid:
                    out.append(int(d))
            except OSError:
                pass
    return out


class RabbitCluster:
    def __init__(self, size=1, start_timeout=120, tls=False):
        if not installed():
            raise RuntimeError("RabbitMQ is not installed (%s); .ci/run installs rabbitmq-server" % BIN)
        self.dir = tempfile.mkdtemp(prefix="outpost-rabbit-")
        self.tag = os.path.basename(self.dir).rsplit("-", 1)[-1].lower().replace("_", "")
        self.home = os.path.join(self.dir, "home")
        os.makedirs(self.home, mode=0o700)
        cookie = os.path.join(self.home, ".erlang.cookie")
        with open(cookie, "w") as f:
            f.write("OUTPOST" + self.tag.upper() + "COOKIE")
        os.chmod(cookie, 0o400)
        with open(os.path.join(self.dir, "enabled_plugins"), "w") as f:
            f.write("[rabbitmq_mqtt].\n")
        self.epmd_port = free_port()
        self.epmd = None
        self.start_timeout = start_timeout
        self.tls = tls
        self.ca = None
        if tls:
            from .certs import TestCA
            self.ca = TestCA()
        self.nodes = []
        self.nodes = [RabbitNode(self, i) for i in range(size)]

    def env(self):
        e = {k: v for k, v in os.environ.items() if not k.startswith("RABBITMQ_")}
        e["HOME"] = self.home
        e["ERL_EPMD_PORT"] = str(self.epmd_port)
        e["LC_ALL"] = "C.UTF-8"
        return e

    def start(self):
        self.epmd = subprocess.Popen([EPMD, "-port", str(self.epmd_port), "-address", "127.0.0.1"],
                                     env=self.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_for_port("127.0.0.1", self.epmd_port, 10, self.epmd):
            raise RuntimeError("epmd did not start on port %d" % self.epmd_port)
        try:
            for attempt in range(3):
                for n in self.nodes:
                    n.start()
                try:
                    for n in self.nodes:
                        n.wait(self.start_timeout)
                    # the listeners open near the end of the boot: wait for its very end, so
                    # that the first rabbitmqctl command finds the node ready
                    self.nodes[0].ctl("await_startup", "--timeout", str(int(self.start_timeout)))
                    break
                except RuntimeError:
                    # a port taken meanwhile, or a node that died booting: fresh ports and data
                    if attempt == 2:
                        raise
                    for n in self.nodes:
                        n.kill()
                        shutil.rmtree(os.path.join(n.dir, "mnesia"), ignore_errors=True)
                        n.pick_ports()
            if len(self.nodes) > 1:
                self.nodes[0].ctl("await_online_nodes", str(len(self.nodes)), "--timeout", "60")
        except BaseException:
            self.close()
            raise
        return self

    def outpost(self, *args, password=None):
        """Run host/rabbitmq/outpost-rabbitmq (the documented setup) against a running node."""
        n = self.running_node()
        env = n.env()
        env["RABBITMQCTL"] = "%s -n %s" % (os.path.join(BIN, "rabbitmqctl"), n.name)
        r = subprocess.run(["sh", SETUP] + list(args), env=env, input=(password or "") + "\n",
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("outpost-rabbitmq %s failed: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def add_user(self, name, password, board=False):
        """A gateway's user (declares and reads the alert queue), or with board=True a board's
        (publishes only under outpost/<name>/), made as host/rabbitmq/README.md says."""
        self.outpost("board" if board else "gateway", name, password=password)

    def running_node(self):
        for n in self.nodes:
            if n.running:
                return n
        raise RuntimeError("no RabbitMQ node runs")

    def kill(self, i):
        self.nodes[i].kill()

    def close(self):
        for n in self.nodes:
            n.kill()
        if self.epmd is not None:
            # stopped by its pid: the only epmd this helper started
            self.epmd.kill()
            self.epmd.wait(10)
            self.epmd = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
