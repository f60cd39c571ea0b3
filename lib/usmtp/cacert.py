# A CA certificate as each TLS API takes it, for the mail path and the MQTT path alike. A CA is
# given as PEM text, DER bytes, or the path of a file holding either. MicroPython's mbedTLS takes
# DER only, one certificate a call (PEM: ValueError 'invalid cert'), in both
# SSLContext.load_verify_locations(cadata=) and ssl.wrap_socket(cadata=); CPython takes DER too.
# Small on purpose: it is in the heap while the mail or MQTT path connects.


def ders(ca):
    """Every certificate in `ca` (PEM, DER, or a file of either) as DER bytes; ValueError
    says what is wrong."""
    if isinstance(ca, str):
        ca = ca.encode()
    if not ca:
        raise ValueError("no CA certificate")
    if b"-----" not in ca and ca[0] != 0x30:    # neither PEM nor DER (an ASN.1 SEQUENCE)
        if b"\n" in ca or len(ca) > 255:
            raise ValueError("not PEM, DER or a file name")
        try:
            with open(ca.decode(), "rb") as f:
                ca = f.read()
        except OSError as e:
            raise ValueError("cannot read " + ca.decode() + ": " + str(e))
        if not ca or (b"-----" not in ca and ca[0] != 0x30):
            raise ValueError("file holds neither PEM nor DER")
    if b"-----" not in ca:
        return [ca]
    import binascii
    out = []
    while True:
        a = ca.find(b"-----BEGIN CERTIFICATE-----")
        if a < 0:
            break
        b = ca.find(b"-----END CERTIFICATE-----", a)
        if b < 0:
            raise ValueError("unterminated PEM certificate")
        out.append(binascii.a2b_base64(ca[a + 27:b].replace(b"\r", b"").replace(b"\n", b"")))
        ca = ca[b + 25:]
    if not out:
        raise ValueError("no CERTIFICATE in the PEM")
    return out


def der(ca):
    """The one certificate in `ca` as DER: what ssl.wrap_socket(cadata=) takes (umqtt.simple
    before 1.4 hands it its ssl_params), which loads a single one."""
    got = ders(ca)
    if len(got) != 1:
        raise ValueError("one CA certificate expected, " + str(len(got)) + " given")
    return got[0]


def load(ctx, ca, native=False):
    """Trust `ca` in an SSLContext, one DER certificate a call (native: the tls module's own
    context, whose method takes no keywords). ValueError when the runtime refuses one."""
    for d in ders(ca):
        try:
            if native:
                ctx.load_verify_locations(d)
            else:
                ctx.load_verify_locations(cadata=d)
        except Exception as e:      # ValueError on MicroPython, ssl.SSLError on CPython
            raise ValueError("not a usable CA certificate: " + str(e))
