# Counters shared by every part of the gateway, rendered in Prometheus text format.
import threading

COUNTERS = (
    ("received", "alerts offered by any ingress"),
    ("acknowledged", "alerts acknowledged after their spool commit"),
    ("refused", "alerts refused as bad input"),
    ("duplicates", "alerts already held, acknowledged and dropped"),
    ("spool_full", "alerts refused because the spool was full"),
    ("spool_errors", "alerts refused because the spool could not be written"),
    ("relayed", "deliveries accepted by the upstream"),
    ("retried", "deliveries deferred for a later attempt"),
    ("dead", "deliveries dead-lettered"),
    ("digests", "digest messages sent"),
)


class Metrics:
    def __init__(self):
        self._lock = threading.Lock()
        self.c = dict((name, 0) for name, _ in COUNTERS)
        self.refusals = {}      # (source, reason) -> count

    def inc(self, name, n=1):
        with self._lock:
            self.c[name] += n

    def refuse(self, source, reason):
        # reasons are short fixed words (the detail goes to the log), so labels stay few
        with self._lock:
            self.c["refused"] += 1
            k = (source, reason)
            self.refusals[k] = self.refusals.get(k, 0) + 1

    def render(self, gauges):
        out = []
        with self._lock:
            for name, help_ in COUNTERS:
                m = "outpost_" + name + "_total"
                out.append("# HELP %s %s\n# TYPE %s counter\n%s %d\n" % (m, help_, m, m, self.c[name]))
            if self.refusals:
                out.append("# HELP outpost_refused_by_reason_total refusals by ingress and reason\n"
                           "# TYPE outpost_refused_by_reason_total counter\n")
                for (src, why), n in sorted(self.refusals.items()):
                    out.append('outpost_refused_by_reason_total{source="%s",reason="%s"} %d\n' % (src, why, n))
        for name, help_, value in gauges:
            m = "outpost_" + name
            out.append("# HELP %s %s\n# TYPE %s gauge\n%s %s\n" % (m, help_, m, m, repr(float(value))))
        return "".join(out)
