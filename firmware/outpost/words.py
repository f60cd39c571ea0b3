# The words a person reads in an alert: subject and body of what a rule saw (what crossed,
# since when, the last readings, the rule), numbers as a thermometer shows them, durations, and
# the labels and on/off texts the sensors' config gives. Loaded only when a rule fires or at
# boot for the sensors' words, then unloaded: the sample loop does not hold it. It imports
# nothing of the rules: what it needs of a rule comes in the call (no import circle).


def num(v):
    # one decimal, as a thermometer shows it: -11.66 -> "-11.7", 3.0 -> "3"
    if isinstance(v, float):
        s = "%.1f" % v
        if s.endswith(".0"):
            s = s[:-2]
        if s == "-0":
            s = "0"
        return s
    return str(v)


def qty(v, unit, limit=None):
    s = num(v)
    if limit is not None and v != limit and s == num(limit):
        # -11.96 against -12 reads "-12 (above -12)": show what it really is
        for fmt in ("%.2f", "%.3f"):
            s = (fmt % v).rstrip("0").rstrip(".")
            if s != num(limit):
                break
    return s + (" " + unit if unit else "")


def span(seconds):
    # "45 s", "12 min", "6 h 2 min", "2 d 3 h": rounded to the unit shown, never cut down
    # (1799.9 s of an episode timed in milliseconds is "30 min", not "29 min")
    s = int(seconds + 0.5)
    if s < 120:
        return str(s) + " s"
    m = (s + 30) // 60
    if m < 60:
        return str(m) + " min"
    if m < 48 * 60:
        return str(m // 60) + " h" + (" " + str(m % 60) + " min" if m % 60 else "")
    h = (m + 30) // 60
    return str(h // 24) + " d" + (" " + str(h % 24) + " h" if h % 24 else "")


def rule_name(rule, label=None, unit=""):
    if rule.get("name"):
        return rule["name"]
    label = label or rule.get("label") or rule["sensor"]
    t = rule.get("type", "threshold")
    if t == "threshold":
        if "above" in rule:
            return label + " above " + qty(rule["above"], unit)
        return label + " below " + qty(rule["below"], unit)
    if t == "missing":
        return label + " gives no reading for " + span(rule["after"])
    return label + " stays within " + qty(rule.get("tolerance", 0), unit) + " for " + span(rule["after"])


def _words(rule, meta, unit):
    # (label, unit, on_text, off_text) of a rule: the rule's own, else its sensor's, else the name
    m = meta or {}
    label = rule.get("label") or m.get("label") or rule["sensor"]
    u = rule.get("unit", m.get("unit", unit)) or ""
    return label, u, m.get("on_text"), m.get("off_text")


def _state_text(v, on, off):
    # a digital input reads as words when the config gives them
    if on is not None and v == 1:
        return on
    if off is not None and v == 0:
        return off
    return None


def describe(rule, st, what, value, unit, now, wall=0, meta=None, hist=None, every=0):
    """Subject and body of the alert: what crossed, since when, the last readings, the rule
    (every: its repeat period in seconds, rules.repeat_of)."""
    from outpost_contract.rules import iso
    t = rule.get("type", "threshold")
    label, u, on, off = _words(rule, meta, unit)
    word = _state_text(value, on, off)
    lim = rule.get("above", rule.get("below"))
    shown = word if word is not None else ("no reading" if value is None else qty(value, u, lim))
    lasted = span(now - st["t0"]) if st.get("t0") is not None else ""
    worst = st.get("worst")
    if what == "resolved":
        if t == "missing":
            subj = label + " reads again after " + lasted
        elif t == "stuck":
            subj = label + " moves again after " + lasted
        elif word is not None:
            subj = label + " " + word + " after " + lasted
        else:
            subj = label + " back to " + shown + " after " + lasted
            if worst is not None:
                subj += " (worst " + qty(worst, u) + ")"
    elif t == "threshold":
        if word is not None:
            subj = label + " " + word
        else:
            subj = label + " " + shown + " (" + ("above " + qty(rule["above"], u) if "above" in rule
                                               else "below " + qty(rule["below"], u)) + ")"
        if what == "repeat":
            subj += ", for " + lasted
    elif t == "missing":
        subj = label + ": no reading for " + span(now - st["t0"])
    else:
        subj = label + " stuck at " + shown + " for " + span(now - st["t0"])
    lines = []
    if what == "resolved":
        lines.append("Resolved: " + label + " is " + shown + " again.")
        lines.append("Lasted:   " + lasted)
        if worst is not None and t == "threshold":
            lines.append("Worst:    " + (_state_text(worst, on, off) or qty(worst, u)))
    else:
        lines.append(("Still: " if what == "repeat" else "") + label + " is " + shown + ".")
        began = st.get("w0") or 0
        if not began and wall and st.get("t0") is not None:
            began = wall - (now - st["t0"])
        lines.append("Since:    " + (iso(int(began)) + " (" + lasted + ")" if began else lasted))
        if worst is not None and t == "threshold" and worst != value:
            lines.append("Worst:    " + (_state_text(worst, on, off) or qty(worst, u)))
    if hist:
        lines.append("Last readings:")
        for ts, v in hist:
            lines.append("  " + (iso(ts)[11:19] if ts else "--:--:--") + "  " +
                         ("none" if v is None else (_state_text(v, on, off) or qty(v, u))))
    lines.append("Rule:     " + rule_name(rule, label, u) +
                 (" (cooldown " + span(rule.get("cooldown", 1800)) +
                  (", repeats every " + span(every) if every else "") + ")"))
    return subj, "\n".join(lines) + "\n"
