# The config machinery board and gateway share: documented defaults, a merge that refuses an
# unknown key and names the closest known one, typed checks whose errors name the key, and
# sections frozen once checked. The board's check runs at `make deploy` on CPython and may run
# on the board too, so this stays inside MicroPython's subset (no regex, no dataclasses).
#
# Keys are dotted paths into the config dict: "relay.port", "mail.to".


class ConfigError(ValueError):
    pass


def error(key, what, value=None, show=True):
    msg = key + ": " + what
    if show and value is not None:
        msg += " (got " + repr(value) + ")"
    return ConfigError(msg)


def _distance(a, b):
    # Levenshtein distance, one row at a time
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[len(b)]


def closest(key, known):
    # the known key a typo most likely meant, or None when nothing is near
    best = None
    best_d = 0
    for k in known:
        d = _distance(key, k)
        if k.startswith(key) or key.startswith(k):
            d = min(d, 2)       # "user" -> "username", "ca_file" -> "ca"
        if best is None or d < best_d or (d == best_d and k < best):
            best, best_d = k, d
    if best is None or best_d > max(2, len(key) // 3):
        return None
    return best


def unknown_key(prefix, key, known):
    near = closest(key, known)
    if near is None:
        return ConfigError(prefix + key + ": unknown key")
    return ConfigError(prefix + key + ": unknown key, did you mean " + prefix + near + "?")


def merge(defaults, override, prefix=""):
    # a new dict: defaults deep-merged with override. A key missing from defaults is refused by
    # name with the closest known key; a default of {} (or None) takes any value as it is.
    if not isinstance(override, dict):
        raise error(prefix[:-1] or "config", "must be a dict (a table)", override)
    out = {}
    for k in defaults:
        out[k] = defaults[k]
    for k in override:
        if not isinstance(k, str):
            raise error(prefix + repr(k), "keys must be strings")
        if k not in defaults:
            raise unknown_key(prefix, k, defaults)
        d = defaults[k]
        if isinstance(d, dict) and d:
            out[k] = merge(d, override[k], prefix + k + ".")
        else:
            out[k] = override[k]
    return out


# -- typed checks: each reads one key, raises ConfigError naming it, returns the value -------

def get(cfg, key):
    d = cfg
    for part in key.split("."):
        d = d[part]
    return d


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v):
    return (isinstance(v, int) or isinstance(v, float)) and not isinstance(v, bool)


def typed(key, value, default, show=True):
    # value must have the type of its default (an int is fine for a float, and becomes one);
    # the error shows the value it got unless show is False (a secret)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise error(key, "must be true or false", value, show)
    elif isinstance(default, int):
        if not _is_int(value):
            raise error(key, "must be an integer", value, show)
    elif isinstance(default, float):
        if not _is_num(value):
            raise error(key, "must be a number", value, show)
        return float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise error(key, "must be a string", value, show)
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise error(key, "must be a list", value, show)
    elif isinstance(default, dict):
        if not isinstance(value, dict):
            raise error(key, "must be a table", value, show)
    return value


def integer(cfg, key, lo, hi):
    v = get(cfg, key)
    if not _is_int(v) or v < lo or v > hi:
        raise error(key, "must be an integer from " + str(lo) + " to " + str(hi), v)
    return v


def number(cfg, key, lo=None, hi=None, above=None):
    # lo/hi inclusive bounds, above an exclusive lower bound (for "more than zero")
    v = get(cfg, key)
    if not _is_num(v):
        raise error(key, "must be a number", v)
    if (lo is not None and v < lo) or (hi is not None and v > hi) or (above is not None and v <= above):
        if above is not None:
            what = "must be more than " + str(above)
        elif hi is None:
            what = "must be " + str(lo) + " or more"
        else:
            what = "must be from " + str(lo) + " to " + str(hi)
        raise error(key, what, v)
    return v


def string(cfg, key, secret=False, multiline=False):
    v = get(cfg, key)
    if not isinstance(v, str):
        raise error(key, "must be a string", v, not secret)
    if not multiline and ("\r" in v or "\n" in v or "\0" in v):
        raise error(key, "must not contain CR, LF or NUL", v, not secret)
    return v


def boolean(cfg, key):
    v = get(cfg, key)
    if not isinstance(v, bool):
        raise error(key, "must be true or false", v)
    return v


def one_of(cfg, key, choices):
    v = get(cfg, key)
    if v not in choices:
        raise error(key, "must be one of " + ", ".join(choices), v)
    return v


def str_list(cfg, key):
    v = get(cfg, key)
    if not isinstance(v, list):
        raise error(key, "must be a list", v)
    for i in range(len(v)):
        if not isinstance(v[i], str) or not v[i]:
            raise error(key + "[" + str(i) + "]", "must be a non-empty string", v[i])
    return v


def check_value(key, v, problem):
    # problem: a rules.*_problem function -> None or why not
    p = problem(v)
    if p:
        raise error(key, p)
    return v


def address(cfg, key):
    from outpost_contract.rules import address_problem
    return check_value(key, get(cfg, key), address_problem)


def mailbox(cfg, key):
    # "a@b" or "Name <a@b>"
    from outpost_contract.rules import mailbox_problem
    return check_value(key, get(cfg, key), mailbox_problem)


def addresses(cfg, key):
    from outpost_contract.rules import address_problem
    v = get(cfg, key)
    if not isinstance(v, list):
        raise error(key, "must be a list of addresses", v)
    for i in range(len(v)):
        check_value(key + "[" + str(i) + "]", v[i], address_problem)
    return v


def mode(cfg, key):
    from outpost_contract.rules import MODES
    return one_of(cfg, key, MODES)


def login(cfg, sect):
    # the usmtp login options of a section (the board's smtp, the gateway's relay), one rule:
    # one secret, a user name with it, and no password a plain connection could never send
    s = cfg[sect]
    if s["password"] and s["oauth2_token"]:
        raise error(sect + ".oauth2_token", "set either password or oauth2_token, not both")
    if (s["password"] or s["oauth2_token"]) and not s["username"]:
        raise error(sect + ".username", "must be set with a password or token")
    if (s["password"] or s["oauth2_token"]) and s["mode"] == "plain" and not s["allow_plaintext_auth"]:
        raise error(sect + ".mode", "is plain, so the login is never sent (use tls or starttls, or set "
                    + sect + ".allow_plaintext_auth on a trusted network)")


def ca(cfg, key, read=None):
    # a CA certificate: pasted PEM text, DER or PEM bytes, or a file path. read(path) -> bytes
    # loads a path (the gateway, and the board's deploy check); without it a path stays a path.
    # Returns the certificate bytes, the path, or b"" when unset.
    v = get(cfg, key)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if not isinstance(v, str):
        raise error(key, "must be PEM text or a file path", type(v).__name__)
    if not v:
        return b""
    if "-----BEGIN" in v:
        if "-----BEGIN CERTIFICATE-----" not in v:
            raise error(key, "must be a certificate (-----BEGIN CERTIFICATE-----)")
        return v.encode()
    if "\n" in v or "\r" in v or "\0" in v:
        raise error(key, "must be PEM text (-----BEGIN CERTIFICATE-----) or a file path")
    if read is None:
        return v
    try:
        data = read(v)
    except OSError as e:
        raise error(key, "cannot read " + repr(v) + ": " + str(e.args[-1] if e.args else e))
    if not data:
        raise error(key, "file " + repr(v) + " is empty")
    if b"-----BEGIN" in data and b"-----BEGIN CERTIFICATE-----" not in data:
        raise error(key, "file " + repr(v) + " holds no certificate")
    return data


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


# -- frozen sections ----------------------------------------------------------------------

class Section(dict):
    # a checked config section: reads like a dict, refuses any change (a copy is a plain dict)
    def _refuse(self, *a, **k):
        raise TypeError("a checked config section is read-only: change the config and check it again")

    __setitem__ = _refuse
    __delitem__ = _refuse
    update = _refuse
    pop = _refuse
    popitem = _refuse
    setdefault = _refuse
    clear = _refuse

    def __copy__(self):
        return dict(self)

    def __deepcopy__(self, memo):
        import copy
        return copy.deepcopy(dict(self), memo)

    def __reduce_ex__(self, proto):
        return (dict, (dict(self),))


def freeze(cfg):
    # every dict inside cfg (and cfg itself) becomes a read-only Section, also inside lists
    if isinstance(cfg, dict):
        d = {}
        for k in cfg:
            d[k] = freeze(cfg[k])
        return Section(d)
    if isinstance(cfg, list):
        return [freeze(x) for x in cfg]
    return cfg
