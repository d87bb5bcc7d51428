"""dnstest.py - a small authoritative DNS server for tern's tests.

Used two ways: imported by the pytest integration tests
(`from dnstest import DnsServer`), and run as a command by the C++ unit tests
through dns_server.py. It answers from its own data for any zone it is given,
over UDP and TCP on loopback, and is queried by libunbound as a forwarder, so
it sets RA and answers "recursively": CNAME chains inside its data are
followed, names without data get NXDOMAIN, names with other types get NODATA.
Per-name behaviours let a test make a name time out or SERVFAIL.

Records are master-file text (dnslib's zone parser: $ORIGIN, $TTL, @,
relative names, parentheses, ';' comments). TXT and SPF strings longer than
255 bytes are split into 255-byte strings, so a long SPF record can be
written as one quoted string. The default TTL is 0 so that resolvers do not
cache answers a test changes between steps.

SECURITY: test tool only; binds loopback by default and trusts its input.
"""
import errno
import socket
import struct
import threading

from dnslib import (CLASS, DNSError, DNSHeader, DNSLabel, DNSRecord, EDNS0,
                    QTYPE, RCODE, RR, SOA, TXT)
from dnslib import dns as _dns

__all__ = ["DnsServer", "parse_zone"]


class _LongTXT(TXT):
    """TXT whose zone form may hold strings longer than 255 bytes: they are
    split into 255-byte pieces, as RFC 7208 3.3 expects for long SPF text."""

    def __init__(self, data):
        if isinstance(data, (tuple, list)):
            items = [x if isinstance(x, bytes) else str(x).encode() for x in data]
        else:
            items = [data if isinstance(data, bytes) else str(data).encode()]
        pieces = []
        for item in items:
            if not item:
                pieces.append(b"")
            for i in range(0, len(item), 255):
                pieces.append(item[i:i + 255])
        super().__init__(pieces)


# dnslib knows SPF (type 99) only as opaque hex; give it the TXT format.
_dns.RDMAP["TXT"] = _LongTXT
_dns.RDMAP["SPF"] = _LongTXT


def parse_zone(text, origin=None, ttl=0):
    """Master-file text to a list of dnslib RR (class IN)."""
    return list(RR.fromZone(text, origin=origin or "", ttl=ttl))


def _type_code(rtype):
    if rtype is None:
        return None
    if isinstance(rtype, int):
        return rtype
    return getattr(QTYPE, str(rtype).upper())


class DnsServer:
    """Authoritative-for-everything DNS server on loopback (UDP + TCP).

    with DnsServer("example.test. 300 IN A 192.0.2.1") as dns:
        resolver forwards to ("127.0.0.1", dns.port)
    """

    MAX_CNAME_CHAIN = 16

    def __init__(self, zone_text="", host="127.0.0.1", port=0, origin=None,
                 default_ttl=0, negative_ttl=0, edns_udp_size=1232):
        self.host = host
        self.port = port
        self.origin = origin
        self.default_ttl = default_ttl
        self.negative_ttl = negative_ttl
        self.edns_udp_size = edns_udp_size
        self._lock = threading.Lock()
        self._records = {}       # DNSLabel -> [RR]
        self._behaviour = {}     # (DNSLabel, type or None) -> "timeout" | "servfail"
        self.queries = []        # (name, type name, "udp"/"tcp"), in arrival order
        self._udp = None
        self._tcp = None
        self._threads = []
        self._stop = threading.Event()
        if zone_text:
            self.add(zone_text)

    # ---- data ------------------------------------------------------------
    def add(self, zone_text):
        """Add records from master-file text (one or more lines)."""
        rrs = parse_zone(zone_text, self.origin, self.default_ttl)
        with self._lock:
            for rr in rrs:
                if rr.rclass != CLASS.IN:
                    raise ValueError("only class IN is served: %r" % rr)
                self._records.setdefault(DNSLabel(rr.rname), []).append(rr)
        return rrs

    def add_records(self, rrs):
        """Add dnslib RR objects as they are (for data master-file text cannot
        express: names with spaces, TXT strings with control bytes, TXT records
        with no strings)."""
        with self._lock:
            for rr in rrs:
                if rr.rclass != CLASS.IN:
                    raise ValueError("only class IN is served: %r" % rr)
                self._records.setdefault(DNSLabel(rr.rname), []).append(rr)
        return rrs

    def remove(self, name, rtype=None):
        """Remove every record of name (of one type when rtype is given)."""
        key = DNSLabel(name)
        code = _type_code(rtype)
        with self._lock:
            rrs = self._records.get(key, [])
            keep = [] if code is None else [rr for rr in rrs if rr.rtype != code]
            if keep:
                self._records[key] = keep
            else:
                self._records.pop(key, None)

    def clear(self):
        """Forget all records and behaviours."""
        with self._lock:
            self._records.clear()
            self._behaviour.clear()

    def set_timeout(self, name, rtype=None):
        """Never answer queries for name (of one type when rtype is given)."""
        with self._lock:
            self._behaviour[(DNSLabel(name), _type_code(rtype))] = "timeout"

    def set_servfail(self, name, rtype=None):
        """Answer SERVFAIL for name (of one type when rtype is given)."""
        with self._lock:
            self._behaviour[(DNSLabel(name), _type_code(rtype))] = "servfail"

    def clear_behaviour(self, name, rtype=None):
        with self._lock:
            self._behaviour.pop((DNSLabel(name), _type_code(rtype)), None)

    def records(self, name):
        with self._lock:
            return list(self._records.get(DNSLabel(name), []))

    # ---- answering (pure: request in, reply or None out) --------------------
    def _behaviour_for(self, label, qtype):
        return self._behaviour.get((label, qtype)) or self._behaviour.get((label, None))

    def _negative_soa(self, qname):
        """The SOA of the closest enclosing zone in the data, else one made up
        for the parent of qname, both with the negative TTL."""
        label = DNSLabel(qname)
        parts = label.label
        for i in range(len(parts) + 1):
            zone = DNSLabel(parts[i:])
            for rr in self._records.get(zone, []):
                if rr.rtype == QTYPE.SOA:
                    return rr
        parent = DNSLabel(parts[1:]) if len(parts) > 1 else DNSLabel(".")
        n = self.negative_ttl
        return RR(parent, QTYPE.SOA, ttl=n,
                  rdata=SOA("ns.dnstest.invalid.", "hostmaster.dnstest.invalid.",
                            (1, 3600, 600, 86400, n)))

    def _has_below(self, label):
        n = len(label.label)
        return any(len(k.label) > n and k.matchSuffix(label) for k in self._records)

    def answer(self, request):
        """Build the reply DNSRecord for a parsed request, or None to stay silent."""
        reply = DNSRecord(DNSHeader(id=request.header.id, bitmap=request.header.bitmap,
                                    qr=1, aa=1, ra=1), q=request.q)
        reply.header.tc = 0
        reply.header.ad = 0  # never claim DNSSEC validation
        if request.header.opcode != 0:
            reply.header.rcode = RCODE.NOTIMP
            return reply
        if len(request.questions) != 1:
            reply.header.rcode = RCODE.FORMERR
            return reply
        q = request.q
        if q.qclass != CLASS.IN:
            reply.header.rcode = RCODE.REFUSED
            return reply
        with self._lock:
            qtype = q.qtype
            name = DNSLabel(q.qname)
            owner = q.qname  # first hop keeps the case the client asked with
            seen = set()
            for _ in range(self.MAX_CNAME_CHAIN):
                how = self._behaviour_for(name, qtype)
                if how == "timeout":
                    return None
                if how == "servfail":
                    reply.rr = []
                    reply.header.rcode = RCODE.SERVFAIL
                    return reply
                seen.add(name)
                rrs = self._records.get(name)
                if not rrs:
                    # an empty non-terminal (only names below it have data)
                    # exists: NODATA; RFC 8020 NXDOMAIN means nothing below
                    if not self._has_below(name):
                        reply.header.rcode = RCODE.NXDOMAIN
                    reply.add_auth(self._negative_soa(name))
                    return reply
                if qtype == QTYPE.ANY:
                    match = rrs
                else:
                    match = [rr for rr in rrs if rr.rtype == qtype]
                if match:
                    for rr in match:
                        reply.add_answer(RR(owner, rr.rtype, rr.rclass, rr.ttl, rr.rdata))
                    return reply
                cname = [rr for rr in rrs if rr.rtype == QTYPE.CNAME]
                if not cname or qtype == QTYPE.CNAME:
                    reply.add_auth(self._negative_soa(name))
                    return reply
                rr = cname[0]
                reply.add_answer(RR(owner, rr.rtype, rr.rclass, rr.ttl, rr.rdata))
                name = DNSLabel(rr.rdata.label)
                owner = rr.rdata.label
                if name in seen:
                    break  # CNAME loop: what we have is the answer
            return reply

    def handle(self, data, transport):
        """Raw query bytes in, raw reply bytes out (None: no reply)."""
        try:
            request = DNSRecord.parse(data)
        except (DNSError, Exception):
            if len(data) < 12:
                return None
            header = DNSHeader(id=struct.unpack("!H", data[:2])[0], qr=1, rcode=RCODE.FORMERR)
            return DNSRecord(header).pack()
        if request.header.qr:
            return None
        if request.questions:
            self.queries.append((str(request.q.qname), QTYPE.get(request.q.qtype),
                                 transport))
        reply = self.answer(request)
        if reply is None:
            return None
        limit = 65535
        edns = [rr for rr in request.ar if rr.rtype == QTYPE.OPT]
        if edns:
            reply.add_ar(EDNS0(udp_len=self.edns_udp_size))
            if transport == "udp":
                limit = max(512, min(edns[0].rclass, self.edns_udp_size))
        elif transport == "udp":
            limit = 512
        packed = reply.pack()
        if len(packed) > limit:
            short = DNSRecord(DNSHeader(id=reply.header.id, bitmap=reply.header.bitmap),
                              q=reply.q)
            short.header.tc = 1
            if edns:
                short.add_ar(EDNS0(udp_len=self.edns_udp_size))
            packed = short.pack()
        return packed

    # ---- sockets -----------------------------------------------------------
    def _family(self):
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def start(self):
        fam = self._family()
        for _ in range(100):
            udp = socket.socket(fam, socket.SOCK_DGRAM)
            udp.bind((self.host, self.port))
            port = udp.getsockname()[1]
            tcp = socket.socket(fam, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError as e:
                udp.close()
                tcp.close()
                if e.errno == errno.EADDRINUSE and self.port == 0:
                    continue
                raise
            break
        else:
            raise OSError("no port free for both UDP and TCP")
        tcp.listen(64)
        udp.settimeout(0.2)
        tcp.settimeout(0.2)
        self._udp, self._tcp, self.port = udp, tcp, port
        self._stop.clear()
        for fn in (self._serve_udp, self._serve_tcp):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []
        for s in (self._udp, self._tcp):
            if s is not None:
                s.close()
        self._udp = self._tcp = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return (self.host, self.port)

    @property
    def forwarder(self):
        """The address in tern's dns_resolver syntax (ADDR@PORT)."""
        return "%s@%d" % (self.host, self.port)

    def _serve_udp(self):
        while not self._stop.is_set():
            try:
                data, peer = self._udp.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            out = self.handle(data, "udp")
            if out is not None:
                try:
                    self._udp.sendto(out, peer)
                except OSError:
                    pass

    def _serve_tcp(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._tcp.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            t = threading.Thread(target=self._tcp_conn, args=(conn,), daemon=True)
            t.start()

    def _tcp_conn(self, conn):
        conn.settimeout(0.5)
        idle = 0.0
        buf = b""
        with conn:
            while not self._stop.is_set() and idle < 10:
                try:
                    chunk = conn.recv(65537)
                except socket.timeout:
                    idle += 0.5
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                idle = 0.0
                buf += chunk
                while len(buf) >= 2:
                    n = struct.unpack("!H", buf[:2])[0]
                    if len(buf) < 2 + n:
                        break
                    msg, buf = buf[2:2 + n], buf[2 + n:]
                    out = self.handle(msg, "tcp")
                    if out is not None:
                        try:
                            conn.sendall(struct.pack("!H", len(out)) + out)
                        except OSError:
                            return
