# Rules as pure functions of a reading and `now`: thresholds with hysteresis, "sensor missing"
# and "value stuck", each with a cooldown so a value hovering at its limit cannot start a storm.
#
# A rule's state is a small dict kept by the caller (in RAM, or RTC memory across deep sleep):
#   on     the condition currently holds (an episode is open)
#   last   time of the last alert sent for this rule (-1: never)
#   owed   an episode opened during the cooldown: alert once the cooldown ends if it still holds
#   since  threshold/missing: when the value went missing; stuck: when the value last moved
#   ref    stuck: the value it is compared against

KIND = {"threshold": "threshold", "missing": "sensor-missing", "stuck": "value-stuck"}


def new_state():
    return {"on": False, "last": -1, "owed": False, "since": None, "ref": None}


def rule_name(rule):
    if rule.get("name"):
        return rule["name"]
    t = rule.get("type", "threshold")
    if t == "threshold":
        if "above" in rule:
            return rule["sensor"] + " above " + _fmt(rule["above"])
        return rule["sensor"] + " below " + _fmt(rule["below"])
    return rule["sensor"] + " " + t


def _fmt(v):
    if isinstance(v, float):
        s = "%.2f" % v
        # trim "20.50" -> "20.5", "20.00" -> "20"
        while s.endswith("0"):
            s = s[:-1]
        if s.endswith("."):
            s = s[:-1]
        return s
    return str(v)


def _cooled(rule, st, now):
    return st["last"] < 0 or now - st["last"] >= rule.get("cooldown", 1800)


def _open(rule, st, now):
    # an episode starts: alert now, or owe the alert until the cooldown is over
    st["on"] = True
    if _cooled(rule, st, now):
        st["last"] = now
        st["owed"] = False
        return True
    st["owed"] = True
    return False


def check(rule, state, value, now):
    """One rule, one reading (value None = sensor failed or absent), one instant.
    Returns (new_state, fired): fired is True when an alert is due now."""
    st = dict(state)
    t = rule.get("type", "threshold")
    fired = False
    if t == "threshold":
        if value is None:
            return st, False
        hyst = rule.get("hysteresis", 0)
        if "above" in rule:
            trip = value > rule["above"]
            clear = value <= rule["above"] - hyst
        else:
            trip = value < rule["below"]
            clear = value >= rule["below"] + hyst
        if not st["on"]:
            if trip:
                fired = _open(rule, st, now)
        elif clear:
            st["on"] = False
            st["owed"] = False
    elif t == "missing":
        if value is not None:
            st["since"] = None
            st["on"] = False
            st["owed"] = False
            return st, False
        if st["since"] is None:
            st["since"] = now
        if not st["on"] and now - st["since"] >= rule["after"]:
            fired = _open(rule, st, now)
    elif t == "stuck":
        if value is None:
            return st, False
        if st["ref"] is None or abs(value - st["ref"]) > rule.get("tolerance", 0):
            st["ref"] = value
            st["since"] = now
            st["on"] = False
            st["owed"] = False
            return st, False
        if not st["on"] and now - st["since"] >= rule["after"]:
            fired = _open(rule, st, now)
    else:
        raise ValueError("rule type " + repr(t) + " unknown")
    if not fired and st["on"] and st["owed"] and _cooled(rule, st, now):
        # the condition outlasted the cooldown: say so once
        st["owed"] = False
        st["last"] = now
        fired = True
    return st, fired


def describe(rule, value, unit, now, since=None):
    """Subject and body of the alert a fired rule makes."""
    t = rule.get("type", "threshold")
    name = rule["sensor"]
    u = (" " + unit) if unit else ""
    if t == "threshold":
        if "above" in rule:
            subj = name + " is " + _fmt(value) + u + ", above " + _fmt(rule["above"]) + u
        else:
            subj = name + " is " + _fmt(value) + u + ", below " + _fmt(rule["below"]) + u
    elif t == "missing":
        subj = name + " gives no reading for " + str(int(rule["after"])) + " s"
    else:
        subj = name + " stuck at " + _fmt(value) + u + " for " + str(int(rule["after"])) + " s"
    body = "Rule: " + rule_name(rule) + "\nValue: " + ("none" if value is None else _fmt(value) + u) + "\n"
    return subj, body


def evaluate(rules, states, readings, now):
    """All rules against one set of readings {name: (value, unit)}.
    Returns (new_states, events); an event is a dict ready to become an alert record."""
    out_states = []
    events = []
    for i in range(len(rules)):
        rule = rules[i]
        st = states[i] if i < len(states) and states[i] is not None else new_state()
        value, unit = readings.get(rule["sensor"], (None, ""))
        st, fired = check(rule, st, value, now)
        out_states.append(st)
        if fired:
            subj, body = describe(rule, value, unit, now)
            ev = {"kind": KIND[rule.get("type", "threshold")],
                  "severity": rule.get("severity", "warning"),
                  "subject": subj, "body": body, "rule": i}
            if value is not None:
                ev["readings"] = {rule["sensor"]: {"value": value, "unit": unit}}
            events.append(ev)
    return out_states, events
