# Gateway configuration: one TOML file over documented defaults, validated with errors that
# name the key. Secrets (any key ending in "password" or "token") may instead come from
# "<key>_file" (first line of a file) or "<key>_env" (an environment variable).
# The machinery (merge with "did you mean", typed checks, frozen sections) and the rules
# (addresses, modes, severities) are the board's too: lib/outpost_contract/settings.py, rules.py.
# [relay] uses the same key names for the usmtp options as the board's "smtp" section.
import copy
import fnmatch
import ipaddress
import os
import sys

from outpost_contract import providers, settings
from outpost_contract.rules import MODES, SEVERITIES
from outpost_contract.settings import ConfigError  # noqa: F401 (the gateway's config error)

if sys.version_info >= (3, 11):
    import tomllib as _toml
else:  # pragma: no cover - Python 3.9/3.10 on older Pi OS
    import tomli as _toml


DEFAULTS = {
    "gateway": {
        "state_dir": "/var/lib/outpost-gateway",
        "spool_path": "",
        "log_level": "info",
        "log_format": "text",
        "allowed_devices": [],
    },
    "spool": {
        "max_pending": 100000,
        "min_free_mb": 64,
        "keep_done_days": 7.0,      # fractions allowed (a soak keeps seconds)
        "commit_batch": 1000,
    },
    "readings": {
        "keep_days": 7,
        "max_rows": 500000,
    },
    "mqtt": {
        "enabled": True,
        "host": "localhost",
        "port": 1883,
        "client_id": "outpost-gateway",
        "topic_prefix": "outpost",
        "username": "",
        "password": "",
        "tls": False,
        "ca": "",
        "keepalive": 60,
        "session_expiry": 7 * 86400,
        "shared_group": "",
        "broker_config": "/etc/mosquitto/mosquitto.conf",
        # what `outpost-gateway board add/remove` keeps (see host/mosquitto/outpost.conf)
        "broker_passwd": "/etc/mosquitto/outpost.passwd",
        "broker_acl": "/etc/mosquitto/outpost.acl",
        "broker_pid": "/run/mosquitto/mosquitto.pid",
    },
    "amqp": {
        # a RabbitMQ cluster (host/rabbitmq/): boards publish MQTT to it, gateways consume AMQP
        "enabled": False,
        "urls": [],
        "username": "",
        "password": "",
        "ca": "",
        "queue": "outpost-alerts",
        "exchange": "amq.topic",
        "topic_prefix": "outpost",
        "prefetch": 50,
        "heartbeat": 30,
        "connect_timeout": 5.0,
        "name": "outpost-gateway",
    },
    "serial": {
        "ports": [],
        "baudrate": 115200,
        "reopen_interval": 2.0,
    },
    "smtp_ingress": {
        "enabled": False,
        "listen": "127.0.0.1",
        "port": 2525,
        "hostname": "outpost-gateway",
        "tls_cert": "",
        "tls_key": "",
        "require_tls": True,
        "accounts": [],
        "allow_networks": [],
        "max_size": 65536,
        "allowed_domains": [],
        "max_sessions": 100,
        "max_sessions_per_client": 10,
        "idle_timeout": 120.0,
    },
    "relay": {
        "enabled": True,
        "delivery": "smarthost",
        "host": "",
        "port": 0,
        "mode": "tls",
        "ca": "",
        "insecure_skip_verify": False,
        "allow_plaintext_auth": False,
        "username": "",
        "password": "",
        "oauth2_token": "",
        "provider": "",
        "sender": "",
        "timeout": 30.0,
        "data_timeout": 0.0,
        "batch": 50,
        "connections": 4,
        "idle_close": 30.0,
        "one_in_flight": True,
        "backoff_base": 30.0,
        "backoff_factor": 2.0,
        "backoff_max": 3600.0,
        "probe_every": 2.0,     # while the upstream is down: one connection (nothing sent) this often
        "jitter": 0.2,
        "lifetime": 5 * 86400.0,
        "pause_retry": 300.0,
        "mx_resolver": "",
        "dkim_key_file": "",
        "dkim_selector": "",
        "dkim_domain": "",
    },
    "routing": {
        "owner": "",
        "default": [],
        "honour_alert_to": False,
        "alert_to_domains": [],
        "routes": [],
    },
    "digest": {
        "threshold": 10,
        "rate_per_hour": 60,
    },
    "watchdog": {
        "enabled": True,
        "factor": 3.0,
        "min_interval": 60.0,
        "flap_guard": 600.0,
        "offline_grace": 10.0,
        "intervals": {},
    },
    "fleet": {
        "enabled": False,
        "topic": "outpost-gateways",
        "takeover_after": 10.0,
    },
    "http": {
        "enabled": True,
        "listen": "127.0.0.1",
        "port": 9108,
        "password": "",
    },
}

DELIVERIES = ("smarthost", "mx")
LOG_LEVELS = ("debug", "info", "warning", "error")


def _is_secret(key):
    return key.endswith("password") or key.endswith("token")


def _resolve_secret(sect, key, where, env):
    # "<key>_file" and "<key>_env" are alternatives to writing the secret into the file
    fkey, ekey = key + "_file", key + "_env"
    val = sect.get(key, "")
    if fkey in sect:
        path = sect.pop(fkey)
        if not isinstance(path, str):
            raise settings.error(where + fkey, "must be a file path", path)
        try:
            with open(path, encoding="utf-8") as f:
                val = f.readline().rstrip("\r\n")
        except OSError as e:
            raise ConfigError("%s%s: cannot read the secret file %r: %s (check the path, and that the"
                              " gateway's user may read it)" % (where, fkey, path, e.strerror))
    if ekey in sect:
        name = sect.pop(ekey)
        if not isinstance(name, str) or name not in env:
            raise ConfigError(where + ekey + ": environment variable " + repr(name) + " is not set")
        val = env[name]
    if val != "" or key in sect:
        sect[key] = val


def _check_type(name, value, default):
    return settings.typed(name, value, default, show=not _is_secret(name))


def _str_list(name, value):
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v:
            raise ConfigError("%s[%d]: must be a non-empty string" % (name, i))


def _address(name, value):
    from outpost_contract.rules import address_problem
    settings.check_value(name, value, address_problem)


def _mailbox(name, value):
    from outpost_contract.rules import mailbox_problem
    settings.check_value(name, value, mailbox_problem)


def merge(data, env=None):
    # data: parsed TOML (dict). Returns the full config dict, or raises ConfigErrors listing
    # every error at once, each naming its key, the value it got and what would be right.
    env = os.environ if env is None else env
    cfg = copy.deepcopy(DEFAULTS)
    if not isinstance(data, dict):
        raise ConfigError("config: must be a table")
    errs = []
    with _each(errs):
        # relay.provider = "gmail": host, port and mode of a known provider (the board's presets)
        data = providers.apply(data, "relay")
    for sname, sval in data.items():
        if sname not in DEFAULTS:
            errs.append(settings.unknown_key("", sname, DEFAULTS))
            continue
        if not isinstance(sval, dict):
            errs.append(ConfigError(sname + ": must be a table"))
            continue
        sval = dict(sval)
        for key in list(sval):
            if _is_secret(key) or key.endswith("_file") or key.endswith("_env"):
                base = key[:-5] if key.endswith("_file") else key[:-4] if key.endswith("_env") else key
                if _is_secret(base) and base in DEFAULTS[sname]:
                    with _each(errs):
                        _resolve_secret(sval, base, sname + ".", env)
                    sval.pop(base + "_file", None)
                    sval.pop(base + "_env", None)
        for key, value in sval.items():
            name = sname + "." + key
            if key not in DEFAULTS[sname]:
                errs.append(settings.unknown_key(sname + ".", key, DEFAULTS[sname]))
                continue
            with _each(errs):
                cfg[sname][key] = _check_type(name, value, DEFAULTS[sname][key])
    if errs:
        # the values' own checks would only repeat these: the types are wrong
        raise ConfigErrors(errs)
    _validate(cfg, env, errs)
    if errs:
        raise ConfigErrors(errs)
    return settings.freeze(cfg)


def _positive(cfg, sect, key, allow_zero=False):
    v = cfg[sect][key]
    if v < 0 or (v == 0 and not allow_zero):
        raise settings.error(sect + "." + key, "must be " + ("zero or more" if allow_zero else "more than zero"), v)


def _port(cfg, sect, key, allow_zero=True):
    v = cfg[sect][key]
    if not (0 <= v <= 65535) or (v == 0 and not allow_zero):
        raise settings.error(sect + "." + key, "must be a port number %d-65535" % (0 if allow_zero else 1), v)


class ConfigErrors(ConfigError):
    # every error of one config at once, each naming its key: str() is one per line
    def __init__(self, errors):
        self.errors = list(errors)
        ConfigError.__init__(self, "\n".join(str(e) for e in self.errors))


class _each:
    # one check: its ConfigError is collected, and checking goes on with the next
    def __init__(self, errs):
        self.errs = errs

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None and issubclass(et, ConfigError):
            self.errs.extend(getattr(ev, "errors", [ev]))
            return True
        return False


def _validate(cfg, env, errs):
    g = cfg["gateway"]
    with _each(errs):
        if g["log_level"] not in LOG_LEVELS:
            raise ConfigError("gateway.log_level: must be one of " + ", ".join(LOG_LEVELS))
    with _each(errs):
        if g["log_format"] not in ("text", "json"):
            raise ConfigError("gateway.log_format: must be text or json")
    with _each(errs):
        _str_list("gateway.allowed_devices", g["allowed_devices"])
    with _each(errs):
        if not g["state_dir"] and not g["spool_path"]:
            raise ConfigError("gateway.state_dir: must be set (or gateway.spool_path)")
    with _each(errs):
        for k in ("max_pending", "commit_batch"):
            _positive(cfg, "spool", k)
    with _each(errs):
        for k in ("min_free_mb", "keep_done_days"):
            _positive(cfg, "spool", k, True)

    m = cfg["mqtt"]
    with _each(errs):
        _port(cfg, "mqtt", "port", False)
    with _each(errs):
        if m["enabled"] and not m["host"]:
            raise ConfigError("mqtt.host: must be set when mqtt.enabled")
    with _each(errs):
        if not m["client_id"] or len(m["client_id"]) > 128:
            raise ConfigError("mqtt.client_id: must be 1-128 characters (a fixed id keeps the session)")
    with _each(errs):
        if not m["topic_prefix"] or "+" in m["topic_prefix"] or "#" in m["topic_prefix"]:
            raise ConfigError("mqtt.topic_prefix: must be a plain topic prefix without wildcards")
    with _each(errs):
        if m["password"] and not m["username"]:
            raise ConfigError("mqtt.password: set without mqtt.username")
    m["ca_data"] = None
    with _each(errs):
        # the certificate itself, from the file or pasted
        m["ca_data"] = settings.ca(cfg, "mqtt.ca", settings.read_file) or None
    with _each(errs):
        _positive(cfg, "mqtt", "keepalive")
    with _each(errs):
        _positive(cfg, "mqtt", "session_expiry")

    f = cfg["fleet"]
    with _each(errs):
        _positive(cfg, "fleet", "takeover_after", True)
    with _each(errs):
        if f["enabled"]:
            if not m["enabled"] or not m["shared_group"]:
                raise ConfigError("fleet.enabled: needs mqtt.enabled and an mqtt.shared_group the gateways share")
            t = f["topic"].strip("/")
            if not t or "+" in t or "#" in t or t.startswith("$"):
                raise ConfigError("fleet.topic: must be a plain topic without wildcards")
            if t == m["topic_prefix"].strip("/") or t.startswith(m["topic_prefix"].strip("/") + "/"):
                raise ConfigError("fleet.topic: must not be under mqtt.topic_prefix (boards publish there)")
            for ch in "/+#":
                if ch in m["client_id"]:
                    raise ConfigError("mqtt.client_id: must not contain %r with fleet.enabled (it names a topic level)" % ch)

    _validate_amqp(cfg)

    s = cfg["serial"]
    with _each(errs):
        _str_list("serial.ports", s["ports"])
    with _each(errs):
        _positive(cfg, "serial", "baudrate")
    with _each(errs):
        _positive(cfg, "serial", "reopen_interval")

    si = cfg["smtp_ingress"]
    with _each(errs):
        _port(cfg, "smtp_ingress", "port")
    with _each(errs):
        _positive(cfg, "smtp_ingress", "max_size")
    with _each(errs):
        _positive(cfg, "smtp_ingress", "max_sessions")
    with _each(errs):
        _positive(cfg, "smtp_ingress", "max_sessions_per_client")
    with _each(errs):
        _positive(cfg, "smtp_ingress", "idle_timeout")
    with _each(errs):
        _str_list("smtp_ingress.allowed_domains", si["allowed_domains"])
    with _each(errs):
        if si["enabled"] and not si["allowed_domains"]:
            raise ConfigError("smtp_ingress.allowed_domains: must list the recipient domains "
                              "the gateway accepts (it is never an open relay)")
    with _each(errs):
        if bool(si["tls_cert"]) != bool(si["tls_key"]):
            raise ConfigError("smtp_ingress.tls_key: tls_cert and tls_key go together")
    nets = []
    with _each(errs):
        for i, n in enumerate(si["allow_networks"]):
            try:
                nets.append(ipaddress.ip_network(n, strict=False))
            except (ValueError, TypeError):
                raise ConfigError("smtp_ingress.allow_networks[%d]: not an IP network: %r" % (i, n))
    si["allow_networks"] = nets
    accounts = {}
    with _each(errs):
        for i, a in enumerate(si["accounts"]):
            name = "smtp_ingress.accounts[%d]" % i
            if not isinstance(a, dict):
                raise ConfigError(name + ": must be a table with user and password")
            a = dict(a)
            _resolve_secret(a, "password", name + ".", env)
            for k in a:
                if k not in ("user", "password"):
                    raise ConfigError(name + "." + k + ": unknown key")
            if not isinstance(a.get("user"), str) or not a.get("user"):
                raise ConfigError(name + ".user: must be set")
            if not isinstance(a.get("password"), str) or not a.get("password"):
                raise ConfigError(name + ".password: must be set")
            accounts[a["user"]] = a["password"]
    si["accounts"] = accounts
    with _each(errs):
        if si["enabled"] and si["require_tls"] and not si["tls_cert"]:
            raise ConfigError("smtp_ingress.tls_cert: must be set while smtp_ingress.require_tls is true "
                              "(or set require_tls = false to allow AUTH without TLS on a trusted LAN)")
    with _each(errs):
        if si["enabled"] and not accounts and not nets:
            raise ConfigError("smtp_ingress.accounts: set accounts or allow_networks "
                              "(the gateway never accepts mail from anyone)")

    r = cfg["relay"]
    with _each(errs):
        settings.one_of(cfg, "relay.delivery", DELIVERIES)
    with _each(errs):
        if r["dkim_key_file"] or r["dkim_selector"] or r["dkim_domain"]:
            for k in ("dkim_key_file", "dkim_selector", "dkim_domain"):
                if not r[k]:
                    raise ConfigError("relay." + k + ": must be set for DKIM signing (with the other dkim_ keys)")
            try:
                with open(r["dkim_key_file"], "rb") as f:
                    if b"PRIVATE KEY" not in f.read():
                        raise ConfigError("relay.dkim_key_file: not a PEM private key")
            except OSError as e:
                raise ConfigError("relay.dkim_key_file: cannot read: " + e.strerror)
    with _each(errs):
        settings.mode(cfg, "relay.mode")
    with _each(errs):
        _port(cfg, "relay", "port")
    with _each(errs):
        if r["enabled"] and r["delivery"] == "smarthost" and not r["host"]:
            raise ConfigError("relay.host: must be set (the upstream smarthost)")
    with _each(errs):
        if r["enabled"] and not r["sender"]:
            raise ConfigError("relay.sender: must be set (the From address of relayed alerts)")
    with _each(errs):
        if r["sender"]:
            _mailbox("relay.sender", r["sender"])
    with _each(errs):
        settings.login(cfg, "relay")
    # the CA: pasted PEM, or a file read now; None: the system's CA store
    r["ca_data"] = None
    with _each(errs):
        r["ca_data"] = settings.ca(cfg, "relay.ca", settings.read_file) or None
    with _each(errs):
        if isinstance(r["connections"], bool) or not isinstance(r["connections"], int) or \
                not 1 <= r["connections"] <= 50:
            raise ConfigError("relay.connections: must be a whole number from 1 to 50 "
                              "(providers allow a few per account; 4 is safe almost everywhere)")
    with _each(errs):
        for k in ("timeout", "batch", "backoff_base", "backoff_max", "probe_every", "lifetime",
                  "pause_retry"):
            _positive(cfg, "relay", k)
    with _each(errs):
        _positive(cfg, "relay", "idle_close", True)
    with _each(errs):
        _positive(cfg, "relay", "data_timeout", True)
    with _each(errs):
        if r["backoff_factor"] < 1:
            raise ConfigError("relay.backoff_factor: must be 1 or more")
    with _each(errs):
        if not (0 <= r["jitter"] < 1):
            raise ConfigError("relay.jitter: must be from 0 up to (not including) 1")

    ro = cfg["routing"]
    with _each(errs):
        _str_list("routing.default", ro["default"])
    with _each(errs):
        for i, a in enumerate(ro["default"]):
            _address("routing.default[%d]" % i, a)
    with _each(errs):
        if ro["owner"]:
            _address("routing.owner", ro["owner"])
    with _each(errs):
        _str_list("routing.alert_to_domains", ro["alert_to_domains"])
    routes = []
    with _each(errs):
        for i, rt in enumerate(ro["routes"]):
            name = "routing.routes[%d]" % i
            if not isinstance(rt, dict):
                raise ConfigError(name + ": must be a table")
            for k in rt:
                if k not in ("devices", "severities", "to"):
                    raise ConfigError(name + "." + k + ": unknown key")
            devs = rt.get("devices", ["*"])
            sevs = rt.get("severities", list(SEVERITIES))
            to = rt.get("to")
            for k, v in (("devices", devs), ("severities", sevs), ("to", to)):
                if not isinstance(v, list) or not v:
                    raise ConfigError(name + "." + k + ": must be a non-empty list")
                _str_list(name + "." + k, v)
            for j, sv in enumerate(sevs):
                if sv not in SEVERITIES:
                    raise ConfigError("%s.severities[%d]: must be one of %s" % (name, j, ", ".join(SEVERITIES)))
            for j, a in enumerate(to):
                _address("%s.to[%d]" % (name, j), a)
            routes.append({"devices": devs, "severities": sevs, "to": to})
    ro["routes"] = routes
    with _each(errs):
        if r["enabled"] and not ro["default"] and not ro["owner"]:
            # an alert no route matches must still reach someone
            raise ConfigError("routing.default: must list at least one recipient (or set routing.owner)")

    with _each(errs):
        _positive(cfg, "digest", "threshold")
    with _each(errs):
        _positive(cfg, "digest", "rate_per_hour", True)

    w = cfg["watchdog"]
    with _each(errs):
        _positive(cfg, "watchdog", "factor")
    with _each(errs):
        _positive(cfg, "watchdog", "min_interval")
    with _each(errs):
        _positive(cfg, "watchdog", "flap_guard", True)
    with _each(errs):
        _positive(cfg, "watchdog", "offline_grace", True)
    with _each(errs):
        for dev, iv in w["intervals"].items():
            if isinstance(iv, bool) or not isinstance(iv, (int, float)) or iv <= 0:
                raise ConfigError("watchdog.intervals." + dev + ": must be a number of seconds > 0")
            w["intervals"][dev] = float(iv)

    with _each(errs):
        _port(cfg, "http", "port")
    with _each(errs):
        _positive(cfg, "readings", "keep_days")
    with _each(errs):
        _positive(cfg, "readings", "max_rows")
    h = cfg["http"]
    with _each(errs):
        if h["enabled"] and not h["password"] and not _loopback(h["listen"]):
            raise ConfigError("http.listen: %r is reachable from other machines, so the status page needs"
                              " http.password (or keep 127.0.0.1 and put a reverse proxy with a login in"
                              " front)" % h["listen"])


def _loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _validate_amqp(cfg):
    a = cfg["amqp"]
    _str_list("amqp.urls", a["urls"])
    from .amqp_ingress import parse_url     # pika is imported only when the ingress starts
    for i, u in enumerate(a["urls"]):
        try:
            parse_url(u)
        except ValueError as e:
            raise ConfigError("amqp.urls[%d]: %s" % (i, e))
    if a["enabled"]:
        import importlib.util
        if importlib.util.find_spec("pika") is None:
            raise ConfigError("amqp.enabled: the AMQP ingress needs pika: pip install 'outpost-gateway[amqp]'")
    if a["enabled"] and not a["urls"]:
        raise ConfigError("amqp.urls: must list the cluster's nodes when amqp.enabled "
                          "(amqp://host:5672/ or amqps://host:5671/)")
    if a["enabled"] and not a["username"]:
        raise ConfigError("amqp.username: must be set (the broker refuses anonymous clients)")
    if a["password"] and not a["username"]:
        raise ConfigError("amqp.password: set without amqp.username")
    for k in ("queue", "exchange"):
        if not a[k] or len(a[k]) > 255:
            raise ConfigError("amqp.%s: must be 1-255 characters" % k)
    if a["queue"].startswith("amq."):
        raise ConfigError("amqp.queue: names starting with amq. are the broker's own")
    t = a["topic_prefix"]
    if not t.strip("/") or any(ch in t for ch in "+#*."):
        raise ConfigError("amqp.topic_prefix: must be the boards' plain MQTT topic prefix (no wildcards or '.')")
    if isinstance(a["prefetch"], bool) or not 1 <= a["prefetch"] <= 65535:
        raise ConfigError("amqp.prefetch: must be a whole number from 1 to 65535")
    _positive(cfg, "amqp", "heartbeat", True)
    _positive(cfg, "amqp", "connect_timeout")
    a["ca_data"] = settings.ca(cfg, "amqp.ca", settings.read_file) or None


def load(path, env=None):
    try:
        with open(path, "rb") as f:
            data = _toml.load(f)
    except OSError as e:
        raise ConfigError(str(path) + ": cannot read config: " + (e.strerror or str(e)))
    except _toml.TOMLDecodeError as e:
        raise ConfigError(str(path) + ": not valid TOML: " + str(e))
    return merge(data, env)


def spool_path(cfg):
    g = cfg["gateway"]
    return g["spool_path"] or os.path.join(g["state_dir"], "spool.db")


def device_allowed(cfg, device):
    allowed = cfg["gateway"]["allowed_devices"]
    if not allowed:
        return True
    for pat in allowed:
        if fnmatch.fnmatchcase(device, pat):
            return True
    return False
