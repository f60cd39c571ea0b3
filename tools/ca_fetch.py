"""Find the root CA certificate that verifies a mail server, for the board's `smtp.ca`.

    make ca HOST=smtp.gmail.com PORT=465
    python tools/ca_fetch.py smtp.gmail.com 465 [--out firmware/ca.pem] [--cafile F | --capath D]

Connects with implicit TLS (port 465, or --mode tls) or STARTTLS (any other port, or --mode
starttls), verifies the server's certificate chain against this computer's trust store (the
system's; SSL_CERT_FILE / SSL_CERT_DIR, --cafile or --capath replace it), and writes the root
the chain ends in, the one certificate the board needs, as PEM. Prints its subject and expiry.
A chain that does not verify writes nothing: the board would refuse that server too.
"""
import argparse
import datetime
import os
import smtplib
import socket
import ssl
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join("firmware", "ca.pem")


class CAError(Exception):
    pass


def context(cafile=None, capath=None):
    ctx = ssl.create_default_context(cafile=cafile, capath=capath)
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def mode_for(port, mode=None):
    if mode:
        return mode
    return "tls" if port == 465 else "starttls"


def connect(host, port, mode, ctx, timeout):
    """An SMTP session whose socket is TLS, verified against ctx (raises CAError with why not)."""
    try:
        if mode == "tls":
            s = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ctx)
        else:
            s = smtplib.SMTP(host, port, timeout=timeout)
            s.ehlo()
            if not s.has_extn("starttls"):
                s.close()
                raise CAError("%s:%d does not offer STARTTLS; for implicit TLS use port 465 "
                              "(or --mode tls)" % (host, port))
            s.starttls(context=ctx)
    except ssl.SSLCertVerificationError as e:
        raise CAError("%s:%d: the server's certificate does not verify against this computer's "
                      "trust store (%s). The board would refuse it too; check the host name, or "
                      "give the CA with --cafile." % (host, port, e.verify_message or e))
    except ssl.SSLError as e:
        raise CAError("%s:%d: TLS failed (%s). Port 465 is implicit TLS, 587 STARTTLS: is the "
                      "mode right? (--mode)" % (host, port, e))
    except (socket.timeout, TimeoutError):
        raise CAError("%s:%d: no answer within %g s" % (host, port, timeout))
    except smtplib.SMTPException as e:
        raise CAError("%s:%d: SMTP: %s" % (host, port, e))
    except OSError as e:
        raise CAError("%s:%d: cannot connect (%s)" % (host, port, e.strerror or e))
    return s


def _der(cert):
    if isinstance(cert, (bytes, bytearray)):
        return bytes(cert)
    return cert.public_bytes(ssl._ssl.ENCODING_DER)


def verified_chain(sock, ctx):
    """The chain as the TLS library verified it, leaf first, root last, as DER."""
    if hasattr(sock, "get_verified_chain"):             # Python 3.13+
        return [_der(c) for c in sock.get_verified_chain()]
    obj = getattr(sock, "_sslobj", None)
    if obj is not None and hasattr(obj, "get_verified_chain"):     # 3.10 - 3.12
        return [_der(c) for c in obj.get_verified_chain()]
    return None


def root_by_trial(host, port, mode, ctx_args, timeout):
    # Python < 3.10: no verified chain to read; try each trusted CA alone until one verifies
    for der in context(**ctx_args).get_ca_certs(binary_form=True):
        pem = ssl.DER_cert_to_PEM_cert(der)
        ctx = ssl.create_default_context(cadata=pem)
        try:
            connect(host, port, mode, ctx, timeout).quit()
        except CAError:
            continue
        return der
    raise CAError("no single CA of the trust store verifies %s:%d" % (host, port))


def describe(der):
    """(subject, issuer, not_after datetime) of a DER certificate."""
    with tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False) as f:
        f.write(ssl.DER_cert_to_PEM_cert(der))
    try:
        info = ssl._ssl._test_decode_cert(f.name)
    finally:
        os.unlink(f.name)

    def name(rdns):
        return ", ".join("%s=%s" % kv for rdn in rdns for kv in rdn)

    expires = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(info["notAfter"]),
                                              datetime.timezone.utc)
    return name(info["subject"]), name(info["issuer"]), expires


def fetch(host, port, mode=None, cafile=None, capath=None, timeout=20):
    """-> (root DER, [chain subjects]) for host:port verified against the trust store."""
    mode = mode_for(port, mode)
    ctx_args = {"cafile": cafile, "capath": capath}
    s = connect(host, port, mode, context(**ctx_args), timeout)
    try:
        chain = verified_chain(s.sock, None)
    finally:
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            s.close()
    if chain is None:
        root = root_by_trial(host, port, mode, ctx_args, timeout)
        return root, [describe(root)[0]]
    return chain[-1], [describe(c)[0] for c in chain]


def write_pem(der, out):
    pem = ssl.DER_cert_to_PEM_cert(der)
    d = os.path.dirname(os.path.abspath(out))
    os.makedirs(d, exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        f.write(pem)
    os.replace(tmp, out)
    return pem


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int, nargs="?", default=587)
    ap.add_argument("--mode", choices=("tls", "starttls"),
                    help="default: tls for port 465, starttls otherwise")
    ap.add_argument("--out", default=DEFAULT_OUT, help="default: " + DEFAULT_OUT)
    ap.add_argument("--cafile", help="trust these CAs instead of the system store")
    ap.add_argument("--capath", help="trust this folder of CAs (c_rehash'ed) instead")
    ap.add_argument("--timeout", type=float, default=20)
    a = ap.parse_args(argv)
    if not a.host or a.host.startswith("-"):
        ap.error("HOST= is required, e.g. make ca HOST=smtp.gmail.com PORT=465")
    if not 0 < a.port < 65536:
        ap.error("PORT must be 1-65535 (465 implicit TLS, 587 STARTTLS)")
    try:
        root, subjects = fetch(a.host, a.port, a.mode, a.cafile, a.capath, a.timeout)
    except CAError as e:
        print("ca: " + str(e), file=sys.stderr)
        return 2
    write_pem(root, a.out)
    subject, issuer, expires = describe(root)
    days = (expires - datetime.datetime.now(datetime.timezone.utc)).days
    print("%s:%d (%s) chain:" % (a.host, a.port, mode_for(a.port, a.mode)))
    for i, s in enumerate(subjects):
        print("  %d %s" % (i, s))
    print("wrote %s: the root that verifies it" % a.out)
    print("  subject: %s" % subject)
    print("  expires: %s (%d days from now)" % (expires.strftime("%Y-%m-%d"), days))
    if days < 365:
        print("  note: it expires within a year; run make ca again before then")
    print('In firmware/config_local.py: "smtp": {..., "ca": "ca.pem"}; make deploy copies it.')
    return 0


if __name__ == "__main__":
    sys.exit(main())
