# Run by bench/chart_heap.py on MicroPython (the unix port, from deployed .mpy files, and the
# WebAssembly VM through tests/mpvm/exec.mjs) and on CPython for reference. Writes a daily
# report message (3 sensors, 288 CSV rows) with and without its charts into a sink, one chunk
# per step(), and prints the heap held (gc.mem_alloc() after gc.collect(), above the baseline
# taken once the CSV exists, as it does on a board at report time).
import gc
import sys


T0 = 1795824000
MAIL = {"sender": "shed@example.org", "to": ["me@example.org"], "subject_prefix": "[outpost] "}


def make_csv():
    # the report's CSV as outpost.report writes it (time_utc + 3 columns, 288 rows of 5 min),
    # built in one buffer before anything else is loaded, so the bench measures the mail only
    from outpost_contract.rules import iso
    buf = bytearray(b"time_utc,freezer.temperature,freezer.humidity,door\r\n")
    for i in range(288):
        buf.extend(("%s,%.2f,%.2f,%d\r\n" % (iso(T0 + i * 300), -18.0 + (i % 37) * 0.25,
                                               40.0 + i % 7, 1 if 100 < i < 104 else 0)).encode())
    return str(buf, "utf-8")


def record():
    return {"v": 1, "id": "shed-3-7", "device": "shed", "severity": "info", "kind": "report",
            "subject": "shed report 2026-11-28", "ts": T0 + 86400, "body": "report\n"}


S = {}


def message(rec, csv, chart):
    # the report's email as the SMTP step composes it (outpost.compose), the charts drawn in
    # memory as the writer reads them (on the board they go to flash first)
    from outpost import compose
    from outpost_contract import mail
    m = mail.message(rec, MAIL["sender"], MAIL["to"], MAIL["subject_prefix"])
    items = None
    if chart:
        from outpost import chart as charts
        items = [(n, lo, hi, p.png()) for n, lo, hi, p in charts.plots(csv)]
    compose.add(m, rec, csv, items)
    return m


def heap():
    gc.collect()
    return gc.mem_alloc()


def finish():
    if S["chart"]:
        print("chart modules (outpost.chart + outpost.png) loaded: %d bytes" % S["mods"])
    print("%-9s wire %6d bytes in %4d chunks; held above baseline: max %6d, after the 1st chunk"
          " %6d" % ("charts" if S["chart"] else "no chart", S["bytes"], S["chunks"], S["max"],
                    S["first"]))


def step():
    # one phase or one chunk per call (the WebAssembly VM frees memory between calls only).
    # The baseline holds the CSV and the modules every mailed report loads (alerts, usmtp's
    # writer, outpost_contract.mail), so what is above it is the message and, with charts, the
    # chart code and its buffers.
    phase = S.get("phase")
    if phase is None:
        S["csv"] = make_csv()
        S["chart"] = S.get("start", True)
        S["phase"] = "preload"
    elif phase == "preload":
        from outpost import alerts, compose  # noqa: F401
        from outpost_contract import mail  # noqa: F401
        import usmtp.writer  # noqa: F401
        S["phase"] = "base"
    elif phase == "base":
        S["base"] = heap()
        S["phase"] = "mods"
    elif phase == "mods":
        if S["chart"]:
            from outpost import chart as _c  # noqa: F401 (what loading the chart code costs)
        S["phase"] = "msg"
    elif phase == "msg":
        S["mods"] = heap() - S["base"]
        m = message(record(), S["csv"], S["chart"])
        S["gen"] = m.chunks()
        S["max"] = S["bytes"] = S["chunks"] = 0
        S["first"] = None
        S["phase"] = "chunks"
    else:
        held = heap() - S["base"]
        if held > S["max"]:
            S["max"] = held
        if S["first"] is None and S["chunks"] == 1:
            S["first"] = held
        try:
            c = next(S["gen"])
        except StopIteration:
            finish()
            S["gen"] = None
            if not S["chart"]:
                return False
            # unload the chart code as the SMTP step does, then the same report without it
            for name in ("outpost.chart", "outpost.png"):
                if name in sys.modules:
                    del sys.modules[name]
            import outpost
            for leaf in ("chart", "png"):
                if leaf in dir(outpost):
                    delattr(outpost, leaf)
            S["chart"] = False
            S["phase"] = "base"
            return True
        S["bytes"] += len(c)
        S["chunks"] += 1
        c = None
    return True


def run_all():
    # for runtimes where one long call reclaims memory (unix MicroPython, CPython)
    while step():
        pass


print("runtime: %s %s" % (sys.implementation.name, ".".join(str(x) for x in sys.implementation.version[:3])))
