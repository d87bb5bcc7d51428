"""test_dnstest.py - checks the test DNS server (tests/tools/dnstest.py and
dns_server.py) with dnslib's own client, so the other integration tests can
trust the answers it gives."""
import os
import socket
import subprocess
import sys
import time

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

TOOLS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools")
sys.path.insert(0, TOOLS)
from dnstest import DnsServer  # noqa: E402

ZONE = """$ORIGIN example.test.
$TTL 300
@           IN SOA ns1 hostmaster 1 3600 600 86400 60
@           IN NS  ns1
@           IN MX  20 mx2
@           IN MX  10 mx1
@           IN TXT "v=spf1 " "ip4:192.0.2.0/24 -all"
mx1         IN A    192.0.2.1
mx1         IN AAAA 2001:db8::1
mx2         IN A    192.0.2.2
www         IN CNAME web
web         IN CNAME host.other.test.
host.other.test. 60 IN A 192.0.2.80
loop1       IN CNAME loop2
loop2       IN CNAME loop1
spf         IN SPF "v=spf1 -all"
_25._tcp.mx1 IN TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
1.2.0.192.in-addr.arpa. IN PTR mx1.example.test.
"""

LONG = "v=spf1 " + " ".join("ip4:198.51.100.%d" % i for i in range(40)) + " -all"


def ask(server, name, qtype="A", tcp=False, edns=True, timeout=3):
    q = DNSRecord.question(name, qtype)
    if edns:
        q.add_ar(EDNS0(udp_len=1232))
    raw = q.send(server.host, server.port, tcp=tcp, timeout=timeout)
    return DNSRecord.parse(raw)


@pytest.fixture
def dns():
    with DnsServer(ZONE) as server:
        yield server


def test_basic_types(dns):
    r = ask(dns, "mx1.example.test", "A")
    assert r.header.rcode == RCODE.NOERROR and r.header.ra == 1 and r.header.qr == 1
    assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.1"]
    assert r.rr[0].ttl == 300
    r = ask(dns, "mx1.example.test", "AAAA")
    assert [str(rr.rdata) for rr in r.rr] == ["2001:db8::1"]
    r = ask(dns, "example.test", "MX")
    assert sorted((rr.rdata.preference, str(rr.rdata.label)) for rr in r.rr) == \
        [(10, "mx1.example.test."), (20, "mx2.example.test.")]
    r = ask(dns, "example.test", "TXT")
    assert r.rr[0].rdata.data == [b"v=spf1 ", b"ip4:192.0.2.0/24 -all"]
    r = ask(dns, "spf.example.test", "SPF")
    assert r.rr[0].rtype == 99 and r.rr[0].rdata.data == [b"v=spf1 -all"]
    r = ask(dns, "_25._tcp.mx1.example.test", "TLSA")
    t = r.rr[0].rdata
    assert (t.cert_usage, t.selector, t.matching_type) == (3, 1, 1)
    assert t.cert_data == bytes.fromhex("0123456789abcdef" * 4)
    r = ask(dns, "1.2.0.192.in-addr.arpa", "PTR")
    assert str(r.rr[0].rdata) == "mx1.example.test."
    r = ask(dns, "example.test", "SOA")
    assert r.rr[0].rtype == QTYPE.SOA
    r = ask(dns, "example.test", "NS")
    assert str(r.rr[0].rdata) == "ns1.example.test."


def test_case_insensitive(dns):
    r = ask(dns, "MX1.Example.TEST", "A")
    assert [str(rr.rdata) for rr in r.rr] == ["192.0.2.1"]
    assert str(r.rr[0].rname) == "MX1.Example.TEST."


def test_nxdomain_and_nodata(dns):
    r = ask(dns, "nothing.example.test", "A")
    assert r.header.rcode == RCODE.NXDOMAIN and not r.rr
    assert r.auth and r.auth[0].rtype == QTYPE.SOA and str(r.auth[0].rname) == "example.test."
    r = ask(dns, "mx2.example.test", "AAAA")
    assert r.header.rcode == RCODE.NOERROR and not r.rr
    assert r.auth[0].rtype == QTYPE.SOA
    # a name that only has names below it exists (empty non-terminal)
    r = ask(dns, "_tcp.mx1.example.test", "TLSA")
    assert r.header.rcode == RCODE.NOERROR and not r.rr
    r = ask(dns, "in-addr.arpa", "PTR")
    assert r.header.rcode == RCODE.NOERROR and not r.rr
    # outside any SOA in the data: a made-up one for the parent, TTL 0
    r = ask(dns, "nowhere.invalid", "A")
    assert r.header.rcode == RCODE.NXDOMAIN and r.auth[0].ttl == 0


def test_cname_chain(dns):
    r = ask(dns, "www.example.test", "A")
    assert [rr.rtype for rr in r.rr] == [QTYPE.CNAME, QTYPE.CNAME, QTYPE.A]
    assert str(r.rr[-1].rdata) == "192.0.2.80" and str(r.rr[-1].rname) == "host.other.test."
    r = ask(dns, "www.example.test", "CNAME")
    assert [rr.rtype for rr in r.rr] == [QTYPE.CNAME]
    r = ask(dns, "loop1.example.test", "A")  # a loop ends, it does not hang
    assert r.header.rcode == RCODE.NOERROR and len(r.rr) == 2


def test_long_txt_udp_tcp_and_truncation(dns):
    dns.add('long.example.test. 60 IN TXT "%s"' % LONG)
    dns.add('multi.example.test. 60 IN TXT "a" "" "b c"')
    for tcp in (False, True):
        r = ask(dns, "long.example.test", "TXT", tcp=tcp)
        data = r.rr[0].rdata.data
        assert all(len(s) <= 255 for s in data) and len(data) == (len(LONG) + 254) // 255
        assert b"".join(data).decode() == LONG
        r = ask(dns, "multi.example.test", "TXT", tcp=tcp)
        assert r.rr[0].rdata.data == [b"a", b"", b"b c"]
    for i in range(6):
        dns.add('big.example.test. 60 IN TXT "%d%s"' % (i, "x" * 200))
    r = ask(dns, "big.example.test", "TXT", edns=False)  # > 512 bytes without EDNS
    assert r.header.tc == 1 and not r.rr
    r = ask(dns, "big.example.test", "TXT", tcp=True, edns=False)
    assert r.header.tc == 0 and len(r.rr) == 6


def test_runtime_changes(dns):
    assert ask(dns, "new.example.test").header.rcode == RCODE.NXDOMAIN
    dns.add("new.example.test. 0 IN A 192.0.2.9")
    assert [str(rr.rdata) for rr in ask(dns, "new.example.test").rr] == ["192.0.2.9"]
    dns.add("new.example.test. 0 IN MX 5 mx1.example.test.")
    dns.remove("new.example.test", "A")
    r = ask(dns, "new.example.test")
    assert r.header.rcode == RCODE.NOERROR and not r.rr  # NODATA: the MX is left
    dns.remove("NEW.example.test")
    assert ask(dns, "new.example.test").header.rcode == RCODE.NXDOMAIN
    dns.clear()
    assert ask(dns, "mx1.example.test").header.rcode == RCODE.NXDOMAIN
    assert ("mx1.example.test.", "A", "udp") in dns.queries


def test_servfail_and_timeout(dns):
    dns.set_servfail("mx1.example.test")
    assert ask(dns, "mx1.example.test").header.rcode == RCODE.SERVFAIL
    dns.set_timeout("mx2.example.test", "A")
    with pytest.raises(socket.timeout):
        ask(dns, "mx2.example.test", "A", timeout=0.5)
    assert ask(dns, "mx2.example.test", "MX").header.rcode == RCODE.NOERROR
    dns.clear_behaviour("mx1.example.test")
    assert [str(rr.rdata) for rr in ask(dns, "mx1.example.test").rr] == ["192.0.2.1"]


def test_garbage_gets_formerr_or_nothing(dns):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(b"\x12\x34" + b"\x01\x00" + b"\x00\x01" + b"\xff" * 20, dns.address)
    data, _ = s.recvfrom(4096)
    s.close()
    r = DNSRecord.parse(data)
    assert r.header.id == 0x1234 and r.header.rcode == RCODE.FORMERR
    assert ask(dns, "mx1.example.test").header.rcode == RCODE.NOERROR  # still serving


def test_ipv6_loopback():
    try:
        server = DnsServer("v6.example.test. IN A 192.0.2.6", host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        q = DNSRecord.question("v6.example.test")
        r = DNSRecord.parse(q.send("::1", server.port, ipv6=True, timeout=3))
        assert str(r.rr[0].rdata) == "192.0.2.6"
    finally:
        server.stop()


def test_command_line(tmp_path):
    zone = tmp_path / "zone"
    zone.write_text(ZONE)
    script = os.path.join(TOOLS, "dns_server.py")
    p = subprocess.Popen(["/usr/bin/python3", script, "--zone", str(zone),
                          "--servfail", "mx2.example.test/A"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline().split()
        assert first[0] == "PORT"
        port = int(first[1])

        class S:
            host = "127.0.0.1"
        S.port = port
        assert ask(S, "mx1.example.test").rr[0].rdata.__str__() == "192.0.2.1"
        assert ask(S, "mx2.example.test").header.rcode == RCODE.SERVFAIL
        p.stdin.write("add cli.example.test. 0 IN A 192.0.2.77\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "OK"
        assert str(ask(S, "cli.example.test").rr[0].rdata) == "192.0.2.77"
        p.stdin.write("timeout cli.example.test\nbogus\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "OK"
        assert p.stdout.readline().startswith("ERR")
        with pytest.raises(socket.timeout):
            ask(S, "cli.example.test", timeout=0.5)
        p.stdin.close()  # closing stdin stops the server
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_command_line_sigterm(tmp_path):
    zone = tmp_path / "zone"
    zone.write_text("a.test. IN A 127.0.0.2\n")
    script = os.path.join(TOOLS, "dns_server.py")
    p = subprocess.Popen(["/usr/bin/python3", script, "--zone", str(zone), "--no-stdin"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().startswith("PORT ")
        time.sleep(0.2)
        assert p.poll() is None  # closed stdin is ignored with --no-stdin
        p.terminate()
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
