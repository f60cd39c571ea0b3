# lane: micropython
# Rules are pure functions of (rule, state, value, now): every case drives them with injected times.
from outpost import rules

ABOVE = {"sensor": "freezer.temperature", "above": -12, "hysteresis": 1.0, "cooldown": 600,
         "severity": "critical"}


def run(rule, series):
    # series: [(now, value)] -> list of times at which an alert fired
    st = rules.new_state()
    fired = []
    for now, v in series:
        st, f = rules.check(rule, st, v, now)
        if f:
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
    assert fired
    assert st == rules.new_state()
    assert st2["on"] and st2["last"] == 10


def test_evaluate_builds_events():
    rs = [ABOVE, {"type": "missing", "sensor": "door", "after": 30}]
    states = [None, None]
    readings = {"freezer.temperature": (-5.5, "C"), "door": (None, "")}
    states, ev = rules.evaluate(rs, states, readings, 0)
    assert len(ev) == 1
    e = ev[0]
    assert e["kind"] == "threshold" and e["severity"] == "critical"
    assert e["subject"] == "freezer.temperature is -5.5 C, above -12 C"
    assert e["readings"] == {"freezer.temperature": {"value": -5.5, "unit": "C"}}
    states, ev = rules.evaluate(rs, states, readings, 30)
    assert [x["kind"] for x in ev] == ["sensor-missing"]
    assert ev[0]["severity"] == "warning"
    assert "readings" not in ev[0]
    states, ev = rules.evaluate(rs, states, readings, 60)
    assert ev == []


def test_unknown_rule_type_is_refused():
    try:
        rules.check({"type": "nope", "sensor": "x"}, rules.new_state(), 1, 0)
    except ValueError as e:
        assert "nope" in str(e)
    else:
        assert False, "no error"
