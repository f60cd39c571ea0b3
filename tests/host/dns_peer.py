# A small authoritative DNS server on 127.0.0.1 (UDP, free port) answering from a table, for
# the direct-delivery tests: zone = {("name.", "MX"): ["10 mx.name."], ("mx.name.", "A"): [...]}
import socket
import threading

import dns.message
import dns.rcode
import dns.rrset


class DnsServer:
    def __init__(self, zone):
        self.zone = dict(zone)
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)
        self.sock.close()

    def _run(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data)
            r = dns.message.make_response(q)
            qq = q.question[0]
            name = qq.name.to_text()
            rtype = dns.rdatatype.to_text(qq.rdtype)
            self.queries.append((name, rtype))
            answers = self.zone.get((name, rtype))
            if answers:
                r.answer.append(dns.rrset.from_text_list(name, 60, "IN", rtype, answers))
            elif not any(k[0] == name for k in self.zone):
                r.set_rcode(dns.rcode.NXDOMAIN)
            self.sock.sendto(r.to_wire(), peer)
