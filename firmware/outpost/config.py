# Board configuration: documented defaults, overridden by the local file `config_local.py`
# (made from config_example.py, git-ignored because it holds Wi-Fi and mail secrets).
# validate() refuses bad input with an error naming the key; redacted() is the only form
# of the config that may be printed. The machinery (merge with "did you mean", typed checks,
# frozen sections) and the rules (addresses, modes, severities) are the ones the gateway's
# config uses too: lib/outpost_contract/settings.py and rules.py. This check runs at
# `make deploy` on the computer and may run on the board: MicroPython's subset only.
from outpost_contract import settings
from outpost_contract.rules import SEVERITIES, address_problem, token_problem
from outpost_contract.settings import ConfigError  # noqa: F401 (the firmware's config error)

# Every key the firmware reads, with its default. A key not listed here is refused as a typo.
DEFAULTS = {
    # device name: part of every alert id and MQTT topic, [A-Za-z0-9._-]{1,64}
    "device": "outpost",
    "wifi": {
        "ssid": "",            # empty: no Wi-Fi (serial gateway and outbox only)
        "password": "",
        "timeout": 20,         # seconds to wait for one association
        "backoff_max": 600,    # longest pause between failed attempts, seconds
    },
    "ntp": {"host": "pool.ntp.org", "every": 86400},  # resync period, seconds
    # the usmtp options, with the same names as the gateway's [relay] (host/README.md)
    "smtp": {
        "provider": "",        # gmail | outlook | outlook.com | fastmail | icloud: fills in
                               # host, port and mode (outpost_contract/providers.py)
        "host": "",            # empty: direct SMTP path disabled
        "port": 0,             # 0: the mode's default (465 tls, 587 starttls, 25 opportunistic)
        "mode": "tls",         # tls | starttls | opportunistic | plain
        "username": "",
        "password": "",
        "oauth2_token": "",    # XOAUTH2 instead of password when set
        "ca": "",              # the CA that signed the server certificate: PEM text, or a file
                               # (read when the config is checked, at make deploy)
        "insecure_skip_verify": False,  # True only for a lab server; never in production
        "server_hostname": "",  # SNI / certificate name when it differs from host
        "allow_plaintext_auth": False,
        "timeout": 20,         # seconds: connect and each reply
        "data_timeout": 0,     # seconds for the reply to the end of a message; 0: timeout
        "send_wake_below": 48,   # KB of heap below which the SMTP step runs after a reset (a
                                 # send wake) rather than in this wake with the app unloaded
                                 # (boards/README.md); 0: never. A stock ESP32 (64 KB at boot,
                                 # 111,936 B once grown) sends in one wake
    },
    "mail": {
        "sender": "",          # From address; its domain makes the Message-ID
        "to": [],              # recipients
        "subject_prefix": "",  # e.g. "[outpost] " before "<device>: <what happened>"
    },
    "mqtt": {
        "host": "",            # gateway broker; empty: MQTT path disabled
        "port": 0,             # 0: 1883, or 8883 with tls
        "username": "",
        "password": "",
        "keepalive": 60,       # seconds; the broker publishes the Last Will after 1.5 x this
        "timeout": 10,
        "heartbeat": 900,      # seconds between "I am alive" messages to the gateway; 0: none
        "tls": False,          # MQTT over TLS, the broker certificate verified against ca
        "ca": "",              # the CA that signed the broker certificate (needed with tls):
                               # PEM text, or a file read when the config is checked
        "server_hostname": "",  # SNI / certificate name when it differs from host (an IP, say)
        "publish_every": 60,   # seconds between retained readings on outpost/<device>/state; 0: none
        "discovery": False,    # Home Assistant MQTT discovery configs for every reading
        "discovery_prefix": "homeassistant",
    },
    "serial": {
        "uart": -1,            # UART id wired to the gateway; -1: serial path disabled
        "baud": 115200,
        "tx": -1,              # -1: the port's default pins
        "rx": -1,
        "timeout": 5,          # seconds to wait for ACK
    },
    "transport": {
        "order": ["smtp", "mqtt", "serial"],
        "budget": 60,          # seconds all paths together may take for one alert
        "retry_min": 30,       # outbox retry backoff, seconds
        "retry_max": 1800,
    },
    "outbox": {
        "file": "outbox.log",
        "max_bytes": 24576,    # pending records above this: drop oldest info first
        "compact_at": 49152,   # journal size that triggers compaction
    },
    "sensors": None,           # None: the sensors the board folder says are fitted
    "rules": [],
    "sample_every": 30,        # seconds between samples
    "report": {
        "at": "07:00",         # daily report time (HH:MM, local = UTC + tz_offset_min); "" = none
        "every": 0,            # >0: periodic report every N seconds instead of daily
        "tz_offset_min": 0,
        "csv_every": 300,      # seconds between CSV rows
        "max_rows": 288,       # CSV rows kept; when full, every other row is dropped
        "chart": True,         # mailed reports show each sensor's day as an inline PNG chart
    },
    "deep_sleep": False,       # sleep between samples in deep sleep (state in RTC memory)
    "watchdog": 120,           # seconds; 0 disables the hardware watchdog
    "log": True,
}

SECRET_KEYS = ("password", "oauth2_token")

PATHS = ("smtp", "mqtt", "serial")
SENSOR_TYPES = ("internal_temp", "adc", "dht22", "bme280", "digital")
RULE_TYPES = ("threshold", "missing", "stuck")
SENSOR_KEYS = ("name", "type", "pin", "r1", "r2", "vref", "atten", "scl", "sda", "bus", "addr",
               "invert", "pull", "unit", "label", "on_text", "off_text")
RULE_KEYS = ("type", "sensor", "above", "below", "hysteresis", "cooldown", "severity", "after",
             "tolerance", "name", "label", "unit", "repeat", "resolved")
MAX_LABEL = 64          # words shown in a subject: a label, a unit, a digital input's on/off text
MAX_UNIT = 16
MAX_STATE_TEXT = 32


_err = settings.error
merge = settings.merge
_get = settings.get


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return (isinstance(v, int) or isinstance(v, float)) and not isinstance(v, bool)


def valid_name(s):
    return token_problem(s) is None


def valid_addr(s):
    return address_problem(s) is None


def parse_hhmm(s):
    # "07:30" -> minutes after midnight; raises ValueError
    h, colon, m = s.partition(":")
    if not colon or len(m) != 2 or not h.isdigit() or not m.isdigit():
        raise ValueError("not HH:MM")
    h = int(h)
    m = int(m)
    if h > 23 or m > 59:
        raise ValueError("not HH:MM")
    return h * 60 + m


def _check_sensor(i, s):
    key = "sensors[" + str(i) + "]"
    if not isinstance(s, dict):
        raise _err(key, "must be a dict", s)
    if not valid_name(s.get("name")):
        raise _err(key + ".name", "must be 1-64 of [A-Za-z0-9._-]", s.get("name"))
    t = s.get("type")
    if t not in SENSOR_TYPES:
        raise _err(key + ".type", "must be one of " + ", ".join(SENSOR_TYPES), t)
    if t in ("adc", "dht22", "digital"):
        if not _is_int(s.get("pin")) or s.get("pin") < 0:
            raise _err(key + ".pin", "must be a pin number", s.get("pin"))
    if t == "adc":
        for k in ("r1", "r2", "vref"):
            v = s.get(k, 1)
            if not _is_num(v) or v <= 0:
                raise _err(key + "." + k, "must be a positive number", v)
    if t == "bme280":
        for k in ("scl", "sda"):
            if not _is_int(s.get(k)) or s.get(k) < 0:
                raise _err(key + "." + k, "must be a pin number", s.get(k))
        a = s.get("addr", 0x76)
        if a not in (0x76, 0x77):
            raise _err(key + ".addr", "must be 0x76 or 0x77", a)
    for k in s:
        if k not in SENSOR_KEYS:
            raise settings.unknown_key(key + ".", k, SENSOR_KEYS)
    _words(key, s)
    for k in ("on_text", "off_text"):
        if k in s and t != "digital":
            raise _err(key + "." + k, "only a digital input reads as words (type 'digital')", s[k])


def _check_rule(i, r):
    key = "rules[" + str(i) + "]"
    if not isinstance(r, dict):
        raise _err(key, "must be a dict", r)
    t = r.get("type", "threshold")
    if t not in RULE_TYPES:
        raise _err(key + ".type", "must be one of " + ", ".join(RULE_TYPES), t)
    if not isinstance(r.get("sensor"), str) or not r.get("sensor"):
        raise _err(key + ".sensor", "must name a reading, e.g. 'freezer.temperature'", r.get("sensor"))
    if r.get("severity", "warning") not in SEVERITIES:
        raise _err(key + ".severity", "must be one of " + ", ".join(SEVERITIES), r.get("severity"))
    for k in ("cooldown", "after", "hysteresis", "tolerance"):
        if k in r and (not _is_num(r[k]) or r[k] < 0):
            raise _err(key + "." + k, "must be a number >= 0", r[k])
    if t == "threshold":
        if ("above" in r) == ("below" in r):
            raise _err(key, "a threshold rule needs exactly one of 'above' or 'below'")
        lim = r.get("above", r.get("below"))
        if not _is_num(lim):
            raise _err(key + ("." + "above" if "above" in r else ".below"), "must be a number", lim)
    else:
        if not _is_num(r.get("after")) or r.get("after") <= 0:
            raise _err(key + ".after", "must be seconds > 0", r.get("after"))
    for k in r:
        if k not in RULE_KEYS:
            raise settings.unknown_key(key + ".", k, RULE_KEYS)
    if "repeat" in r and (not _is_num(r["repeat"]) or r["repeat"] < 0 or 0 < r["repeat"] < 60):
        raise _err(key + ".repeat", "must be 0 (no repeats) or seconds >= 60", r["repeat"])
    if "resolved" in r and not isinstance(r["resolved"], bool):
        raise _err(key + ".resolved", "must be True or False", r["resolved"])
    _words(key, r)


def _words(key, d):
    # text that ends up in a subject line: one line, bounded, no control characters
    for k, limit in (("label", MAX_LABEL), ("unit", MAX_UNIT), ("on_text", MAX_STATE_TEXT),
                     ("off_text", MAX_STATE_TEXT)):
        if k not in d:
            continue
        v = d[k]
        if not isinstance(v, str) or not v or len(v) > limit:
            raise _err(key + "." + k, "must be text of 1 to " + str(limit) + " characters", v)
        for c in v:
            if c < " " or c == "\x7f":
                raise _err(key + "." + k, "must be one line without control characters", v)


def _int(cfg, key, lo, hi):
    return settings.integer(cfg, key, lo, hi)


def _str(cfg, key, secret=False):
    return settings.string(cfg, key, secret)


def _bool(cfg, key):
    return settings.boolean(cfg, key)


def _ca(cfg, key, read):
    # PEM text or bytes as given; a file name is read now (on the computer at make deploy, or
    # from the board's flash) and its contents replace it as PEM text, so the board holds the
    # certificate and the checked config stays JSON (tools/deploy_tree.py writes it so)
    sect, _, k = key.partition(".")
    given = cfg[sect][k]
    v = settings.ca(cfg, key, read)
    if isinstance(given, str) and given and "-----BEGIN" not in given:
        if b"-----BEGIN" not in v:
            v = _pem(v)
        v = v.decode()
        cfg[sect][k] = v
    return v


def _pem(der):
    import binascii
    b64 = binascii.b2a_base64(der).replace(b"\n", b"")
    lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def validate(cfg, read=settings.read_file):
    # raises ConfigError naming the first bad key; returns cfg with its sections frozen
    p = token_problem(cfg["device"])
    if p:
        raise _err("device", p, cfg["device"])
    _str(cfg, "wifi.ssid")
    _str(cfg, "wifi.password", True)
    _int(cfg, "wifi.timeout", 1, 300)
    _int(cfg, "wifi.backoff_max", 1, 86400)
    _str(cfg, "ntp.host")
    _int(cfg, "ntp.every", 60, 30 * 86400)
    smtp = cfg["smtp"]
    settings.mode(cfg, "smtp.mode")
    _str(cfg, "smtp.provider")
    _str(cfg, "smtp.host")
    _int(cfg, "smtp.port", 0, 65535)
    _str(cfg, "smtp.username")
    _str(cfg, "smtp.password", True)
    _str(cfg, "smtp.oauth2_token", True)
    ca = _ca(cfg, "smtp.ca", read)
    _bool(cfg, "smtp.insecure_skip_verify")
    _str(cfg, "smtp.server_hostname")
    _bool(cfg, "smtp.allow_plaintext_auth")
    _int(cfg, "smtp.timeout", 1, 300)
    _int(cfg, "smtp.data_timeout", 0, 900)
    _int(cfg, "smtp.send_wake_below", 0, 1 << 20)
    settings.login(cfg, "smtp")
    if smtp["host"]:
        if smtp["mode"] in ("tls", "starttls") and not smtp["insecure_skip_verify"] and not ca:
            raise _err("smtp.ca", "needed to verify the server: `make ca HOST=" + smtp["host"] +
                       " PORT=" + str(smtp["port"] or (465 if smtp["mode"] == "tls" else 587)) +
                       "` writes firmware/ca.pem, then set \"ca\": \"ca.pem\" (or set "
                       "smtp.insecure_skip_verify True for a lab server)")
        if not cfg["mail"]["sender"]:
            raise _err("mail.sender", "must be an address like board@example.org")
        if not cfg["mail"]["to"]:
            raise _err("mail.to", "needs at least one recipient")
    if cfg["mail"]["sender"]:
        settings.mailbox(cfg, "mail.sender")
    settings.addresses(cfg, "mail.to")
    _str(cfg, "mail.subject_prefix")
    _str(cfg, "mqtt.host")
    _int(cfg, "mqtt.port", 0, 65535)
    _str(cfg, "mqtt.username")
    _str(cfg, "mqtt.password", True)
    _int(cfg, "mqtt.keepalive", 0, 65535)
    _int(cfg, "mqtt.timeout", 1, 120)
    _int(cfg, "mqtt.heartbeat", 0, 7 * 86400)
    _bool(cfg, "mqtt.tls")
    mca = _ca(cfg, "mqtt.ca", read)
    _str(cfg, "mqtt.server_hostname")
    _int(cfg, "mqtt.publish_every", 0, 86400)
    _bool(cfg, "mqtt.discovery")
    dp = _str(cfg, "mqtt.discovery_prefix")
    if not dp or "+" in dp or "#" in dp or dp.startswith("/") or dp.endswith("/"):
        raise _err("mqtt.discovery_prefix", "must be a topic prefix without wildcards or "
                   "leading/trailing '/', e.g. homeassistant", dp)
    if cfg["mqtt"]["tls"] and cfg["mqtt"]["host"] and not mca:
        raise _err("mqtt.ca", "needed to verify the broker with mqtt.tls (the CA that signed it)")
    if cfg["mqtt"]["tls"] and cfg["mqtt"]["port"] == 1883:
        raise _err("mqtt.port", "1883 is the plain MQTT port; with mqtt.tls use the broker's TLS port (8883, or 0)")
    _int(cfg, "serial.uart", -1, 9)
    _int(cfg, "serial.baud", 300, 4000000)
    _int(cfg, "serial.tx", -1, 99)
    _int(cfg, "serial.rx", -1, 99)
    _int(cfg, "serial.timeout", 1, 120)
    order = cfg["transport"]["order"]
    if not isinstance(order, list) or not order:
        raise _err("transport.order", "must be a non-empty list of smtp, mqtt, serial", order)
    for p in order:
        if p not in PATHS or order.count(p) > 1:
            raise _err("transport.order", "entries must be distinct ones of smtp, mqtt, serial", p)
    _int(cfg, "transport.budget", 1, 600)
    _int(cfg, "transport.retry_min", 1, 86400)
    _int(cfg, "transport.retry_max", cfg["transport"]["retry_min"], 7 * 86400)
    if not valid_name(cfg["outbox"]["file"]):
        raise _err("outbox.file", "must be a plain file name", cfg["outbox"]["file"])
    _int(cfg, "outbox.max_bytes", 1024, 1 << 20)
    _int(cfg, "outbox.compact_at", cfg["outbox"]["max_bytes"] * 2, 1 << 22)
    sensors = cfg["sensors"]
    if sensors is not None:
        if not isinstance(sensors, list):
            raise _err("sensors", "must be a list (or None for the board's fitted sensors)", sensors)
        names = []
        for i, s in enumerate(sensors):
            _check_sensor(i, s)
            if s["name"] in names:
                raise _err("sensors[" + str(i) + "].name", "is used twice", s["name"])
            names.append(s["name"])
    if not isinstance(cfg["rules"], list):
        raise _err("rules", "must be a list", cfg["rules"])
    for i, r in enumerate(cfg["rules"]):
        _check_rule(i, r)
    _int(cfg, "sample_every", 1, 86400)
    at = _str(cfg, "report.at")
    if at:
        try:
            parse_hhmm(at)
        except ValueError:
            raise _err("report.at", "must be HH:MM (24 h) or empty", at)
    _int(cfg, "report.every", 0, 30 * 86400)
    _int(cfg, "report.tz_offset_min", -14 * 60, 14 * 60)
    _int(cfg, "report.csv_every", 1, 86400)
    _int(cfg, "report.max_rows", 2, 5000)
    _bool(cfg, "report.chart")
    _bool(cfg, "deep_sleep")
    _int(cfg, "watchdog", 0, 3600)
    if cfg["watchdog"] and cfg["watchdog"] < cfg["transport"]["budget"] + 10:
        raise _err("watchdog", "must be 0 or at least transport.budget + 10 seconds", cfg["watchdog"])
    _bool(cfg, "log")
    return settings.freeze(cfg)


def redacted(cfg):
    # a copy safe to print: secrets replaced, CA shortened
    out = {}
    for k in cfg:
        v = cfg[k]
        if isinstance(v, dict):
            v = redacted(v)
        elif k in SECRET_KEYS and v:
            v = "***"
        elif k == "ca" and v:
            v = "<PEM " + str(len(v)) + " bytes>"
        out[k] = v
    return out


def load(override=None, read=settings.read_file):
    # override: a dict, or None to read config_local.CONFIG; returns the validated config.
    # read(path) loads a CA file named in the config (make deploy reads it beside the config)
    if override is None:
        try:
            import config_local
        except ImportError:
            raise ConfigError("config_local.py: missing; copy config_example.py and edit it")
        override = getattr(config_local, "CONFIG", None)
        if override is None:
            raise ConfigError("config_local.py: must define CONFIG = {...}")
    from outpost_contract import providers
    return validate(merge(DEFAULTS, providers.apply(override)), read)
