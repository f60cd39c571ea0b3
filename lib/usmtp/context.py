# The TLS context usmtp verifies a server with, on CPython and on MicroPython (>= 1.22, ssl or
# tls). Loaded only to build one, and on a board unloaded after (usmtp.client). A board may
# build it first thing in a wake and hand it to usmtp.SMTP(context=): the context object is
# one of the largest blocks a send allocates (about 3 KB on the unix port), and later in a
# wake the heap may be too split to hold it.

import sys

from usmtp import errors
from usmtp.errors import SMTPUsageError

MICROPYTHON = sys.implementation.name == "micropython"


def client_context(cadata=None, insecure_skip_verify=False):
    """An ssl context that verifies the server against `cadata` (PEM str/bytes or DER bytes).
    With cadata None, CPython uses the system CAs; MicroPython has none and refuses."""
    native = False
    try:
        import ssl
    except ImportError:         # MicroPython builds with the tls module only
        native = True
        try:
            import tls as ssl
        except ImportError:
            raise errors.SMTPTLSError("this build has no ssl or tls module: TLS is impossible here "
                                      "(mode='plain' only on a network you trust)")
    if isinstance(cadata, str):
        cadata = cadata.encode()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not MICROPYTHON:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = not insecure_skip_verify
    if insecure_skip_verify:
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    # MicroPython's default is CERT_NONE: verification must be asked for explicitly
    ctx.verify_mode = ssl.CERT_REQUIRED
    if not cadata:
        if not MICROPYTHON:
            ctx.load_default_certs()
            return ctx
        raise SMTPUsageError("cadata is required on MicroPython: there is no system CA store "
                             "(or pass insecure_skip_verify=True, not recommended)")
    if MICROPYTHON:
        from usmtp.clock import is_set
        if not is_set():            # a certificate is only checkable with a set clock
            raise errors.SMTPTLSError("the clock is not set, so the server's certificate cannot be "
                                      "checked: set the time (ntptime.settime()) before connecting")
    # mbedTLS takes DER only, one certificate a call: usmtp/cacert.py, loaded for this only,
    # so on a board its heap is free again for the handshake
    import usmtp
    from usmtp import cacert
    try:
        cacert.load(ctx, cadata, native)
    except ValueError as e:
        raise SMTPUsageError("cadata: " + str(e))
    finally:
        if MICROPYTHON:
            del sys.modules["usmtp.cacert"]
            del usmtp.cacert
    return ctx
