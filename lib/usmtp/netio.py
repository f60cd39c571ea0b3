# Sockets and TLS for the blocking driver, on CPython and on MicroPython (>= 1.22, ssl/tls).
# This is the only usmtp module that imports socket or ssl; it decides the runtime once.

import sys

from usmtp import errors
from usmtp.errors import SMTPConnectError, SMTPTimeout, SMTPUsageError

MICROPYTHON = sys.implementation.name == "micropython"
READ_SIZE = 512 if MICROPYTHON else 16384     # a reply line is at most 512 bytes (RFC 5321 4.5.3.1.5)
# body bytes gathered into one socket write; on a board each piece goes as it comes (during TLS
# the heap has no large free block to gather them in)
WRITE_SIZE = 512 if MICROPYTHON else 16384
BDAT_SIZE = 1024 if MICROPYTHON else 4096     # a BDAT chunk, one buffer allocated per message
ETIMEDOUT = (110, 116, 60)   # Linux/lwIP, MicroPython unix, BSD


def _is_timeout(e):
    if not MICROPYTHON:
        import socket
        if isinstance(e, socket.timeout):
            return True
    return isinstance(e, OSError) and e.args and e.args[0] in ETIMEDOUT


def ticks_ms():
    import time
    if MICROPYTHON:
        return time.ticks_ms()
    return int(time.monotonic() * 1000)


def elapsed_ms(start):
    # ticks wrap around on MicroPython: only ticks_diff() measures across the wrap
    import time
    if MICROPYTHON:
        return time.ticks_diff(time.ticks_ms(), start)
    return int(time.monotonic() * 1000) - start


def connect(host, port, timeout, source_address=None):
    """A connected TCP socket with `timeout` set, or SMTPConnectError/SMTPTimeout."""
    import socket
    try:
        if MICROPYTHON:
            addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
            s = socket.socket()
            s.settimeout(timeout)
            try:
                s.connect(addr)
            except BaseException:
                s.close()
                raise
        else:
            s = socket.create_connection((host, port), timeout, source_address)
        # pipelined commands go out in several writes: without this each waits for the
        # server's delayed ACK (Nagle), about 40 ms a message on Linux
        if hasattr(socket, "TCP_NODELAY"):
            try:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):
                pass
        return s
    except OSError as e:
        if _is_timeout(e):
            raise SMTPTimeout("timed out connecting to %s:%d" % (host, port))
        raise SMTPConnectError("cannot connect to %s:%d: %s" % (host, port, e))


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
    if MICROPYTHON:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if insecure_skip_verify:
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        # MicroPython's default is CERT_NONE: verification must be asked for explicitly
        ctx.verify_mode = ssl.CERT_REQUIRED
        if not cadata:
            raise SMTPUsageError("cadata is required on MicroPython: there is no system CA store "
                                 "(or pass insecure_skip_verify=True, not recommended)")
        from usmtp.clock import is_set
        if not is_set():            # a certificate is only checkable with a set clock
            raise errors.SMTPTLSError("the clock is not set, so the server's certificate cannot be "
                                      "checked: set the time (ntptime.settime()) before connecting")
        # mbedTLS takes DER only, one certificate a call: usmtp/cacert.py, loaded for this
        # only, so its heap is free again for the handshake
        import usmtp
        from usmtp import cacert
        try:
            cacert.load(ctx, cadata, native)
        except ValueError as e:
            raise SMTPUsageError("cadata: " + str(e))
        finally:
            del sys.modules["usmtp.cacert"]
            del usmtp.cacert
        return ctx
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    if not cadata:
        ctx.load_default_certs()
        return ctx
    from usmtp import cacert
    try:
        cacert.load(ctx, cadata)
    except ValueError as e:
        raise SMTPUsageError("cadata: " + str(e))
    return ctx


def wrap(sock, ctx, server_hostname):
    """TLS handshake on a connected socket; any failure is SMTPTLSError (or SMTPTimeout)."""
    if MICROPYTHON:
        import gc
        gc.collect()    # the handshake needs a large contiguous block of heap
    try:
        return ctx.wrap_socket(sock, server_hostname=server_hostname)
    except Exception as e:
        if _is_timeout(e):
            raise SMTPTimeout("timed out in the TLS handshake with " + server_hostname)
        # MicroPython reports a failed certificate check as ValueError, CPython as SSLError
        raise errors.SMTPTLSError("TLS handshake with %s failed: %s" % (server_hostname, e))


class Stream:
    """Read/write with a per-call timeout over a plain or TLS socket of either runtime."""

    def __init__(self, sock, raw=None):
        self.sock = sock
        self.raw = raw or sock     # timeouts are set on the plain socket under TLS
        self._timeout = None

    def _settimeout(self, t):
        if t != self._timeout:
            # CPython's SSLSocket owns the file descriptor; MicroPython's TLS object has no
            # settimeout, but the plain socket under it does
            (self.raw if MICROPYTHON else self.sock).settimeout(t)
            self._timeout = t

    def write(self, data, timeout):
        self._settimeout(timeout)
        try:
            if MICROPYTHON:
                mv = memoryview(data)
                while len(mv) > 0:
                    n = self.sock.write(mv)
                    if n is None:
                        continue
                    mv = mv[n:]
            else:
                self.sock.sendall(data)
        except OSError as e:
            if _is_timeout(e):
                raise SMTPTimeout("timed out sending to the server")
            raise SMTPConnectError("connection lost while sending: %s" % (e,))

    def read(self, timeout):
        self._settimeout(timeout)
        try:
            if MICROPYTHON:
                # MicroPython's read(n) waits for all n bytes; replies are lines, so read lines
                d = self.sock.readline(READ_SIZE)
            else:
                d = self.sock.recv(READ_SIZE)
        except OSError as e:
            if _is_timeout(e):
                raise SMTPTimeout("timed out waiting for the server's reply")
            raise SMTPConnectError("connection lost while reading: %s" % (e,))
        return d or b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def local_literal(sock):
    """The EHLO name: our address as a literal ([192.0.2.1] or [IPv6:...]), as RFC 5321 asks
    of a client without a meaningful host name."""
    try:
        a = sock.getsockname()
        ip = a[0] if isinstance(a, tuple) else None
    except Exception:
        ip = None
    if not ip or not isinstance(ip, str):
        return "[127.0.0.1]"
    if ":" in ip:
        return "[IPv6:" + ip + "]"
    return "[" + ip + "]"
