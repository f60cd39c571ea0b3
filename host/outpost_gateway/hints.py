# What an upstream failure means for the person fixing it: the config key to look at and the
# usual fix. Used by send-test and by the relay's "cannot send mail" notice.
#
# A certificate that fails verification cannot be read from the failed handshake, so
# presented() connects once more without verifying, only to read the certificate's subject
# and issuer (nothing is sent over that connection but EHLO and STARTTLS).
import smtplib
import socket
import ssl

from usmtp.errors import SMTPAuthError, SMTPTLSError

CA_KEY = "relay.ca"

OID_NAMES = {b"\x55\x04\x03": "CN", b"\x55\x04\x0a": "O", b"\x55\x04\x0b": "OU", b"\x55\x04\x06": "C"}


def explain(e, r, probe=True):
    # -> a sentence or two naming the config key and the fix, or "" when there is none to give
    if isinstance(e, SMTPAuthError) and getattr(e, "code", None) in (535, 534, 530):
        return ("the upstream refused the login: check relay.username and relay.password. Gmail and "
                "Microsoft 365 refuse the account password when two-step sign-in is on: use an app "
                "password, or relay.oauth2_token instead.")
    if isinstance(e, SMTPTLSError) and "certificate" in str(e).lower():
        v = r.get(CA_KEY.split(".", 1)[1])
        if not v:
            where = "the system's CA store (%s is empty)" % CA_KEY
        elif isinstance(v, str) and "-----BEGIN" not in v:
            where = "%s = %r" % (CA_KEY, v)
        else:
            where = "the PEM pasted into " + CA_KEY
        seen = ""
        if probe:
            try:
                subject, issuer = presented(r["host"], r["port"], r["mode"], min(r["timeout"], 10.0))
                seen = " The server presented a certificate for %s, issued by %s." % (subject, issuer)
            except (OSError, smtplib.SMTPException, ValueError) as pe:
                seen = " (Its certificate could not be read: %s.)" % pe
        if "mismatch" in str(e).lower() or "doesn't match" in str(e):
            return ("the certificate is not for relay.host = %r: set relay.host to a name the certificate "
                    "carries.%s" % (r["host"], seen))
        return ("the upstream's certificate is not signed by a CA in %s.%s Set %s to the CA that issued "
                "it (a PEM file's path, or the PEM pasted), or fix relay.host if this is not your provider's "
                "server." % (where, seen, CA_KEY))
    return ""


def presented(host, port, security, timeout):
    # -> (subject, issuer) of the certificate the server presents, unverified (only to show it)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    port = port or (465 if security == "tls" else 587)
    if security == "tls":
        with socket.create_connection((host, port), timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                der = s.getpeercert(True)
    else:
        s = smtplib.SMTP(host, port, timeout=timeout)
        try:
            s.starttls(context=ctx)
            der = s.sock.getpeercert(True)
        finally:
            s.close()
    return names(der)


def _tlv(b, i):
    # one DER element at i -> (tag, start of content, end of content)
    tag = b[i]
    n = b[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[i:i + k], "big")
        i += k
    if i + n > len(b):
        raise ValueError("truncated certificate")
    return tag, i, i + n


def _children(b, start, end):
    out = []
    while start < end:
        t, s, e = _tlv(b, start)
        out.append((t, s, e))
        start = e
    return out


def _name(b, s, e):
    parts = []
    for _, rs, re_ in _children(b, s, e):               # SET of
        for _, as_, ae in _children(b, rs, re_):        # SEQUENCE { OID, value }
            (ot, os_, oe), (vt, vs, ve) = _children(b, as_, ae)[:2]
            key = OID_NAMES.get(bytes(b[os_:oe]))
            if key:
                parts.append("%s=%s" % (key, bytes(b[vs:ve]).decode("utf-8", "replace")))
    return ", ".join(parts) or "(no name)"


def names(der):
    # (subject, issuer) of a DER certificate, as "CN=..., O=..."
    _, s, e = _tlv(der, 0)                       # Certificate
    _, s, e = _children(der, s, e)[0]            # tbsCertificate
    fields = _children(der, s, e)
    if fields[0][0] == 0xa0:                     # [0] version
        fields = fields[1:]
    # serial, signature algorithm, issuer, validity, subject
    issuer, subject = fields[2], fields[4]
    return _name(der, subject[1], subject[2]), _name(der, issuer[1], issuer[2])
