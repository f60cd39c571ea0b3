"""A throw-away certificate authority and a server certificate for the demo's mail catcher, made
with the `openssl` command (on Raspberry Pi OS, Debian and macOS out of the box), so `make demo`
needs no compiled Python package: the `cryptography` wheels that trustme needs do not exist for
a 32-bit Raspberry Pi. Valid for a day, for localhost and 127.0.0.1 only."""
import os
import shutil
import subprocess
import tempfile

CONF = """[req]
distinguished_name = dn
prompt = no
[dn]
CN = %(cn)s
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
"""


def _openssl(args, folder):
    exe = shutil.which("openssl")
    if exe is None:
        raise SystemExit("make demo needs the openssl command (Debian: sudo apt-get install openssl)")
    subprocess.run([exe] + args, cwd=folder, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make(folder=None):
    """-> (ca_pem bytes, server cert file, server key file) in folder (a new temp folder if None)."""
    folder = folder or tempfile.mkdtemp(prefix="outpost-demo-ca-")
    for name, cn in (("ca.cnf", "Outpost demo CA"), ("server.cnf", "localhost")):
        with open(os.path.join(folder, name), "w") as f:
            f.write(CONF % {"cn": cn})
    _openssl(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-config", "ca.cnf",
              "-extensions", "ca", "-keyout", "ca.key", "-out", "ca.pem"], folder)
    _openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-config", "server.cnf",
              "-keyout", "server.key", "-out", "server.csr"], folder)
    _openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
              "-set_serial", "2", "-days", "1", "-extfile", "server.cnf", "-extensions", "server",
              "-out", "server.pem"], folder)
    with open(os.path.join(folder, "ca.pem"), "rb") as f:
        ca = f.read()
    return ca, os.path.join(folder, "server.pem"), os.path.join(folder, "server.key")
