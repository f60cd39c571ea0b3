# Fuzz soak (printed, not asserted): the property fuzz of tests/host/test_fuzz.py run for longer
# on the same in-process targets (tests/host/fuzz_targets.py): alert records through the shared
# decoder and Ingest.check, serial frames through the serial ingress's line handler, SMTP command
# sequences through the SMTP ingress's aiosmtpd session. Prints cases per second per target and
# every finding (the shrunk input and the error). Usage:
#     .venv/bin/python bench/fuzz_soak.py [seconds per target, default 60]
import logging
import sys
import time
import traceback

import gateway_common  # noqa: F401 (import paths)

from hypothesis import HealthCheck, given, settings

from fuzz_targets import Targets, frames, records, smtp_sessions

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0


def soak(name, strategy, target):
    n = [0]

    # rounds of 500 cases, each from a fresh random seed, until the time is up
    @settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(strategy)
    def run(case):
        n[0] += 1
        target(case)

    findings = []
    end = time.monotonic() + SECONDS
    t0 = time.perf_counter()
    while time.monotonic() < end:
        try:
            run()
        except Exception as e:       # a finding, shrunk by hypothesis: print it, go on
            findings.append("".join(traceback.format_exception_only(type(e), e)).strip())
    dt = time.perf_counter() - t0
    print("%-8s %8d cases in %5.1f s = %7.0f cases/s   findings: %s"
          % (name, n[0], dt, n[0] / dt, len(findings)))
    for f in findings:
        print("  finding:", f)
    return findings


def main():
    logging.basicConfig(level=logging.CRITICAL)
    t = Targets()
    try:
        found = [soak("records", records(), t.record),
                 soak("frames", frames(), t.frame),
                 soak("smtp", smtp_sessions(), t.smtp_session)]
    finally:
        t.close()
    print("findings: %d" % sum(len(f) for f in found))
    return 0


if __name__ == "__main__":
    sys.exit(main())
