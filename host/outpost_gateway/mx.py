# Direct delivery lookups (the only module that imports dnspython): the mail exchangers of a
# recipient domain, best preference first; the domain itself when it has no MX (RFC 5321
# 5.1 implicit MX); an error for a null MX ("." : the domain accepts no mail, RFC 7505).
import dns.exception
import dns.resolver


class NoMailDomain(Exception):
    # the domain says it takes no mail, or does not exist: permanent
    pass


class LookupFailed(Exception):
    # DNS did not answer: try again later
    pass


def resolver(server=""):
    # server: "" for the system resolver, or "host" / "host:port" (tests, a local unbound)
    if not server:
        return dns.resolver.Resolver()
    host, _, port = server.partition(":")
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [host]
    r.port = int(port or 53)
    r.lifetime = 10.0
    return r


def mail_hosts(domain, res):
    try:
        ans = res.resolve(domain, "MX")
    except dns.resolver.NXDOMAIN:
        raise NoMailDomain("domain %s does not exist" % domain)
    except dns.resolver.NoAnswer:
        return [domain]
    except dns.exception.DNSException as e:
        raise LookupFailed("MX lookup for %s failed: %s" % (domain, e))
    recs = sorted(ans, key=lambda r: r.preference)
    hosts = [r.exchange.to_text(omit_final_dot=True) for r in recs]
    if hosts == [""] or hosts == ["."]:
        raise NoMailDomain("domain %s publishes a null MX: it accepts no mail" % domain)
    return hosts


def address(host, res):
    # the IPv4 address of a mail host, looked up through the same resolver
    try:
        return res.resolve(host, "A")[0].to_text()
    except dns.exception.DNSException as e:
        raise LookupFailed("address lookup for %s failed: %s" % (host, e))
