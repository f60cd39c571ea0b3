"""tools/ca_fetch.py (`make ca`) against a real SMTP server on loopback (aiosmtpd) whose
certificate chain (leaf <- intermediate <- root, trustme) verifies only through a temporary
trust store: it must write the root, never the intermediate or an unrelated CA."""
import os
import ssl
import subprocess
import sys

import pytest
import trustme

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import ca_fetch  # noqa: E402
from peers.smtpd import MailServer  # noqa: E402


class ChainCA:
    """A root, an intermediate under it, and a leaf from the intermediate sent with its chain."""

    def __init__(self):
        self.root = trustme.CA(organization_name="Outpost Test Root")
        self.mid = self.root.create_child_ca()

    @property
    def ca_pem(self):
        return self.root.cert_pem.bytes()

    def server_context(self, hostname="localhost", *more):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.mid.issue_cert(hostname, *more).configure_cert(ctx)   # leaf + intermediate
        return ctx

    def client_context(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.root.configure_trust(ctx)
        return ctx


def der(pem):
    return ssl.PEM_cert_to_DER_cert(pem.decode() if isinstance(pem, bytes) else pem)


@pytest.fixture
def chain():
    return ChainCA()


@pytest.fixture
def store(tmp_path, chain):
    # a trust store holding unrelated CAs and the root, not the intermediate
    path = tmp_path / "store.pem"
    others = [trustme.CA().cert_pem.bytes() for _ in range(2)]
    path.write_bytes(others[0] + chain.ca_pem + others[1])
    return str(path)


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ca_fetch.py")] + list(args),
                          capture_output=True, text=True, timeout=120, env=e)


def test_starttls_writes_the_root_and_prints_subject_and_expiry(tmp_path, chain, store):
    out = tmp_path / "fw" / "ca.pem"
    with MailServer(tls="starttls", ca=chain) as srv:
        r = run("localhost", str(srv.port), "--mode", "starttls", "--cafile", store, "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert der(out.read_text()) == der(chain.ca_pem)          # the root, not the intermediate
    assert der(out.read_text()) != der(chain.mid.cert_pem.bytes())
    assert "subject: " in r.stdout and "Outpost Test Root" in r.stdout
    assert "expires: " in r.stdout and "days from now" in r.stdout
    # the chain it verified: leaf, intermediate, root
    assert r.stdout.count("\n  0 ") == 1 and "\n  2 " in r.stdout


def test_implicit_tls_and_the_store_from_ssl_cert_file(tmp_path, chain, store):
    out = tmp_path / "ca.pem"
    with MailServer(tls="implicit", ca=chain) as srv:
        r = run("localhost", str(srv.port), "--mode", "tls", "--out", str(out),
                env={"SSL_CERT_FILE": store, "SSL_CERT_DIR": str(tmp_path / "none")})
    assert r.returncode == 0, r.stderr
    assert der(out.read_text()) == der(chain.ca_pem)


def test_a_chain_the_store_cannot_verify_writes_nothing(tmp_path, chain):
    out = tmp_path / "ca.pem"
    other = tmp_path / "other.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    with MailServer(tls="starttls", ca=chain) as srv:
        r = run("localhost", str(srv.port), "--cafile", str(other), "--out", str(out))
    assert r.returncode == 2
    assert "does not verify against this computer's trust store" in r.stderr
    assert not out.exists()


def test_a_server_without_starttls_is_named(tmp_path, store):
    with MailServer(tls="none") as srv:
        r = run("localhost", str(srv.port), "--cafile", store, "--out", str(tmp_path / "ca.pem"))
    assert r.returncode == 2 and "does not offer STARTTLS" in r.stderr
    assert not (tmp_path / "ca.pem").exists()


def test_nothing_listening(tmp_path, store):
    from peers.ports import free_port
    r = run("127.0.0.1", str(free_port()), "--cafile", store, "--out", str(tmp_path / "ca.pem"),
            "--timeout", "5")
    assert r.returncode == 2 and "cannot connect" in r.stderr


def test_mode_follows_the_port():
    assert ca_fetch.mode_for(465) == "tls"
    assert ca_fetch.mode_for(587) == "starttls"
    assert ca_fetch.mode_for(25) == "starttls"
    assert ca_fetch.mode_for(2525, "tls") == "tls"


def test_make_ca_runs_the_tool(tmp_path, chain, store):
    out = tmp_path / "ca.pem"
    with MailServer(tls="starttls", ca=chain) as srv:
        r = subprocess.run(["make", "-s", "ca", "HOST=localhost", "PORT=%d" % srv.port,
                            "CA_OUT=" + str(out), "CAFILE=" + store],
                           cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert der(out.read_text()) == der(chain.ca_pem)


def test_make_ca_without_host_says_how():
    r = subprocess.run(["make", "-s", "ca"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "HOST=" in r.stdout + r.stderr
