"""A throw-away certificate authority for TLS tests (trustme).

    ca = TestCA()
    server_ctx = ca.server_context("localhost")       # ssl.SSLContext for a server
    client_ctx = ca.client_context()                  # trusts only this CA
    ca.ca_pem / ca.ca_der                             # what a usmtp client gets as cadata=
    paths = ca.write_files(folder, "localhost")       # PEM files for processes (mosquitto)
"""
import os
import ssl

import trustme


class TestCA:
    """One CA; leaf certificates are issued on demand and cached per set of names."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self):
        self._ca = trustme.CA()
        self._leaves = {}

    @property
    def ca_pem(self):
        return self._ca.cert_pem.bytes()

    @property
    def ca_der(self):
        return ssl.PEM_cert_to_DER_cert(self.ca_pem.decode("ascii"))

    def leaf(self, hostname="localhost", *more_names):
        """The trustme LeafCert for these names (DNS names or IP addresses)."""
        names = (hostname,) + tuple(more_names)
        if names not in self._leaves:
            self._leaves[names] = self._ca.issue_cert(*names)
        return self._leaves[names]

    def server_context(self, hostname="localhost", *more_names):
        """An SSLContext presenting a certificate for hostname (and more_names)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.leaf(hostname, *more_names).configure_cert(ctx)
        return ctx

    def client_context(self):
        """A verifying client SSLContext that trusts this CA only."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self._ca.configure_trust(ctx)
        return ctx

    def write_files(self, folder, hostname="localhost", *more_names):
        """Writes ca.pem, <hostname>.crt (chain) and <hostname>.key; returns their paths as a dict."""
        leaf = self.leaf(hostname, *more_names)
        paths = {
            "ca": os.path.join(folder, "ca.pem"),
            "cert": os.path.join(folder, hostname + ".crt"),
            "key": os.path.join(folder, hostname + ".key"),
        }
        with open(paths["ca"], "wb") as f:
            f.write(self.ca_pem)
        with open(paths["cert"], "wb") as f:
            for blob in leaf.cert_chain_pems:
                f.write(blob.bytes())
        with open(paths["key"], "wb") as f:
            f.write(leaf.private_key_pem.bytes())
        os.chmod(paths["key"], 0o600)
        return paths


class WithCA:
    """For a peer that serves TLS: the CA given to it (self._ca), else one made when first asked for."""

    _ca = None

    @property
    def ca(self):
        if self._ca is None:
            self._ca = TestCA()
        return self._ca

    @property
    def ca_pem(self):
        """PEM bytes of the CA that signed the server certificate."""
        return self.ca.ca_pem
