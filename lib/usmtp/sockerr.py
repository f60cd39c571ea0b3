# Which usmtp error a socket or TLS failure is (client.failed): loaded only when one happens,
# and small, so that a board whose server is down (the MQTT fallback's wake) interns few names.


def sockerr(e, n, a):
    # phrase n (with a) for a timeout (ETIMEDOUT on Linux, lwIP, BSD; CPython's TimeoutError),
    # else phrase n + 1 with e: a lost connection (47, 48), no connection (51, 52), TLS that
    # failed (49, 50: MicroPython reports a failed certificate check as ValueError, CPython as
    # SSLError). A MemoryError stays one.
    if isinstance(e, MemoryError):
        return e
    from usmtp import errors
    k = errors.SMTPConnectError if n != 49 else errors.SMTPTLSError
    t = getattr(__import__("builtins"), "TimeoutError", ())     # none on MicroPython
    if isinstance(e, OSError) and (e.args and e.args[0] in (110, 116, 60) or isinstance(e, t)):
        return errors.err(errors.SMTPTimeout, n, *a)
    return errors.err(k, n + 1, *(a + (e,)))
