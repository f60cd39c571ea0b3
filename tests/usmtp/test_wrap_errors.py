# lane: micropython
# What a failed TLS handshake raises (client.wrap): a refused certificate is SMTPTLSError (the
# setup: reconfigure), but a heap too small for the handshake stays a MemoryError (an outage of
# this attempt, retried with a backoff), never a TLS setup error.
from usmtp import client, errors


class Ctx:
    def __init__(self, exc):
        self.exc = exc

    def wrap_socket(self, sock, server_hostname=None):
        raise self.exc


def _raised(exc):
    try:
        client.wrap(None, Ctx(exc), "mail.example.org")
    except BaseException as e:     # noqa: B036 (what it raises is the test)
        return e
    return None


def test_a_refused_certificate_is_a_tls_error():
    e = _raised(ValueError("invalid cert"))
    assert isinstance(e, errors.SMTPTLSError) and "mail.example.org" in str(e)
    assert errors.outcome(e) == "reconfigure"


def test_memory_running_out_in_the_handshake_stays_a_memory_error():
    e = _raised(MemoryError("memory allocation failed, allocating 520 bytes"))
    assert isinstance(e, MemoryError) and not isinstance(e, errors.SMTPTLSError)
