# lane: micropython
# usmtp.cacert: a CA as PEM text, PEM bytes or DER becomes the DER each MicroPython TLS API takes.
# (Files and real SSLContexts: tests/realmp/test_cacert_real.py on mbedTLS.)
import binascii

from usmtp import cacert
from tinytest import raises

# a stand-in body: cacert converts the encoding, it does not parse X.509
DER1 = b"\x30\x82\x00\x04\x01\x02\x03\x04"
DER2 = b"\x30\x82\x00\x03\x09\x08\x07"


def pem(der, eol=b"\n"):
    b64 = binascii.b2a_base64(der).strip()
    return (b"-----BEGIN CERTIFICATE-----" + eol + b64 + eol + b"-----END CERTIFICATE-----" + eol)


def test_pem_text_bytes_and_crlf_become_der():
    assert cacert.ders(pem(DER1)) == [DER1]
    assert cacert.ders(pem(DER1).decode()) == [DER1]
    assert cacert.ders(pem(DER1, b"\r\n")) == [DER1]
    assert cacert.der(pem(DER1)) == DER1


def test_der_is_taken_as_it_is():
    assert cacert.ders(DER1) == [DER1]
    assert cacert.der(DER1) == DER1


def test_a_bundle_gives_every_certificate_and_one_der_api_refuses_it():
    bundle = b"# my CAs\n" + pem(DER1) + b"\n" + pem(DER2)
    assert cacert.ders(bundle) == [DER1, DER2]
    e = raises(ValueError, cacert.der, bundle)
    assert "one CA certificate expected, 2 given" in str(e)


def test_bad_input_says_what_is_wrong():
    assert "no CA certificate" in str(raises(ValueError, cacert.ders, ""))
    assert "unterminated" in str(raises(ValueError, cacert.ders, pem(DER1)[:-30]))
    assert "no CERTIFICATE" in str(raises(ValueError, cacert.ders, b"-----BEGIN PRIVATE KEY-----\nAA==\n"))
    assert "not PEM, DER or a file name" in str(raises(ValueError, cacert.ders, "not\na cert"))
    assert "cannot read no/such/ca.pem" in str(raises(ValueError, cacert.ders, "no/such/ca.pem"))
