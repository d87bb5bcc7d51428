// dns_test.cpp - lib/dns: parse_dns_answer on hand-built packets (good,
// malformed, truncated at every byte, compression loops), the pure helpers,
// and the resolver against a real DNS server on loopback
// (tests/tools/dns_server.py, started here on a free port).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <optional>
#include <poll.h>
#include <random>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/config.hpp"
#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "lib/fd.hpp"
#include "tests/unit/dns_server_fixture.hpp"

#ifndef TERN_SRCDIR
#error "TERN_SRCDIR must name the source tree (tests/local.mk)"
#endif

using namespace tern;
using namespace tern::dns;
using namespace std::chrono_literals;

namespace {

// ---- packet builder ----------------------------------------------------------

struct builder {
    std::vector<uint8_t> b;
    void u8(unsigned v) { b.push_back(uint8_t(v)); }
    void u16(unsigned v) {
        u8(v >> 8);
        u8(v & 0xFF);
    }
    void u32(uint32_t v) {
        u16(v >> 16);
        u16(v & 0xFFFF);
    }
    // Uncompressed name; returns its offset.
    size_t name(std::string_view n) {
        size_t at = b.size();
        while (!n.empty() && n != ".") {
            auto dot = n.find('.');
            auto label = n.substr(0, dot);
            u8(unsigned(label.size()));
            b.insert(b.end(), label.begin(), label.end());
            if (dot == std::string_view::npos) break;
            n.remove_prefix(dot + 1);
        }
        u8(0);
        return at;
    }
    void pointer(size_t off) { u16(0xC000 | unsigned(off)); }
    void header(unsigned flags, unsigned qd, unsigned an, unsigned ns, unsigned ar) {
        u16(0x1234);
        u16(flags);
        u16(qd);
        u16(an);
        u16(ns);
        u16(ar);
    }
    size_t question(std::string_view n, unsigned type) {
        size_t at = name(n);
        u16(type);
        u16(1);
        return at;
    }
    // RR header with owner given as a pointer; rdlength patched by end_rr.
    size_t rr_ptr(size_t owner, unsigned type, uint32_t ttl) {
        pointer(owner);
        u16(type);
        u16(1);
        u32(ttl);
        size_t len_at = b.size();
        u16(0);
        return len_at;
    }
    void end_rr(size_t len_at) {
        size_t n = b.size() - len_at - 2;
        b[len_at] = uint8_t(n >> 8);
        b[len_at + 1] = uint8_t(n & 0xFF);
    }
    void txt(std::initializer_list<std::string_view> parts) {
        for (auto p : parts) {
            u8(unsigned(p.size()));
            b.insert(b.end(), p.begin(), p.end());
        }
    }
};

constexpr unsigned resp = 0x8180;  // QR RD RA, NOERROR

result parse(const builder& p, rr_type t) {
    result r;
    parse_dns_answer(p.b.data(), p.b.size(), t, r);
    return r;
}

// An MX answer with compression: 3 MX, the second record reusing names.
builder mx_packet() {
    builder p;
    p.header(resp, 1, 3, 0, 0);
    size_t q = p.question("example.test", 15);
    size_t l = p.rr_ptr(q, 15, 300);
    p.u16(20);
    size_t mx2 = p.b.size();
    p.u8(3);
    p.b.insert(p.b.end(), {'m', 'x', '2'});
    p.pointer(q);
    p.end_rr(l);
    l = p.rr_ptr(q, 15, 100);
    p.u16(10);
    p.u8(3);
    p.b.insert(p.b.end(), {'m', 'x', '1'});
    p.pointer(q);
    p.end_rr(l);
    l = p.rr_ptr(q, 15, 200);
    p.u16(10);
    p.u8(4);
    p.b.insert(p.b.end(), {'b', 'a', 'c', 'k'});
    p.pointer(mx2);  // back.mx2.example.test: a pointer into another record
    p.end_rr(l);
    return p;
}

}  // namespace

TEST_CASE("parse_dns_answer: MX sorted, compressed names, minimum TTL", "[dns]") {
    auto r = parse(mx_packet(), rr_type::mx);
    REQUIRE(r.st == status::ok);
    CHECK(r.error.empty());
    CHECK(r.ttl == 100);
    CHECK(r.qname == "example.test");
    REQUIRE(r.mx.size() == 3);
    CHECK(r.mx[0].preference == 10);
    CHECK(r.mx[0].host == "mx1.example.test");
    CHECK(r.mx[1].preference == 10);
    CHECK(r.mx[1].host == "back.mx2.example.test");  // stable among equals
    CHECK(r.mx[2].host == "mx2.example.test");
    CHECK_FALSE(r.null_mx);
}

TEST_CASE("parse_dns_answer: null MX", "[dns]") {
    builder p;
    p.header(resp, 1, 1, 0, 0);
    size_t q = p.question("nomail.test", 15);
    size_t l = p.rr_ptr(q, 15, 60);
    p.u16(0);
    p.u8(0);
    p.end_rr(l);
    auto r = parse(p, rr_type::mx);
    CHECK(r.st == status::ok);
    CHECK(r.null_mx);
    CHECK(r.mx.empty());
}

TEST_CASE("parse_dns_answer: A, AAAA, TXT, TLSA, PTR records", "[dns]") {
    SECTION("A and AAAA") {
        builder p;
        p.header(resp, 1, 2, 0, 0);
        size_t q = p.question("h.test", 1);
        for (int i = 1; i <= 2; ++i) {
            size_t l = p.rr_ptr(q, 1, 30u * i);
            p.b.insert(p.b.end(), {192, 0, 2, uint8_t(i)});
            p.end_rr(l);
        }
        auto r = parse(p, rr_type::a);
        CHECK(r.st == status::ok);
        CHECK(r.addresses == std::vector<std::string>{"192.0.2.1", "192.0.2.2"});
        CHECK(r.ttl == 30);
        builder p6;
        p6.header(resp, 1, 1, 0, 0);
        q = p6.question("h.test", 28);
        size_t l = p6.rr_ptr(q, 28, 10);
        p6.b.insert(p6.b.end(), {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25});
        p6.end_rr(l);
        r = parse(p6, rr_type::aaaa);
        CHECK(r.addresses == std::vector<std::string>{"2001:db8::25"});
        // an A record of the wrong size is malformed
        builder bad;
        bad.header(resp, 1, 1, 0, 0);
        q = bad.question("h.test", 1);
        l = bad.rr_ptr(q, 1, 10);
        bad.b.insert(bad.b.end(), {1, 2, 3});
        bad.end_rr(l);
        r = parse(bad, rr_type::a);
        CHECK(r.st == status::temporary);
        CHECK_FALSE(r.error.empty());
    }
    SECTION("TXT strings are concatenated per record") {
        builder p;
        p.header(resp, 1, 2, 0, 0);
        size_t q = p.question("t.test", 16);
        size_t l = p.rr_ptr(q, 16, 60);
        p.txt({"v=spf1 ", "", "-all"});
        p.end_rr(l);
        std::string big(255, 'x');
        l = p.rr_ptr(q, 16, 60);
        p.txt({big, big, "tail"});
        p.end_rr(l);
        auto r = parse(p, rr_type::txt);
        REQUIRE(r.txt.size() == 2);
        CHECK(r.txt[0] == "v=spf1 -all");
        CHECK(r.txt[1] == big + big + "tail");
    }
    SECTION("TLSA") {
        builder p;
        p.header(resp, 1, 1, 0, 0);
        size_t q = p.question("_25._tcp.mx.test", 52);
        size_t l = p.rr_ptr(q, 52, 60);
        p.b.insert(p.b.end(), {3, 1, 1, 0xde, 0xad, 0xbe, 0xef});
        p.end_rr(l);
        auto r = parse(p, rr_type::tlsa);
        REQUIRE(r.tlsa.size() == 1);
        CHECK(r.tlsa[0].usage == 3);
        CHECK(r.tlsa[0].selector == 1);
        CHECK(r.tlsa[0].matching_type == 1);
        CHECK(r.tlsa[0].data == std::vector<uint8_t>{0xde, 0xad, 0xbe, 0xef});
    }
    SECTION("PTR names with odd bytes are escaped") {
        builder p;
        p.header(resp, 1, 1, 0, 0);
        size_t q = p.question("1.2.0.192.in-addr.arpa", 12);
        size_t l = p.rr_ptr(q, 12, 60);
        p.u8(5);
        p.b.insert(p.b.end(), {'a', '.', 'b', ' ', '\\'});
        p.name("test");
        p.end_rr(l);
        auto r = parse(p, rr_type::ptr);
        REQUIRE(r.names.size() == 1);
        CHECK(r.names[0] == "a\\.b\\032\\\\.test");
    }
}

TEST_CASE("parse_dns_answer: CNAME chains", "[dns]") {
    builder p;
    p.header(resp, 1, 3, 0, 0);
    size_t q = p.question("www.example.test", 1);
    size_t l = p.rr_ptr(q, 5, 50);
    size_t t1 = p.name("web.example.test");
    p.end_rr(l);
    l = p.rr_ptr(t1, 5, 500);
    size_t t2 = p.name("HOST.other.test");
    p.end_rr(l);
    l = p.rr_ptr(t2, 1, 400);
    p.b.insert(p.b.end(), {192, 0, 2, 80});
    p.end_rr(l);
    auto r = parse(p, rr_type::a);
    CHECK(r.st == status::ok);
    CHECK(r.addresses == std::vector<std::string>{"192.0.2.80"});
    CHECK(r.canonical == "HOST.other.test");
    CHECK(r.ttl == 50);

    // asking for the CNAME itself does not follow it
    builder c;
    c.header(resp, 1, 1, 0, 0);
    q = c.question("www.example.test", 5);
    l = c.rr_ptr(q, 5, 50);
    c.name("web.example.test");
    c.end_rr(l);
    r = parse(c, rr_type::cname);
    CHECK(r.st == status::ok);
    CHECK(r.names == std::vector<std::string>{"web.example.test"});

    // a chain that ends without the type is NODATA; a CNAME loop is an error
    builder d;
    d.header(resp, 1, 2, 0, 0);
    q = d.question("a.test", 1);
    l = d.rr_ptr(q, 5, 50);
    size_t b = d.name("b.test");
    d.end_rr(l);
    l = d.rr_ptr(b, 5, 50);
    d.pointer(q);
    d.end_rr(l);
    r = parse(d, rr_type::a);
    CHECK(r.st == status::temporary);
    CHECK_THAT(r.error, Catch::Contains("CNAME"));
}

TEST_CASE("parse_dns_answer: RCODEs and negative TTL", "[dns]") {
    auto neg = [](unsigned rcode, bool soa) {
        builder p;
        p.header(0x8180 | rcode, 1, 0, soa ? 1 : 0, 0);
        size_t q = p.question("nothing.example.test", 1);
        if (soa) {
            size_t zone = q + 8;  // "example.test" inside the question name
            size_t l = p.rr_ptr(zone, 6, 3600);
            p.name("ns.example.test");
            p.pointer(zone);
            p.u32(1);
            p.u32(3600);
            p.u32(600);
            p.u32(86400);
            p.u32(120);
            p.end_rr(l);
        }
        return p;
    };
    auto r = parse(neg(3, true), rr_type::a);
    CHECK(r.st == status::nxdomain);
    CHECK(r.ttl == 120);
    r = parse(neg(0, true), rr_type::a);
    CHECK(r.st == status::nodata);
    CHECK(r.ttl == 120);
    r = parse(neg(3, false), rr_type::a);
    CHECK(r.st == status::nxdomain);
    CHECK(r.ttl == 0);
    r = parse(neg(2, false), rr_type::a);
    CHECK(r.st == status::temporary);
    CHECK(r.error == "SERVFAIL");
    r = parse(neg(5, false), rr_type::a);
    CHECK(r.st == status::temporary);
    // answer records of another type are not taken
    builder p;
    p.header(resp, 1, 1, 0, 0);
    size_t q = p.question("x.test", 28);
    size_t l = p.rr_ptr(q, 1, 10);
    p.b.insert(p.b.end(), {1, 2, 3, 4});
    p.end_rr(l);
    r = parse(p, rr_type::aaaa);
    CHECK(r.st == status::nodata);
    CHECK(r.addresses.empty());
}

TEST_CASE("parse_dns_answer: malformed packets are errors", "[dns]") {
    auto bad = [](const builder& p, rr_type t) {
        result r;
        bool ok = parse_dns_answer(p.b.data(), p.b.size(), t, r);
        return !ok && r.st == status::temporary && !r.error.empty();
    };
    SECTION("every truncation of a good packet") {
        auto good = mx_packet();
        for (size_t n = 0; n < good.b.size(); ++n) {
            result r;
            INFO("length " << n);
            CHECK_FALSE(parse_dns_answer(good.b.data(), n, rr_type::mx, r));
            CHECK(r.st == status::temporary);
        }
        result r;
        CHECK(parse_dns_answer(good.b.data(), good.b.size(), rr_type::mx, r));
        CHECK_FALSE(parse_dns_answer(nullptr, 0, rr_type::mx, r));
    }
    SECTION("header problems") {
        builder p;
        p.header(0x0100, 1, 0, 0, 0);  // a query, not a response
        p.question("a.test", 1);
        CHECK(bad(p, rr_type::a));
        builder two;
        two.header(resp, 2, 0, 0, 0);
        two.question("a.test", 1);
        two.question("b.test", 1);
        CHECK(bad(two, rr_type::a));
        builder other;
        other.header(resp, 1, 0, 0, 0);
        other.question("a.test", 28);
        CHECK(bad(other, rr_type::a));  // answers another type
    }
    SECTION("counts larger than the data") {
        auto p = mx_packet();
        p.b[7] = 4;  // ancount 3 -> 4
        CHECK(bad(p, rr_type::mx));
        p = mx_packet();
        p.b[9] = 1;  // nscount 0 -> 1
        CHECK(bad(p, rr_type::mx));
        p = mx_packet();
        p.b[6] = 0xFF;
        p.b[7] = 0xFF;
        CHECK(bad(p, rr_type::mx));
    }
    SECTION("rdlength past the end or not matching the name") {
        auto p = mx_packet();
        // first RR's rdlength sits right after the question (12 + 14 + 4) + 10
        size_t at = 12 + 14 + 4 + 10;
        p.b[at + 1] = uint8_t(p.b[at + 1] + 1);
        CHECK(bad(p, rr_type::mx));
        p = mx_packet();
        p.b[at + 1] = 0xFF;
        p.b[at] = 0xFF;
        CHECK(bad(p, rr_type::mx));
    }
    SECTION("compression loops and bad pointers") {
        // pointer to itself
        builder self;
        self.header(resp, 1, 0, 0, 0);
        self.pointer(12);
        self.u16(1);
        self.u16(1);
        CHECK(bad(self, rr_type::a));
        // forward pointer
        builder fwd;
        fwd.header(resp, 1, 0, 0, 0);
        fwd.pointer(14);
        fwd.u8(0);
        fwd.u16(1);
        fwd.u16(1);
        CHECK(bad(fwd, rr_type::a));
        // two names pointing at each other: label then pointer back to a
        // pointer that points forward again
        builder loop;
        loop.header(resp, 1, 1, 0, 0);
        size_t q = loop.question("a.test", 1);
        size_t l = loop.rr_ptr(q, 5, 10);
        size_t here = loop.b.size();
        loop.u8(1);
        loop.u8('x');
        loop.pointer(here);  // "x" + pointer to its own start
        loop.end_rr(l);
        CHECK(bad(loop, rr_type::a));
        // pointer past the end
        builder past;
        past.header(resp, 1, 0, 0, 0);
        past.u8(0xC0);
        CHECK(bad(past, rr_type::a));
        // reserved label types 0x40 and 0x80
        for (unsigned t : {0x40u, 0x80u}) {
            builder r;
            r.header(resp, 1, 0, 0, 0);
            r.u8(t | 1);
            r.u8('a');
            r.u8(0);
            r.u16(1);
            r.u16(1);
            CHECK(bad(r, rr_type::a));
        }
    }
    SECTION("names longer than 255 bytes, also through pointers") {
        builder p;
        p.header(resp, 1, 0, 0, 0);
        for (int i = 0; i < 5; ++i) {
            p.u8(60);
            p.b.insert(p.b.end(), 60, 'a');
        }
        p.u8(0);
        p.u16(1);
        p.u16(1);
        CHECK(bad(p, rr_type::a));
        // 4 x 60-byte labels (245 wire bytes) are fine alone, but a record
        // owner that prefixes two more labels to them is not
        builder q;
        q.header(resp, 1, 1, 0, 0);
        size_t qn = q.b.size();
        for (int i = 0; i < 4; ++i) {
            q.u8(60);
            q.b.insert(q.b.end(), 60, 'b');
        }
        q.u8(0);
        q.u16(1);
        q.u16(1);
        q.u8(10);
        q.b.insert(q.b.end(), 10, 'c');  // 11 + 245 = 256 wire bytes
        q.pointer(qn);
        q.u16(1);
        q.u16(1);
        q.u32(10);
        q.u16(4);
        q.b.insert(q.b.end(), {1, 2, 3, 4});
        CHECK(bad(q, rr_type::a));
    }
    SECTION("TXT string running past its record") {
        builder p;
        p.header(resp, 1, 1, 0, 0);
        size_t q = p.question("t.test", 16);
        size_t l = p.rr_ptr(q, 16, 60);
        p.u8(10);
        p.b.insert(p.b.end(), {'a', 'b'});
        p.end_rr(l);
        CHECK(bad(p, rr_type::txt));
    }
}

TEST_CASE("parse_dns_answer: random corruption never crashes", "[dns]") {
    std::vector<builder> seeds{mx_packet()};
    {
        builder p;
        p.header(resp, 1, 2, 0, 0);
        size_t q = p.question("www.example.test", 1);
        size_t l = p.rr_ptr(q, 5, 50);
        size_t t = p.name("web.example.test");
        p.end_rr(l);
        l = p.rr_ptr(t, 1, 40);
        p.b.insert(p.b.end(), {1, 2, 3, 4});
        p.end_rr(l);
        seeds.push_back(p);
    }
    std::mt19937 rng(12345);
    int accepted = 0, rejected = 0;
    for (int i = 0; i < 20000; ++i) {
        auto p = seeds[size_t(i) % seeds.size()];
        int flips = 1 + int(rng() % 4);
        for (int f = 0; f < flips; ++f) p.b[rng() % p.b.size()] = uint8_t(rng());
        if (rng() % 4 == 0) p.b.resize(rng() % p.b.size());
        result r;
        for (auto t : {rr_type::a, rr_type::mx, rr_type::txt, rr_type::cname, rr_type::tlsa})
            if (parse_dns_answer(p.b.data(), p.b.size(), t, r))
                ++accepted;
            else {
                ++rejected;
                REQUIRE(r.st == status::temporary);
                REQUIRE_FALSE(r.error.empty());
            }
    }
    CHECK(accepted > 0);
    CHECK(rejected > 0);
}

TEST_CASE("reverse_name, valid_query_name, combine_addresses", "[dns]") {
    CHECK(reverse_name("192.0.2.1") == "1.2.0.192.in-addr.arpa");
    CHECK(reverse_name("127.0.0.5") == "5.0.0.127.in-addr.arpa");
    CHECK(reverse_name("::ffff:192.0.2.7") == "7.2.0.192.in-addr.arpa");
    CHECK(reverse_name("[::1]") == "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa");
    CHECK(reverse_name("2001:db8::abcd") ==
          "d.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    for (auto s : {"", "1.2.3", "1.2.3.4.5", "example.com", "::g", "1.2.3.4 ", "[1.2.3.4"})
        CHECK_FALSE(reverse_name(s));

    std::string why;
    for (auto s : {"example.test", "example.test.", "_25._tcp.mx.example.test", "a", "xn--bcher-kva.test"})
        CHECK(valid_query_name(s, why));
    std::string label64(64, 'a'), long_name;
    for (int i = 0; i < 5; ++i) long_name += std::string(50, 'b') + ".";
    for (std::string s : {std::string(""), std::string("."), std::string("a..b"), std::string(".a"),
                          std::string("a b"), std::string("a\\.b"), std::string("a\nb"), label64 + ".test",
                          long_name + "test", std::string("b\xc3\xa4r.test")}) {
        INFO(s);
        CHECK_FALSE(valid_query_name(s, why));
    }

    auto mk = [](status st, std::vector<std::string> addrs = {}, uint32_t ttl = 100) {
        result r;
        r.st = st;
        r.addresses = std::move(addrs);
        r.ttl = ttl;
        return r;
    };
    auto c = combine_addresses(mk(status::ok, {"192.0.2.1"}, 50), mk(status::ok, {"2001:db8::1"}, 70));
    CHECK(c.st == status::ok);
    CHECK(c.addresses == std::vector<std::string>{"192.0.2.1", "2001:db8::1"});
    CHECK(c.ttl == 50);
    c = combine_addresses(mk(status::ok, {"192.0.2.1"}), mk(status::timeout));
    CHECK(c.st == status::ok);
    CHECK_THAT(c.error, Catch::Contains("AAAA"));
    c = combine_addresses(mk(status::nodata), mk(status::ok, {"::1"}));
    CHECK(c.st == status::ok);
    CHECK(c.error.empty());
    struct row {
        status a, aaaa, want;
    } rows[] = {
        {status::nxdomain, status::nxdomain, status::nxdomain}, {status::nodata, status::nxdomain, status::nodata},
        {status::nodata, status::nodata, status::nodata},       {status::nodata, status::temporary, status::temporary},
        {status::timeout, status::nxdomain, status::timeout},   {status::temporary, status::timeout, status::temporary},
        {status::bogus, status::temporary, status::bogus},
    };
    for (auto r : rows) {
        CHECK(combine_addresses(mk(r.a), mk(r.aaaa)).st == r.want);
        CHECK(combine_addresses(mk(r.aaaa), mk(r.a)).st == r.want);
    }
}

TEST_CASE("options::from_config", "[dns]") {
    std::vector<config_error> errs;
    config cfg;
    std::string err;
    auto o = options::from_config(cfg, err);
    REQUIRE(o);
    CHECK(o->system);
    CHECK(o->timeout == 10s);
    cfg.set("dns_resolver", "127.0.0.1@5353, [::1]@53 192.0.2.1");
    cfg.set("dns_timeout", "3s");
    o = options::from_config(cfg, err);
    REQUIRE(o);
    CHECK_FALSE(o->system);
    CHECK(o->forwarders == std::vector<std::string>{"127.0.0.1@5353", "::1@53", "192.0.2.1"});
    CHECK(o->timeout == 3s);
    for (auto bad : {"system 127.0.0.1", "localhost@53", "127.0.0.1@0", "127.0.0.1@65536", "127.0.0.1@x"}) {
        cfg.set("dns_resolver", bad);
        err.clear();
        CHECK_FALSE(options::from_config(cfg, err));
        CHECK_FALSE(err.empty());
    }
}

// ---- against a real DNS server ---------------------------------------------------

namespace {

// tests/tools/dns_server.py as a child process (the fixture spf_test and
// dnsbl_test use too).
using tern::testing::dns_server;

std::string test_zone() {
    std::string z = R"($ORIGIN example.test.
$TTL 300
@         IN SOA ns1 hostmaster 1 3600 600 86400 120
@         IN MX 20 mx2
@         IN MX 10 mx1
@         IN MX 30 mx3
@         IN TXT "v=spf1 " "ip4:127.0.0.0/8 " "-all"
mx1       IN A 127.0.0.11
mx1       IN AAAA 2001:db8::11
mx2       IN A 127.0.0.12
mx3       IN AAAA 2001:db8::13
nullmx    IN MX 0 .
alias 50  IN CNAME alias2
alias2    IN CNAME mx1
onlymx    IN MX 10 mx1
broken    IN A 127.0.0.99
slow      IN A 127.0.0.98
_25._tcp.mx1 IN TLSA 3 1 1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
5.0.0.127.in-addr.arpa. IN PTR mx1.example.test.
1.0.0.127.in-addr.arpa. IN PTR localhost.example.test.
1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. IN PTR mx1.example.test.
host.other.test. IN A 192.0.2.1
private.invalid. IN A 127.0.0.33
)";
    z += "long IN TXT \"" + std::string(300, 'L') + "\" \"end\"\n";
    for (int i = 0; i < 60; ++i) z += "many" + std::to_string(i) + " IN A 127.0.1." + std::to_string(i) + "\n";
    return z;
}

}  // namespace

TEST_CASE("resolver against a real DNS server", "[dns]") {
    dns_server srv(test_zone(), {"--servfail", "broken.example.test", "--timeout", "slow.example.test"});
    std::string err;
    auto r = blocking_resolver::create(srv.opts(5000ms), err);
    REQUIRE(r);
    INFO(err);

    SECTION("MX ordering") {
        auto x = r->lookup_mx("example.test");
        REQUIRE(x.st == status::ok);
        CHECK_FALSE(x.secure);
        REQUIRE(x.mx.size() == 3);
        CHECK(x.mx[0].host == "mx1.example.test");
        CHECK(x.mx[0].preference == 10);
        CHECK(x.mx[1].host == "mx2.example.test");
        CHECK(x.mx[2].host == "mx3.example.test");
        CHECK_FALSE(x.null_mx);
        CHECK(x.ttl <= 300);
        CHECK(x.ttl >= 290);
        x = r->lookup_mx("nullmx.example.test.");
        CHECK(x.st == status::ok);
        CHECK(x.null_mx);
        CHECK(x.mx.empty());
    }
    SECTION("A and AAAA together") {
        auto x = r->lookup_addresses("mx1.example.test");
        REQUIRE(x.st == status::ok);
        CHECK(x.addresses == std::vector<std::string>{"127.0.0.11", "2001:db8::11"});
        x = r->lookup_addresses("mx2.example.test");
        CHECK(x.st == status::ok);
        CHECK(x.addresses == std::vector<std::string>{"127.0.0.12"});
        x = r->lookup_addresses("mx3.example.test");
        CHECK(x.addresses == std::vector<std::string>{"2001:db8::13"});
        x = r->lookup_addresses("onlymx.example.test");
        CHECK(x.st == status::nodata);
        x = r->lookup_addresses("absent.example.test");
        CHECK(x.st == status::nxdomain);
        x = r->lookup("MX1.EXAMPLE.TEST", rr_type::a);  // case does not matter
        CHECK(x.addresses == std::vector<std::string>{"127.0.0.11"});
    }
    SECTION("TXT concatenation, multi-string and longer than 255") {
        auto x = r->lookup_txt("example.test");
        REQUIRE(x.st == status::ok);
        CHECK(x.txt == std::vector<std::string>{"v=spf1 ip4:127.0.0.0/8 -all"});
        x = r->lookup_txt("long.example.test");
        REQUIRE(x.txt.size() == 1);
        CHECK(x.txt[0] == std::string(300, 'L') + "end");
    }
    SECTION("PTR for 127.0.0.x and IPv6, special-use zones reach the server") {
        auto x = r->lookup_ptr("127.0.0.5");
        REQUIRE(x.st == status::ok);
        CHECK(x.names == std::vector<std::string>{"mx1.example.test"});
        x = r->lookup_ptr("127.0.0.1");
        CHECK(x.names == std::vector<std::string>{"localhost.example.test"});
        x = r->lookup_ptr("2001:db8::11");
        CHECK(x.names == std::vector<std::string>{"mx1.example.test"});
        x = r->lookup_ptr("127.0.0.200");
        CHECK(x.st == status::nxdomain);
        x = r->lookup_ptr("not-an-ip");
        CHECK(x.st == status::nxdomain);
        CHECK_FALSE(x.error.empty());
        x = r->lookup("private.invalid", rr_type::a);
        CHECK(x.addresses == std::vector<std::string>{"127.0.0.33"});
        x = r->lookup("host.other.test", rr_type::a);
        CHECK(x.addresses == std::vector<std::string>{"192.0.2.1"});
    }
    SECTION("CNAME following") {
        auto x = r->lookup("alias.example.test", rr_type::a);
        REQUIRE(x.st == status::ok);
        CHECK(x.addresses == std::vector<std::string>{"127.0.0.11"});
        CHECK(x.canonical == "mx1.example.test");
        CHECK(x.ttl <= 50);
        CHECK(x.ttl >= 45);
        x = r->lookup("alias.example.test", rr_type::cname);
        CHECK(x.names == std::vector<std::string>{"alias2.example.test"});
        x = r->lookup_mx("alias.example.test");
        CHECK(x.st == status::nodata);
    }
    SECTION("TLSA") {
        auto x = r->lookup_tlsa("mx1.example.test", 25);
        REQUIRE(x.tlsa.size() == 1);
        CHECK(x.tlsa[0].usage == 3);
        CHECK(x.tlsa[0].data.size() == 32);
        CHECK(x.tlsa[0].data[1] == 0x11);
    }
    SECTION("NXDOMAIN versus NODATA") {
        auto x = r->lookup("nothing.example.test", rr_type::a);
        CHECK(x.st == status::nxdomain);
        CHECK(x.ttl <= 120);
        x = r->lookup("nullmx.example.test", rr_type::a);
        CHECK(x.st == status::nodata);
        x = r->lookup("..bad", rr_type::a);
        CHECK(x.st == status::nxdomain);
        CHECK_THAT(x.error, Catch::Contains("label"));
    }
    SECTION("SERVFAIL is temporary") {
        auto t0 = std::chrono::steady_clock::now();
        auto x = r->lookup("broken.example.test", rr_type::a);
        CHECK(x.st == status::temporary);
        CHECK(std::chrono::steady_clock::now() - t0 < 5s);
        // and the server is still used for other names afterwards
        CHECK(r->lookup("mx2.example.test", rr_type::a).st == status::ok);
    }
    SECTION("answers changed at run time") {
        // outside example.test's SOA the server's negative answers carry
        // TTL 0, so the resolver does not cache the NXDOMAIN
        CHECK(r->lookup("late.other.test", rr_type::a).st == status::nxdomain);
        REQUIRE(srv.command("add late.other.test. 0 IN A 127.0.0.44"));
        auto x = r->lookup("late.other.test", rr_type::a);
        CHECK(x.addresses == std::vector<std::string>{"127.0.0.44"});
        REQUIRE(srv.command("add late.other.test. 0 IN A 127.0.0.45"));
        x = r->lookup("late.other.test", rr_type::a);
        std::sort(x.addresses.begin(), x.addresses.end());  // RRset order is not kept
        CHECK(x.addresses == std::vector<std::string>{"127.0.0.44", "127.0.0.45"});
        REQUIRE(srv.command("remove late.other.test A"));
        CHECK(r->lookup("late.other.test", rr_type::a).st == status::nxdomain);
    }
}

TEST_CASE("resolver: a never-answering name times out in time", "[dns]") {
    dns_server srv(test_zone(), {"--timeout", "slow.example.test"});
    std::string err;
    auto r = blocking_resolver::create(srv.opts(1500ms), err);
    REQUIRE(r);
    auto t0 = std::chrono::steady_clock::now();
    auto x = r->lookup("slow.example.test", rr_type::a);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(x.st == status::timeout);
    CHECK(took >= 1400ms);
    CHECK(took < 3s);
    x = r->lookup_addresses("slow.example.test");
    CHECK(x.st == status::timeout);
    // the forwarder is not written off for the other names
    t0 = std::chrono::steady_clock::now();
    CHECK(r->lookup("mx1.example.test", rr_type::a).st == status::ok);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

TEST_CASE("resolver: callbacks are deferred, cancellation, many queries", "[dns]") {
    dns_server srv(test_zone(), {"--timeout", "slow.example.test"});
    event_loop loop;
    std::string err;
    auto res = resolver::create(loop, srv.opts(3000ms), err);
    REQUIRE(res);
    timer guard_timer(loop, [&] { loop.exit(); });
    guard_timer.start(10000ms);

    SECTION("cancelled queries never call back") {
        int called = 0;
        auto q1 = res->lookup("mx1.example.test", rr_type::a, [&](const result&) { ++called; });
        auto q2 = res->lookup("slow.example.test", rr_type::a, [&](const result&) { ++called; });
        bool done = false;
        auto q3 = res->lookup("mx2.example.test", rr_type::a, [&](const result& x) {
            CHECK(x.st == status::ok);
            done = true;
        });
        CHECK(res->pending() == 3);
        q1.reset();
        q2.reset();
        CHECK(res->pending() == 1);
        // run past q2's timeout too: nothing may fire for q1 or q2
        timer stop(loop, [&] { loop.exit(); });
        stop.start(3500ms);
        loop.run();
        CHECK(done);
        CHECK(called == 0);
        CHECK(res->pending() == 0);
    }
    SECTION("a query answered from cache or local data still calls back later") {
        bool first = false;
        auto q = res->lookup("mx1.example.test", rr_type::a, [&](const result&) {
            first = true;
            loop.exit();
        });
        loop.run();
        REQUIRE(first);
        bool inside = true, called = false;
        auto q2 = res->lookup("mx1.example.test", rr_type::a, [&](const result& x) {
            CHECK_FALSE(inside);
            CHECK(x.st == status::ok);
            called = true;
            loop.exit();
        });
        auto q3 = res->lookup("bad..name", rr_type::a, [&](const result&) { CHECK_FALSE(inside); });
        inside = false;
        CHECK_FALSE(called);
        loop.run();
        CHECK(called);
    }
    SECTION("many concurrent queries") {
        std::vector<std::unique_ptr<query>> qs;
        int answered = 0;
        const int n = 200;
        for (int i = 0; i < n; ++i) {
            int k = i % 60;
            qs.push_back(res->lookup("many" + std::to_string(k) + ".example.test", rr_type::a,
                                     [&, k](const result& x) {
                                         CHECK(x.st == status::ok);
                                         CHECK(x.addresses == std::vector<std::string>{"127.0.1." + std::to_string(k)});
                                         if (++answered == n) loop.exit();
                                     }));
        }
        loop.run();
        CHECK(answered == n);
    }
    SECTION("a callback may destroy its own query, the resolver, or start more") {
        std::unique_ptr<query> self;
        int chained = 0;
        self = res->lookup("mx1.example.test", rr_type::a, [&](const result&) {
            self.reset();
            self = res->lookup("mx2.example.test", rr_type::a, [&](const result& x) {
                CHECK(x.addresses == std::vector<std::string>{"127.0.0.12"});
                ++chained;
                res.reset();  // destroy the resolver from inside its callback
                loop.exit();
            });
        });
        loop.run();
        CHECK(chained == 1);
        CHECK_FALSE(res);
        self.reset();  // a handle outliving its resolver is harmless
    }
}

TEST_CASE("resolver: system mode answers localhost from local data", "[dns]") {
    event_loop loop;
    std::string err;
    options o;  // system: resolv.conf + /etc/hosts
    o.timeout = 3000ms;
    auto res = resolver::create(loop, o, err);
    REQUIRE(res);
    bool inside = true, called = false;
    auto q = res->lookup("localhost", rr_type::a, [&](const result& x) {
        CHECK_FALSE(inside);
        CHECK(x.st == status::ok);
        CHECK(std::find(x.addresses.begin(), x.addresses.end(), "127.0.0.1") != x.addresses.end());
        called = true;
        loop.exit();
    });
    inside = false;
    timer stop(loop, [&] { loop.exit(); });
    stop.start(5000ms);
    loop.run();
    CHECK(called);
}

TEST_CASE("resolver: with a trust anchor, unsigned answers are bogus", "[dns]") {
    dns_server srv(test_zone());
    char tmpl[] = "/tmp/tern-dnsta.XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    std::string ta = std::string(tmpl) + "/root.key";
    // the root zone's KSK-2017 DS (RFC 7958 format, one record per line)
    REQUIRE(write_file_atomic(ta,
                              "; root trust anchor\n"
                              ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
                              0600));
    auto o = srv.opts(5000ms);
    o.trust_anchor_file = ta;
    std::string err;
    auto r = blocking_resolver::create(o, err);
    unlink(ta.c_str());
    rmdir(tmpl);
    REQUIRE(r);  // the anchor was read at creation, the file is gone now
    auto x = r->lookup("mx1.example.test", rr_type::a);
    CHECK(x.st == status::bogus);
    CHECK_FALSE(x.secure);
    CHECK_FALSE(x.error.empty());
}

TEST_CASE("resolver: created before chroot and privilege drop, works after", "[dns]") {
    if (geteuid() != 0) {
        WARN("not root: chroot test skipped");
        return;
    }
    dns_server srv(test_zone());
    char tmpl[] = "/tmp/tern-dnsjail.XXXXXX";
    REQUIRE(mkdtemp(tmpl));
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // child: no Catch2 macros here, the exit code tells
        alarm(20);
        event_loop loop;
        std::string err;
        auto o = srv.opts(3000ms);
        auto res = resolver::create(loop, o, err);
        if (!res) _exit(2);
        if (chroot(tmpl) != 0 || chdir("/") != 0) _exit(3);
        if (setgid(65534) != 0 || setuid(65534) != 0) _exit(4);
        int code = 10;
        auto q = res->lookup_mx("example.test", [&](const result& x) {
            code = x.st == status::ok && x.mx.size() == 3 ? 0 : 11;
            loop.exit();
        });
        loop.run();
        res.reset();
        _exit(code);
    }
    int st = 0;
    REQUIRE(waitpid(pid, &st, 0) == pid);
    rmdir(tmpl);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
}

TEST_CASE("resolver: bad configuration is reported", "[dns]") {
    event_loop loop;
    std::string err;
    options o;
    o.system = false;
    CHECK_FALSE(resolver::create(loop, o, err));
    CHECK_THAT(err, Catch::Contains("forwarders"));
    o.forwarders = {"127.0.0.1@53"};
    o.trust_anchor_file = "/nonexistent/root.key";
    err.clear();
    CHECK_FALSE(resolver::create(loop, o, err));
    CHECK_THAT(err, Catch::Contains("root.key"));
}

TEST_CASE("escape_query_name: any byte but '.' in a label", "[dns]") {
    std::string why;
    CHECK(escape_query_name("example.test", why) == "example.test");
    CHECK(escape_query_name("example.test.", why) == "example.test");
    CHECK(escape_query_name("a b.example.test", why) == "a\\032b.example.test");
    CHECK(escape_query_name("back\\slash.test", why) == "back\\092slash.test");
    CHECK(escape_query_name(std::string("nul\0x.test", 10), why) == "nul\\000x.test");
    CHECK(escape_query_name("\xC3\xA9.test", why) == "\\195\\169.test");
    CHECK(escape_query_name("foo:bar/baz.example.com", why) == "foo:bar/baz.example.com");
    CHECK_FALSE(escape_query_name("", why));
    CHECK_FALSE(escape_query_name("a..b", why));
    CHECK_THAT(why, Catch::Contains("empty label"));
    CHECK_FALSE(escape_query_name(std::string(64, 'a') + ".test", why));
    CHECK(escape_query_name(std::string(63, ' ') + ".test", why));  // 63 bytes, escaped longer
    CHECK_FALSE(escape_query_name(std::string(254, 'a'), why));
}

TEST_CASE("resolver: lookup_raw asks escaped names", "[dns]") {
    dns_server srv(test_zone());
    event_loop loop;
    std::string err;
    auto res = resolver::create(loop, srv.opts(5000ms), err);
    REQUIRE(res);
    std::optional<result> got;
    auto q = res->lookup_raw("MX1.example.test", rr_type::a, [&](const result& r) {
        got = r;
        loop.exit();
    });
    loop.run();
    REQUIRE(got);
    CHECK(got->st == status::ok);
    CHECK(got->addresses == std::vector<std::string>{"127.0.0.11"});
    got.reset();
    q = res->lookup_raw("no such.example.test", rr_type::a, [&](const result& r) {
        got = r;
        loop.exit();
    });
    loop.run();
    REQUIRE(got);
    CHECK(got->st == status::nxdomain);  // asked (a label with a space), and not there
    got.reset();
    q = res->lookup_raw("bad..name", rr_type::a, [&](const result& r) {
        got = r;
        loop.exit();
    });
    loop.run();
    REQUIRE(got);
    CHECK(got->st == status::nxdomain);
    CHECK_THAT(got->error, Catch::Contains("empty label"));
    q.reset();
    res.reset();
}
