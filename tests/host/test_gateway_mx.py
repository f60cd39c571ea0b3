# Direct delivery (relay.delivery = "mx") with a DNS server on loopback: MX preference with
# fallback to the next exchanger, null MX dead-lettered, DKIM signatures that verify.
import base64
import json

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from dns_peer import DnsServer
from gateway_helpers import make_cfg, record
from outpost_gateway.clock import ManualClock
from outpost_gateway.metrics import Metrics
from outpost_gateway.relay import Relay
from outpost_gateway.spool import Alert, Spool
from peers.smtpd import MailServer


def rsa_key(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path = tmp_path / "dkim.pem"
    path.write_bytes(pem)
    pub = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return str(path), b"v=DKIM1; k=rsa; p=" + base64.b64encode(pub)


def test_direct_delivery_with_dkim(tmp_path):
    key_file, txt = rsa_key(tmp_path)
    with MailServer() as up:
        zone = {
            ("example.net.", "MX"): ["10 mx1.example.net.", "20 mx2.example.net."],
            ("mx1.example.net.", "A"): ["127.0.0.2"],      # nothing listens there: refused
            ("mx2.example.net.", "A"): ["127.0.0.1"],
            ("nomail.example.", "MX"): ["0 ."],
        }
        with DnsServer(zone) as dns_srv:
            cfg = make_cfg(tmp_path, relay={
                "delivery": "mx", "host": "", "port": up.port, "mode": "opportunistic",
                "mx_resolver": "127.0.0.1:%d" % dns_srv.port, "dkim_key_file": key_file,
                "dkim_selector": "sel1", "dkim_domain": "example.org", "timeout": 5.0})
            clock = ManualClock()
            spool = Spool(str(tmp_path / "s.db"), clock).open()
            for i, rc in enumerate((["a@example.net"], ["b@example.net"], ["c@nomail.example"])):
                rec = record(device="mx", seq=i)
                spool.write([Alert(rec["id"], "mx", "warning", rec["kind"], rec["subject"], "t",
                                   json.dumps(rec).encode(), rc)])
            relay = Relay(cfg, spool, Metrics(), clock)
            relay.run_once()
            msgs = up.wait_for(2)
            assert ("example.net.", "MX") in dns_srv.queries
            assert ("mx1.example.net.", "A") in dns_srv.queries     # tried first, in preference order
    assert sorted(m.rcpt_tos[0] for m in msgs) == ["a@example.net", "b@example.net"]
    for m in msgs:
        assert m.data.startswith(b"DKIM-Signature:")
        assert dkim.verify(m.data, dnsfunc=lambda name, timeout=5: txt if name == b"sel1._domainkey.example.org." else None)
    # tampering breaks the signature: the check above is real
    bad = msgs[0].data.replace(b"\r\nSubject: ", b"\r\nSubject: re: ", 1)
    assert bad != msgs[0].data
    assert not dkim.verify(bad, dnsfunc=lambda name, timeout=5: txt)
    dead = spool.dead()
    assert [d["rcpt"] for d in dead] == ["c@nomail.example"] and "null MX" in dead[0]["reply"]
    assert spool.counts()["ready"] == 1     # the owner's dead-letter notice waits for its turn
