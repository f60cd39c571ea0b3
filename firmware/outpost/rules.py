# Rules as pure functions of a reading and `now`: thresholds with hysteresis, "sensor missing"
# and "value stuck", each with a cooldown so a value hovering at its limit cannot start a storm.
#
# An episode is the time a rule's condition holds. Its first alert is `firing`; while it stays
# open a `firing` repeat goes every `repeat` seconds (critical rules: 4 h unless set; 0: none);
# when it closes a `resolved` alert says how long it lasted and the worst value, naming the id
# of the firing it closes. An episode whose alert never went (it opened and closed inside the
# cooldown) closes silently: nobody was told it began.
#
# A rule's state is a small dict kept by the caller (in RAM, or RTC memory across deep sleep):
#   on     the condition currently holds (an episode is open)
#   last   time of the last alert sent for this rule (-1: never)
#   owed   an episode opened during the cooldown: alert once the cooldown ends if it still holds
#   since  threshold/missing: when the value went missing; stuck: when the value last moved
#   ref    stuck: the value it is compared against
#   t0     when the open episode began (monotonic), w0 the same in UTC seconds (0: clock unset)
#   worst  the value furthest past the limit in this episode
#   fid    the id of the episode's firing alert once it went (None: none went yet)

# The words of an alert (subject, body) are made in outpost/words.py, loaded only when a rule
# fires, so the sample loop's heap holds the state machine alone.

KIND = {"threshold": "threshold", "missing": "sensor-missing", "stuck": "value-stuck"}
REPEAT_CRITICAL = 14400     # default `repeat` of a critical rule, seconds
HISTORY = 5                 # readings shown in an alert's body
SLACK = 1                   # seconds: a wake timed for a reminder may come this much early


def new_state():
    return {"on": False, "last": -1, "owed": False, "since": None, "ref": None,
            "t0": None, "w0": 0, "worst": None, "fid": None}


def repeat_of(rule):
    r = rule.get("repeat")
    if r is None:
        return REPEAT_CRITICAL if rule.get("severity") == "critical" else 0
    return r


# --- the state machine ----------------------------------------------------------------------

def _cooled(rule, st, now):
    return st["last"] < 0 or now - st["last"] >= rule.get("cooldown", 1800)


def _open(rule, st, now, t0):
    # an episode starts: alert now, or owe the alert until the cooldown is over
    st["on"] = True
    st["t0"] = t0
    if _cooled(rule, st, now):
        st["last"] = now
        st["owed"] = False
        return "firing"
    st["owed"] = True
    return None


def _close(rule, st):
    # the condition no longer holds: say so if its firing went out
    st["on"] = False
    st["owed"] = False
    sent = st["fid"] is not None
    st["fid"] = None
    if sent and rule.get("resolved", True):
        return "resolved"
    return None


def _worse(rule, st, value):
    if value is None:
        return
    w = st["worst"]
    if w is None or ("below" in rule and value < w) or ("below" not in rule and value > w):
        st["worst"] = value


def check(rule, state, value, now):
    """One rule, one reading (value None = sensor failed or absent), one instant.
    Returns (new_state, what): what is None, "firing" (the episode's first alert), "repeat"
    (a reminder while it stays open) or "resolved" (it closed after its firing went out)."""
    st = dict(state)
    for k in ("t0", "worst", "fid"):
        if k not in st:      # a state saved before episodes existed
            st[k] = None
    t = rule.get("type", "threshold")
    what = None
    was_on = st["on"]
    if t == "threshold":
        if value is None:
            return st, None
        hyst = rule.get("hysteresis", 0)
        if "above" in rule:
            trip = value > rule["above"]
            clear = value <= rule["above"] - hyst
        else:
            trip = value < rule["below"]
            clear = value >= rule["below"] + hyst
        if not st["on"]:
            if trip:
                st["worst"] = value
                what = _open(rule, st, now, now)
        elif clear:
            return st, _close(rule, st)
        else:
            _worse(rule, st, value)
    elif t == "missing":
        if value is not None:
            st["since"] = None
            if st["on"]:
                return st, _close(rule, st)
            return st, None
        if st["since"] is None:
            st["since"] = now
        if not st["on"] and now - st["since"] >= rule["after"]:
            what = _open(rule, st, now, st["since"])
    elif t == "stuck":
        if value is None:
            return st, None
        if st["ref"] is None or abs(value - st["ref"]) > rule.get("tolerance", 0):
            st["ref"] = value
            st["since"] = now
            if st["on"]:
                return st, _close(rule, st)
            return st, None
        if not st["on"] and now - st["since"] >= rule["after"]:
            st["worst"] = value
            what = _open(rule, st, now, st["since"])
    else:
        raise ValueError("rule type " + repr(t) + " unknown")
    if what is None and st["on"] and st["owed"] and _cooled(rule, st, now):
        # the condition outlasted the cooldown: say so once
        st["owed"] = False
        st["last"] = now
        what = "firing"
    if what == "firing":
        st["fid"] = "?"      # the caller (evaluate) puts the alert's id here
    elif what is None and was_on and st["fid"] is not None:
        every = repeat_of(rule)
        if every and now - st["last"] + SLACK >= every:
            st["last"] = now
            what = "repeat"
    return st, what


def next_due(rules, states):
    """The monotonic time the next reminder is due (None: none is), so the board wakes for it
    rather than at the first sample after it."""
    due = None
    for i in range(min(len(rules), len(states))):
        st = states[i]
        if st is None or not st.get("on") or st.get("fid") is None or st.get("owed"):
            continue
        every = repeat_of(rules[i])
        if every and (due is None or st["last"] + every < due):
            due = st["last"] + every
    return due


def evaluate(rules, states, readings, now, wall=0, new_id=None, meta=None, hist=None):
    """All rules against one set of readings {name: (value, unit)} at monotonic `now`; `wall`
    is UTC seconds (0: clock unset). new_id() gives an alert id, kept in the state as the
    episode's firing id (for the `closes` of its resolved alert). meta: {reading: {label, unit,
    on_text, off_text}} from the sensors' config; hist: {reading: [(ts, value), ...]}.
    Returns (new_states, events); an event is a dict ready to become an alert record."""
    out_states = []
    events = []
    meta = meta or {}
    hist = hist or {}
    for i in range(len(rules)):
        rule = rules[i]
        st = states[i] if i < len(states) and states[i] is not None else new_state()
        value, unit = readings.get(rule["sensor"], (None, ""))
        fid = st.get("fid")
        st, what = check(rule, st, value, now)
        if what == "firing" or (st["on"] and not st.get("w0") and wall):
            # when the episode began, in UTC, for "since" in this and later alerts
            st["w0"] = int(wall - (now - st["t0"])) if wall and st["t0"] is not None else 0
        if what is not None:
            from outpost import words   # loaded only when an alert is made (see app.step)
            subj, body = words.describe(rule, st, what, value, unit, now, wall,
                                        meta.get(rule["sensor"]), hist.get(rule["sensor"]),
                                        repeat_of(rule))
            ev = {"kind": KIND[rule.get("type", "threshold")],
                  "severity": rule.get("severity", "warning"),
                  "subject": subj, "body": body, "rule": i,
                  "state": "resolved" if what == "resolved" else "firing"}
            rid = new_id() if new_id is not None else None
            if rid is not None:
                ev["id"] = rid
            if what == "resolved":
                ev["closes"] = fid
                st["t0"] = None
                st["w0"] = 0
                st["worst"] = None
            elif what == "firing" and rid is not None:
                st["fid"] = rid
            elif what == "repeat" and fid not in (None, "?"):
                ev["repeats"] = fid         # its mail threads under the firing
            if value is not None:
                ev["readings"] = {rule["sensor"]: {"value": value, "unit": rule.get("unit", unit)}}
            events.append(ev)
        elif not st["on"] and st["t0"] is not None and st["fid"] is None:
            # an episode that closed silently (its alert was still owed)
            st["t0"] = None
            st["w0"] = 0
            st["worst"] = None
        out_states.append(st)
    return out_states, events
