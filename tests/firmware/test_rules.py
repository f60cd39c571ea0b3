# lane: micropython
# Rules are pure functions of (rule, state, value, now): every case drives them with injected times.
from outpost import rules, words

ABOVE = {"sensor": "freezer.temperature", "above": -12, "hysteresis": 1.0, "cooldown": 600,
         "severity": "critical"}


def run(rule, series, want="firing"):
    # series: [(now, value)] -> list of times at which an alert of kind `want` went
    st = rules.new_state()
    fired = []
    for now, v in series:
        st, f = rules.check(rule, st, v, now)
        if f == want:
            fired.append(now)
    return fired


def test_threshold_fires_once_while_above():
    series = [(0, -18), (30, -15), (60, -11.5), (90, -9), (120, -5), (3600, -4)]
    assert run(ABOVE, series) == [60]


def test_below_limit_never_fires():
    assert run(ABOVE, [(t, -12) for t in range(0, 3000, 30)]) == []


def test_hovering_value_makes_no_storm():
    # crosses the limit every sample but never falls below limit - hysteresis: one alert
    series = []
    for i in range(200):
        series.append((i * 30, -11.9 if i % 2 else -12.3))
    assert run(ABOVE, series) == [30]


def test_hysteresis_rearms_but_cooldown_holds():
    # above, clearly cleared, above again inside the cooldown: no second alert then
    series = [(0, -10), (30, -14), (60, -10), (90, -14), (120, -10)]
    assert run(ABOVE, series) == [0]


def test_episode_during_cooldown_alerts_once_cooldown_ends():
    series = [(0, -10), (30, -14), (60, -10), (300, -10), (599, -10), (600, -10), (900, -10)]
    assert run(ABOVE, series) == [0, 600]


def test_episode_during_cooldown_that_clears_is_forgotten():
    series = [(0, -10), (30, -14), (60, -10), (90, -14), (700, -14), (800, -14)]
    assert run(ABOVE, series) == [0]


def test_new_episode_after_cooldown_alerts_again():
    series = [(0, -10), (30, -14), (1000, -10), (1030, -10)]
    assert run(ABOVE, series) == [0, 1000]


def test_below_rule_with_hysteresis():
    rule = {"sensor": "battery", "below": 3.3, "hysteresis": 0.1, "cooldown": 0}
    series = [(0, 3.6), (10, 3.25), (20, 3.35), (30, 3.25), (40, 3.45), (50, 3.2)]
    assert run(rule, series) == [10, 50]


def test_missing_value_does_not_touch_threshold():
    series = [(0, None), (30, None), (60, -5), (90, None), (120, -5)]
    assert run(ABOVE, series) == [60]


def test_sensor_missing_rule():
    rule = {"type": "missing", "sensor": "door", "after": 120, "cooldown": 0}
    series = [(0, 1), (30, None), (60, None), (149, None), (150, None), (180, None), (210, 0),
              (240, None), (360, None)]
    assert run(rule, series) == [150, 360]


def test_missing_from_boot_counts_from_first_sample():
    rule = {"type": "missing", "sensor": "x", "after": 60}
    assert run(rule, [(1000, None), (1059, None), (1060, None), (2000, None)]) == [1060]


def test_stuck_rule_with_tolerance():
    rule = {"type": "stuck", "sensor": "t", "after": 300, "tolerance": 0.05, "cooldown": 0}
    series = [(0, 4.0), (100, 4.01), (200, 3.99), (300, 4.02), (400, 4.5), (700, 4.5), (800, 4.52)]
    assert run(rule, series) == [300, 700]


def test_stuck_ignores_missing_samples():
    rule = {"type": "stuck", "sensor": "t", "after": 100}
    assert run(rule, [(0, 1.0), (50, None), (100, 1.0)]) == [100]


def test_state_is_not_mutated():
    st = rules.new_state()
    st2, fired = rules.check(ABOVE, st, 0, 10)
    assert fired == "firing"
    assert st == rules.new_state()
    assert st2["on"] and st2["last"] == 10


def test_evaluate_builds_events():
    rs = [ABOVE, {"type": "missing", "sensor": "door", "after": 30}]
    states = [None, None]
    readings = {"freezer.temperature": (-5.54, "°C"), "door": (None, "")}
    ids = iter(["d-1-1", "d-1-2", "d-1-3"])
    states, ev = rules.evaluate(rs, states, readings, 0, new_id=lambda: next(ids))
    assert len(ev) == 1
    e = ev[0]
    assert e["kind"] == "threshold" and e["severity"] == "critical"
    assert e["subject"] == "freezer.temperature -5.5 °C (above -12 °C)"
    assert e["state"] == "firing" and e["id"] == "d-1-1" and "closes" not in e
    assert e["readings"] == {"freezer.temperature": {"value": -5.54, "unit": "°C"}}
    assert states[0]["fid"] == "d-1-1"
    states, ev = rules.evaluate(rs, states, readings, 30, new_id=lambda: next(ids))
    assert [x["kind"] for x in ev] == ["sensor-missing"]
    assert ev[0]["severity"] == "warning"
    assert ev[0]["subject"] == "door: no reading for 30 s"
    assert "readings" not in ev[0]
    states, ev = rules.evaluate(rs, states, readings, 60)
    assert ev == []


T0 = 1795850000     # 2026-11-28 (UTC seconds) for the wall clock


def episode(rule, series, meta=None):
    # series: [(mono, value)], wall = T0 + mono -> list of events, each with its id
    states = [None]
    n = [0]
    hist = []
    out = []

    def new_id():
        n[0] += 1
        return "shed-1-" + str(n[0])
    for now, v in series:
        hist = (hist + [(T0 + now, v)])[-rules.HISTORY:]
        states, ev = rules.evaluate([rule], states, {rule["sensor"]: (v, "°C")}, now, T0 + now,
                                    new_id, {rule["sensor"]: meta} if meta else None,
                                    {rule["sensor"]: hist})
        for e in ev:
            e["at"] = now
        out.extend(ev)
    return out


def test_episode_resolves_with_duration_and_worst():
    rule = dict(ABOVE, cooldown=0)
    evs = episode(rule, [(0, -14.0), (60, -11.0), (120, -6.24), (3600, -8.0), (21720, -13.5)])
    assert [(e["state"], e["at"]) for e in evs] == [("firing", 60), ("resolved", 21720)]
    fire, done = evs
    assert fire["subject"] == "freezer.temperature -11 °C (above -12 °C)"
    assert done["closes"] == fire["id"] == "shed-1-1" and done["id"] == "shed-1-2"
    assert done["subject"] == "freezer.temperature back to -13.5 °C after 6 h 1 min (worst -6.2 °C)"
    assert "Lasted:   6 h 1 min" in done["body"] and "Worst:    -6.2 °C" in done["body"]
    # the firing's body: what crossed, since when, the last readings, the rule
    b = fire["body"]
    assert b.startswith("freezer.temperature is -11 °C.\n")
    assert "Since:    2026-11-28T" in b
    assert "Last readings:\n" in b and "  -14 °C\n" in b and "  -11 °C\n" in b
    assert "Rule:     freezer.temperature above -12 °C (cooldown 0 s, repeats every 4 h)" in b


def test_critical_repeats_every_four_hours_by_default_and_repeat_0_turns_it_off():
    series = [(t, -5.0) for t in range(0, 9 * 3600 + 1, 600)]
    evs = episode(ABOVE, series)
    assert [(e["state"], e["at"]) for e in evs] == [("firing", 0), ("firing", 14400), ("firing", 28800)]
    assert evs[1]["subject"] == "freezer.temperature -5 °C (above -12 °C), for 4 h"
    assert evs[1]["body"].startswith("Still: freezer.temperature")
    assert [e["at"] for e in episode(dict(ABOVE, repeat=0), series)] == [0]
    assert [e["at"] for e in episode(dict(ABOVE, repeat=3600), series[:13])] == [0, 3600, 7200]
    # a warning repeats only when asked
    assert [e["at"] for e in episode(dict(ABOVE, severity="warning"), series)] == [0]
    # a repeat does not open a new episode: the resolved closes the first firing
    evs = episode(ABOVE, series + [(9 * 3600 + 600, -20.0)])
    assert evs[-1]["state"] == "resolved" and evs[-1]["closes"] == evs[0]["id"]


def test_episode_closed_inside_the_cooldown_is_silent():
    # the second episode never alerted, so nothing says it ended
    evs = episode(ABOVE, [(0, -10.0), (30, -14.0), (60, -10.0), (90, -14.0), (120, -14.0)])
    assert [(e["state"], e["at"]) for e in evs] == [("firing", 0), ("resolved", 30)]


def test_resolved_can_be_turned_off():
    evs = episode(dict(ABOVE, resolved=False), [(0, -10.0), (30, -14.0)])
    assert [e["state"] for e in evs] == ["firing"]


def test_digital_input_in_words_with_labels():
    rule = {"sensor": "door", "above": 0.5, "cooldown": 0}
    meta = {"label": "freezer door", "on_text": "open", "off_text": "closed"}
    evs = episode(rule, [(0, 0), (30, 1), (750, 0)], meta)
    assert [e["subject"] for e in evs] == ["freezer door open", "freezer door closed after 12 min"]
    assert evs[0]["body"].startswith("freezer door is open.\n")
    hist = evs[0]["body"].split("Last readings:\n")[1].split("Rule:")[0]
    assert \
        [line.split()[-1] for line in hist.splitlines()] == ["closed", "open"]
    # a rule's own label and unit win over its sensor's
    rule = {"sensor": "t", "below": 3, "label": "cellar", "unit": "°F", "cooldown": 0}
    evs = episode(rule, [(0, 2.0)], {"label": "x", "unit": "K"})
    assert evs[0]["subject"] == "cellar 2 °F (below 3 °F)"


def test_missing_and_stuck_resolve():
    miss = {"type": "missing", "sensor": "f", "after": 120, "cooldown": 0}
    evs = episode(miss, [(0, None), (120, None), (900, -18.0)])
    assert [e["subject"] for e in evs] == ["f: no reading for 2 min", "f reads again after 15 min"]
    stuck = {"type": "stuck", "sensor": "f", "after": 3600, "cooldown": 0}
    evs = episode(stuck, [(0, -18.0), (3600, -18.0), (4000, -17.0)])
    assert [e["subject"] for e in evs] == ["f stuck at -18 °C for 1 h", "f moves again after 1 h 7 min"]  # 66.7 min, rounded


def test_value_at_the_limit_shows_its_decimals():
    evs = episode(dict(ABOVE, cooldown=0), [(0, -11.96)])
    assert evs[0]["subject"] == "freezer.temperature -11.96 °C (above -12 °C)"
    assert words.qty(-11.999, "°C", -12) == "-11.999 °C" and words.qty(3.26, "V", 3.3) == "3.26 V"
    assert words.qty(-12.0, "°C", -12) == "-12 °C"


def test_words():
    assert words.num(-11.66) == "-11.7" and words.num(3.0) == "3" and words.num(-0.04) == "0"
    assert words.num(7) == "7"
    assert [words.span(s) for s in (5, 90, 120, 3540, 3600, 21720, 86400 * 3 + 3600)] == \
        ["5 s", "90 s", "2 min", "59 min", "1 h", "6 h 2 min", "3 d 1 h"]
    # rounded to the unit shown, never cut down (an episode timed in ms is a hair short)
    assert [words.span(s) for s in (119.6, 1799.9, 1769, 1770, 3599, 7169, 86400 * 2 - 1)] == \
        ["2 min", "30 min", "29 min", "30 min", "1 h", "1 h 59 min", "2 d"]


def test_unknown_rule_type_is_refused():
    try:
        rules.check({"type": "nope", "sensor": "x"}, rules.new_state(), 1, 0)
    except ValueError as e:
        assert "nope" in str(e)
    else:
        assert False, "no error"
