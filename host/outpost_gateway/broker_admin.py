# `outpost-gateway board add|remove|list`: letting a board into Mosquitto in one command. Each
# board gets its own broker user (a line in Mosquitto's password file, written in Mosquitto 2's
# own format: PBKDF2-SHA512, 101 rounds, $7$) and an ACL section that lets it publish only under
# <topic_prefix>/<name>/; the gateway's user may read everything under the prefix (and write its
# fleet status). Then Mosquitto is told to read both files again (SIGHUP to the pid in
# mqtt.broker_pid), and the board's "mqtt" config section is printed, ready to paste.
#
# Both files are rewritten whole (a temporary file renamed over the old one), keeping the old
# file's owner and mode, or made 0600 and given to the mosquitto user, who must read them.
import base64
import hashlib
import os
import secrets
import signal

from outpost_contract import record as alert_record

ROUNDS = 101            # Mosquitto 2's default for $7$
MARK = "# outpost board "   # heads each board's ACL section


class BrokerAdminError(Exception):
    pass


def hash_password(password, salt=None):
    salt = salt if salt is not None else os.urandom(12)
    dk = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, ROUNDS)
    return "$7$%d$%s$%s" % (ROUNDS, base64.b64encode(salt).decode(), base64.b64encode(dk).decode())


def check_password(line_hash, password):
    parts = line_hash.split("$")
    if len(parts) != 5 or parts[1] != "7":
        return False
    salt = base64.b64decode(parts[3])
    return hash_password(password, salt) == line_hash


# -- the files -------------------------------------------------------------------------------

def read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise BrokerAdminError("cannot read %s: %s (run it as root, or as the owner of the broker's files)"
                               % (path, e.strerror))


def write_file(path, text):
    # atomically, with the old file's owner and mode; a new file is 0600 and the mosquitto user's
    try:
        st = os.stat(path)
        mode, uid, gid = st.st_mode & 0o777, st.st_uid, st.st_gid
    except FileNotFoundError:
        mode, uid, gid = 0o600, None, None
        try:
            import pwd
            pw = pwd.getpwnam("mosquitto")
            uid, gid = pw.pw_uid, pw.pw_gid
        except (ImportError, KeyError):
            pass
    tmp = path + ".tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if uid is not None and os.geteuid() == 0:
            os.chown(tmp, uid, gid)
        os.replace(tmp, path)
    except OSError as e:
        raise BrokerAdminError("cannot write %s: %s (run it as root, or as the owner of the broker's files)"
                               % (path, e.strerror))


def read_users(path):
    # -> {user: hash}, in file order
    out = {}
    for line in read_lines(path):
        if line.strip() and not line.startswith("#"):
            user, _, h = line.partition(":")
            out[user] = h
    return out


def write_users(path, users):
    write_file(path, "".join("%s:%s\n" % kv for kv in users.items()))


def acl_sections(path):
    # -> [(board name or None, user, lines)]: every "user" section of the file; a section made
    # by `board add` starts with its MARK line. A section ends at a blank line or the next one.
    out = []
    cur = None
    pending_mark = None
    for line in read_lines(path):
        s = line.strip()
        if line.startswith(MARK):
            pending_mark = line
            cur = None
        elif s.startswith("user "):
            lines = ([pending_mark] if pending_mark else []) + [line]
            cur = (pending_mark[len(MARK):].strip() if pending_mark else None, s[5:].strip(), lines)
            out.append(cur)
            pending_mark = None
        elif not s:
            cur = None
        elif cur is not None and not s.startswith("#"):
            cur[2].append(line)
    return out


def board_section(name, prefix, discovery=None):
    lines = [MARK + name, "user " + name, "topic write %s/%s/#" % (prefix, name)]
    if discovery:
        # Home Assistant discovery configs: <discovery>/sensor/<name>_<sensor>/config. MQTT ACLs
        # cannot match part of a level, so this lets the board write any sensor's config there
        lines.append("topic write %s/sensor/+/config" % discovery)
    return lines


def gateway_section(user, prefix, fleet_topic):
    return ["# the gateway reads every board's topics (and keeps its fleet status)",
            "user " + user, "topic read %s/#" % prefix, "topic readwrite %s/#" % fleet_topic]


def write_acl(path, cfg, boards):
    # boards: [(name, lines)] of board sections; the gateway's section first, other users'
    # sections (written by hand) kept as they are
    m = cfg["mqtt"]
    gw = m["username"]
    prefix = m["topic_prefix"].rstrip("/")
    out = ["# Mosquitto ACL for Outpost, kept by `outpost-gateway board add/remove` (acl_file in",
           "# host/mosquitto/outpost.conf). A board may publish only under %s/<its name>/." % prefix, ""]
    if gw:
        out += gateway_section(gw, prefix, cfg["fleet"]["topic"].strip("/")) + [""]
    for board, user, lines in acl_sections(path):
        if board is None and user != gw and user not in [n for n, _ in boards]:
            out += lines + [""]
    for name, lines in boards:
        out += lines + [""]
    write_file(path, "\n".join(out))


def boards_in_acl(path):
    # -> [(name, lines)] of the sections made by `board add`
    return [(board, lines) for board, user, lines in acl_sections(path) if board is not None]


# -- telling Mosquitto -----------------------------------------------------------------------

def reload_broker(pid_path):
    # SIGHUP makes Mosquitto read its password and ACL files again -> what was done, in words
    if not pid_path:
        return "mqtt.broker_pid is empty: reload Mosquitto yourself (systemctl reload mosquitto)"
    try:
        with open(pid_path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError) as e:
        return ("could not read Mosquitto's pid from %s (%s): reload it yourself (systemctl reload mosquitto)"
                % (pid_path, getattr(e, "strerror", None) or e))
    try:
        with open("/proc/%d/comm" % pid) as f:
            comm = f.read().strip()
    except OSError:
        comm = None
    if comm is not None and comm != "mosquitto":
        return "pid %d in %s is %s, not mosquitto: reload Mosquitto yourself" % (pid, pid_path, comm)
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as e:
        return "could not signal Mosquitto (pid %d): %s; reload it yourself" % (pid, e.strerror)
    return "Mosquitto (pid %d) reloaded its password and ACL files" % pid


# -- the commands ----------------------------------------------------------------------------

def add(cfg, name, host=None, port=None, tls=False, discovery=None, password=None):
    # -> (the board's password, notes). Adding a board that exists gives it a new password.
    m = cfg["mqtt"]
    try:
        alert_record.validate_name("board name", name)
    except alert_record.RecordError as e:
        raise BrokerAdminError(str(e))
    if name == m["username"]:
        raise BrokerAdminError("%r is the gateway's own broker user (mqtt.username)" % name)
    pw = password or secrets.token_urlsafe(18)
    users = read_users(m["broker_passwd"])
    notes = []
    users[name] = hash_password(pw)
    gw = m["username"]
    if gw and (gw not in users or (m["password"] and not check_password(users[gw], m["password"]))):
        if m["password"]:
            users[gw] = hash_password(m["password"])
            notes.append("added the gateway's own login (mqtt.username %r) to %s" % (gw, m["broker_passwd"]))
        else:
            notes.append("the gateway's user %r has no password in the config (mqtt.password): add it with"
                         " mosquitto_passwd %s %s" % (gw, m["broker_passwd"], gw))
    if not gw:
        notes.append("the gateway has no broker login (mqtt.username, mqtt.password): once a LAN listener"
                     " refuses anonymous clients it needs one; set them and run `board add` again")
    boards = [(n, lines) for n, lines in boards_in_acl(m["broker_acl"]) if n != name]
    boards.append((name, board_section(name, m["topic_prefix"].rstrip("/"), discovery)))
    write_users(m["broker_passwd"], users)
    write_acl(m["broker_acl"], cfg, boards)
    notes.append(reload_broker(m["broker_pid"]))
    return pw, notes


def remove(cfg, name):
    m = cfg["mqtt"]
    users = read_users(m["broker_passwd"])
    boards = boards_in_acl(m["broker_acl"])
    if name not in users and name not in [n for n, _ in boards]:
        raise BrokerAdminError("no board %r in %s or %s" % (name, m["broker_passwd"], m["broker_acl"]))
    users.pop(name, None)
    write_users(m["broker_passwd"], users)
    write_acl(m["broker_acl"], cfg, [(n, lines) for n, lines in boards if n != name])
    return [reload_broker(m["broker_pid"])]


def listing(cfg):
    # -> [(name, has a login, what it may publish)]
    m = cfg["mqtt"]
    users = read_users(m["broker_passwd"])
    out = []
    for name, lines in boards_in_acl(m["broker_acl"]):
        topics = [ln.split(None, 2)[2] for ln in lines if ln.startswith("topic ")]
        out.append((name, name in users, topics))
    return out


def board_section_text(name, password, host, port, tls):
    # the board's "mqtt" section for config_local.py (a Python dict, as firmware/config_example.py)
    import json
    lines = ['    "mqtt": {',
             '        "host": %s,' % json.dumps(host),
             '        "port": %d,' % port,
             '        "username": %s,' % json.dumps(name),
             '        "password": %s,' % json.dumps(password)]
    if tls:
        lines.append('        "tls": True,')
        lines.append('        "ca": "...",   # the CA that signed the broker\'s certificate (PEM)')
    lines.append("    },")
    return "\n".join(lines)
