# Who receives an alert: the routes of the config that match its device and severity, else the
# default list; the alert's own "to" only where routing.honour_alert_to allows its domain.
import fnmatch


def _domain(addr):
    return addr.rpartition("@")[2].lower()


def recipients(cfg, device, severity, alert_to=None):
    ro = cfg["routing"]
    out = []
    for rt in ro["routes"]:
        if severity in rt["severities"] and any(fnmatch.fnmatchcase(device, p) for p in rt["devices"]):
            out.extend(rt["to"])
    if not out:
        out.extend(ro["default"])
    if alert_to and ro["honour_alert_to"]:
        allowed = [d.lower() for d in ro["alert_to_domains"]]
        for a in alert_to:
            if not allowed or _domain(a) in allowed:
                out.append(a)
    if not out and ro["owner"]:
        out.append(ro["owner"])
    seen = set()
    uniq = []
    for a in out:
        k = a.lower()
        if k not in seen:
            seen.add(k)
            uniq.append(a)
    return uniq
