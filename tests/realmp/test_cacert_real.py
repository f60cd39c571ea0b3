"""usmtp.cacert on the real MicroPython unix port (mbedTLS): a CA given as PEM text, PEM bytes, DER,
or the path of a PEM or DER file loads into a real SSLContext, and der() gives what the real
ssl.wrap_socket(cadata=) takes, where PEM is refused with ValueError('invalid cert')."""
import json
import os
import ssl
import subprocess

from peers.certs import TestCA
from realboard import MICROPYTHON, ROOT, require_runtime

SCRIPT = r"""
import ssl, json
from usmtp import cacert
pem = open('ca.pem', 'rb').read()
out = {}
for name, ca in (('pem-text', pem.decode()), ('pem-bytes', pem), ('der', open('ca.der', 'rb').read()),
                 ('pem-file', 'ca.pem'), ('der-file', 'ca.der'), ('bundle-file', 'bundle.pem')):
    try:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cacert.load(ctx, ca)
        out[name] = len(cacert.ders(ca))
    except Exception as e:
        out[name] = repr(e)
def wrap(cadata):
    import socket
    s = socket.socket()
    try:
        ssl.wrap_socket(s, cadata=cadata, do_handshake=False)
        return 'ok'
    except Exception as e:
        return repr(e)
    finally:
        s.close()
out['wrap-der'] = wrap(cacert.der('ca.pem'))
out['wrap-pem'] = wrap(pem)
print('RESULT ' + json.dumps(out))
"""


def test_every_form_of_a_ca_loads_on_mbedtls(tmp_path):
    require_runtime()
    a, b = TestCA(), TestCA()
    (tmp_path / "ca.pem").write_bytes(a.ca_pem)
    (tmp_path / "ca.der").write_bytes(ssl.PEM_cert_to_DER_cert(a.ca_pem.decode()))
    (tmp_path / "bundle.pem").write_bytes(a.ca_pem + b.ca_pem)
    env = dict(os.environ, MICROPYPATH=":.frozen:" + os.path.join(ROOT, "lib"))
    r = subprocess.run([MICROPYTHON, "-c", SCRIPT], cwd=str(tmp_path), env=env,
                       capture_output=True, text=True, timeout=60)
    lines = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, r.stdout + r.stderr
    got = json.loads(lines[-1][7:])
    assert got == {"pem-text": 1, "pem-bytes": 1, "der": 1, "pem-file": 1, "der-file": 1,
                   "bundle-file": 2, "wrap-der": "ok",
                   "wrap-pem": "ValueError('invalid cert',)"}, got
