# The periodic report: min/mean/max per reading since the last report, plus a CSV of samples.
# Pure functions over readings and `now` (UTC Unix seconds); nothing here reads a clock.
#
# A report state is a plain dict, so it can be kept in RAM or serialised to RTC memory:
#   start  when this report period began
#   stats  {name: [n, sum, min, max, missing, unit]}
#   cols   CSV column names, in order of first appearance
#   rows   ["t,v0,v1", ...]: each row as its CSV text with the time in UTC seconds, a missing
#          reading empty; one small string a row, not a list and a number object per cell
#          (a day of 288 rows of 3 readings holds 23.7 KB on the 64-bit unix port, not 41.9 KB)
#   every  seconds between CSV rows (doubles each time the row buffer fills)
#   next   time the next CSV row is due



def begun(rep, next_report, last_report, rc, now):
    """(rep, next_report) for a sample at `now`: the report begun if it was not, and when it
    is due worked out (App.do_report and a quiet wake, outpost/quiet.py)."""
    if rep is None:
        rep = new(now, rc["csv_every"])
    if next_report is None:
        next_report = next_due(now, hhmm(rc["at"]), rc["tz_offset_min"], rc["every"], last_report)
    return rep, next_report


def hhmm(s):
    # "07:30" -> minutes after midnight, "" -> None (the config check already refused anything else)
    return int(s[:-3]) * 60 + int(s[-2:]) if s else None


def new(start, csv_every):
    return {"start": start, "stats": {}, "cols": [], "rows": [], "every": csv_every, "next": start}


def add(rep, readings, now, max_rows):
    """Fold one sample {name: (value, unit)} taken at `now` into the report; returns rep."""
    stats = rep["stats"]
    for name in readings:
        value, unit = readings[name]
        s = stats.get(name)
        if s is None:
            s = [0, 0.0, None, None, 0, unit]
            stats[name] = s
            rep["cols"].append(name)
        if value is None:
            s[4] += 1
            continue
        s[0] += 1
        s[1] += value
        if s[2] is None or value < s[2]:
            s[2] = value
        if s[3] is None or value > s[3]:
            s[3] = value
    if now >= rep["next"]:
        row = str(now)
        for name in rep["cols"]:
            r = readings.get(name)
            row += "," + _num(None if r is None else r[0])
        rows = rep["rows"]
        rows.append(row)
        if len(rows) > max_rows:
            # keep the whole period at half the resolution rather than only its end
            rep["rows"] = rows[::2]
            rep["every"] = rep["every"] * 2
        rep["next"] = now + rep["every"]
    return rep


def _num(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "%.2f" % v
    return str(v)


def csv_chunks(rep):
    """The CSV attachment as a generator of small str chunks (one per row)."""
    from usmtp.clock import iso     # the one time format (UTC, ISO 8601)
    yield "time_utc," + ",".join(rep["cols"]) + "\r\n"
    n = len(rep["cols"])
    for row in rep["rows"]:
        if not isinstance(row, str):
            # a row kept in RTC memory by an older firmware: [t, v0, v1, ...]
            row = ",".join([str(row[0])] + [_num(v) for v in row[1:]])
        t, sep, rest = row.partition(",")
        # a column that appeared after this row: its cell is empty
        yield iso(int(t)) + sep + rest + "," * (n - (rest.count(",") + 1 if sep else 0)) + "\r\n"


def csv_text(rep):
    return "".join(csv_chunks(rep))


def summary(rep, device, now, extra=None):
    """(subject, body) of the report for the period rep["start"]..now."""
    from usmtp.clock import iso
    subj = device + " report " + iso(now)[:10]
    lines = [device + " report from " + iso(rep["start"]) + " to " + iso(now), ""]
    for name in rep["cols"]:
        n, total, lo, hi, missing, unit = rep["stats"][name]
        u = (" " + unit) if unit else ""
        if n:
            lines.append(name + ": min " + _num(lo) + " mean " + _num(total / n) + " max " +
                         _num(hi) + u + " (" + str(n) + " samples, " + str(missing) + " missing)")
        else:
            lines.append(name + ": no reading (" + str(missing) + " missing)")
    if not rep["cols"]:
        lines.append("no samples")
    if extra:
        lines.append("")
        for k in extra:
            lines.append(k + ": " + str(extra[k]))
    return subj, "\n".join(lines) + "\n"


def next_due(now, at_min, tz_offset_min, every, last):
    """When the next report is due (UTC seconds).
    every > 0: periodic, `every` seconds after the last one (or after now when none yet).
    otherwise daily at `at_min` minutes after local midnight (local = UTC + tz_offset_min);
    at_min None: never (returns None)."""
    if every > 0:
        base = last if last is not None else now
        t = base + every
        return t if t > now else now
    if at_min is None:
        return None
    off = tz_offset_min * 60
    local = now + off
    target = local - local % 86400 + at_min * 60
    if target <= local:
        target += 86400
    return target - off
