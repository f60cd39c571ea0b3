# Scripted sensor values: what the emulated sensors read at a given moment.
#
# A script is a function value(name, t) -> number or None (None: the sensor is absent or broken),
# where name is a reading name ("freezer.temperature", "door") and t is seconds of world time
# since the emulated board was first switched on. It can be given as:
#   - a Python file defining value(name, t)
#   - a JSON file: {"name": constant | null | [[t, value], ...]}; points are joined by straight
#     lines, the first and last values hold before and after; a null point means "absent from
#     there until the next point"
#   - in tests, a dict of the same shape as the JSON or a callable
import json


def _interp(points, t):
    if not points:
        return None
    if t <= points[0][0]:
        return points[0][1]
    for i in range(1, len(points)):
        t0, v0 = points[i - 1]
        t1, v1 = points[i]
        if t < t1:
            if v0 is None or v1 is None:
                return v0
            return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
    return points[-1][1]


def from_table(table):
    for name, spec in table.items():
        if isinstance(spec, list):
            for p in spec:
                if not (isinstance(p, list) and len(p) == 2 and isinstance(p[0], (int, float))):
                    raise ValueError("sensor script: " + name + ": points must be [t, value] pairs")

    def value(name, t):
        spec = table.get(name)
        if isinstance(spec, list):
            return _interp(spec, t)
        return spec
    return value


def load(source):
    if source is None:
        return lambda name, t: None
    if callable(source):
        return source
    if isinstance(source, dict):
        return from_table(source)
    path = str(source)
    if path.endswith(".json"):
        with open(path) as f:
            return from_table(json.load(f))
    if path.endswith(".py"):
        ns = {"__file__": path, "__name__": "sensor_script"}
        with open(path) as f:
            exec(compile(f.read(), path, "exec"), ns)
        if "value" not in ns:
            raise ValueError("sensor script " + path + ": must define value(name, t)")
        return ns["value"]
    raise ValueError("sensor script " + path + ": must be a .json or .py file")
