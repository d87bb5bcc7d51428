// spf_test.cpp - lib/spf: the record parser and the macro expander (table
// driven, RFC 7208 7.4's examples), records split into TXT strings at every
// byte, the Received-SPF header with hostile input, and check_host() against
// a real DNS server on loopback (limits, time limit, cancellation). The
// whole RFC 7208 test suite runs in tests/integration/test_spf_conformance.py.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <chrono>
#include <cstring>
#include <optional>

#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "lib/spf.hpp"
#include "tests/unit/dns_server_fixture.hpp"

using namespace tern;
using namespace tern::spf;
using namespace std::chrono_literals;

namespace {

ip_addr ip(const char* s) {
    auto a = parse_ip_addr(s);
    REQUIRE(a);
    return *a;
}

}  // namespace

TEST_CASE("spf: record selection", "[spf]") {
    CHECK(is_spf_record("v=spf1"));
    CHECK(is_spf_record("v=spf1 -all"));
    CHECK(is_spf_record("V=SpF1 ~all"));
    CHECK_FALSE(is_spf_record("v=spf10"));
    CHECK_FALSE(is_spf_record("v=spf1mx"));
    CHECK_FALSE(is_spf_record("v=spf"));
    CHECK_FALSE(is_spf_record(" v=spf1 -all"));
    CHECK_FALSE(is_spf_record("spf2.0/pra -all"));
}

TEST_CASE("spf: parser accepts and rejects", "[spf]") {
    struct row {
        const char* text;
        bool ok;
        size_t mechanisms;
    };
    const row rows[] = {
        {"v=spf1", true, 0},
        {"v=spf1 -all", true, 1},
        {"v=spf1  a  -all ", true, 2},
        {"v=spf1 +a -mx ~ptr ?exists:%{i}.x.example.com all", true, 5},
        {"v=spf1 a:foo.example.com/24 mx//64 a/24//64 ip4:1.2.3.0/24 ip6:2001:db8::/32", true, 5},
        {"v=spf1 ip4:1.1.1.1/0 ip6:::1.1.1.1/0", true, 2},
        {"v=spf1 a:foo:bar/baz.example.com", true, 1},
        {"v=spf1 a:foo.example.xn--zckzah -all", true, 2},
        {"v=spf1 include:_spf.example.com. -all", true, 2},
        {"v=spf1 moo.cow-far_out=man:dog/cat ip4:1.2.3.4 -all", true, 2},
        {"v=spf1 default=+", true, 0},
        {"v=spf1 redirect=_spf.example.com", true, 0},
        {"v=spf1 -all exp=%{r}.example.com", false, 0},  // r only in explanations
        {"v=spf1 ip4:1.2.3.4 -all moo", false, 0},
        {"v=spf1 moo.cow/far_out=man:dog/cat ip4:1.2.3.4 -all", false, 0},
        {"v=spf1 redirect:t2.example.com", false, 0},
        {"v=spf1 a:foo-bar -all", false, 0},
        {"v=spf1 a:museum", false, 0},
        {"v=spf1 a:museum.", false, 0},
        {"v=spf1 a:111.222.33.44", false, 0},
        {"v=spf1 a:example.-com", false, 0},
        {"v=spf1 a:example.com:8080", false, 0},
        {"v=spf1 -all.", false, 0},
        {"v=spf1 -all:foobar", false, 0},
        {"v=spf1 -all/8", false, 0},
        {"v=spf1 ptr/0 -all", false, 0},
        {"v=spf1 ptr:", false, 0},
        {"v=spf1 a/33 -all", false, 0},
        {"v=spf1 a//129 -all", false, 0},
        {"v=spf1 a/24/64 -all", false, 0},
        {"v=spf1 ip4:1.2.3.4/032 -all", false, 0},
        {"v=spf1 ip4:1.2.3.4//32", false, 0},
        {"v=spf1 ip4:1.2.3", false, 0},
        {"v=spf1 ip4:01.2.3.4", false, 0},
        {"v=spf1 ip4", false, 0},
        {"v=spf1 ip6::CAFE::BABE", false, 0},
        {"v=spf1 ip6:::1.1.1.1//33", false, 0},
        {"v=spf1 include +all", false, 0},
        {"v=spf1 include:ip5.example.com/24 -all", false, 0},
        {"v=spf1 exists", false, 0},
        {"v=spf1 exists:", false, 0},
        {"v=spf1 1up=foo", false, 0},
        {"v=spf1 =all", false, 0},
        {"v=spf1 -all foo=%abc", false, 0},
        {"v=spf1 exp= -all", false, 0},
        {"v=spf1 ?all redirect=", false, 0},
        {"v=spf1 exp=a.example.com -all exp=b.example.com", false, 0},
        {"v=spf1 redirect=a.example.com redirect=a.example.com", false, 0},
        {"v=spf1 -exists:%(ir).sbl.example.com ?all", false, 0},
        {"v=spf1 exists:foo%.sbl.example.com ?all", false, 0},
        {"v=spf1 a:%{a}.example.com -all", false, 0},
        {"v=spf1 exists:%{l0}.example.com", false, 0},
        {"v=spf1 a:ctrl.example.com\rptr -all", false, 0},
        {"v=spf1 a:\xEF\xBB\xBFgarbage.example.net -all", false, 0},
        {"v=spf1 frobnicate -all", false, 0},
    };
    for (const auto& r : rows) {
        INFO(r.text);
        std::string err;
        auto rec = parse_record(r.text, err);
        CHECK(bool(rec) == r.ok);
        if (rec) CHECK(rec->mechanisms.size() == r.mechanisms);
        if (!rec) CHECK_FALSE(err.empty());
    }
}

TEST_CASE("spf: parsed fields", "[spf]") {
    std::string err;
    auto rec = parse_record("v=spf1 -a:mail.%{d}/24//64 ~mx ip4:192.0.2.1/16 exp=why.%{d} redirect=other.example", err);
    REQUIRE(rec);
    REQUIRE(rec->mechanisms.size() == 3);
    const auto& a = rec->mechanisms[0];
    CHECK(a.kind == mech_kind::a);
    CHECK(a.qualifier == result::fail);
    CHECK(a.domain_spec == "mail.%{d}");
    CHECK(a.cidr4 == 24);
    CHECK(a.cidr6 == 64);
    CHECK(rec->mechanisms[1].qualifier == result::softfail);
    CHECK(rec->mechanisms[1].domain_spec.empty());
    CHECK(rec->mechanisms[2].cidr4 == 16);
    CHECK(rec->mechanisms[2].net == ip("192.0.2.1"));
    REQUIRE(rec->exp);
    CHECK(*rec->exp == "why.%{d}");
    REQUIRE(rec->redirect);
    CHECK(*rec->redirect == "other.example");

    // too many terms is an error, not unbounded work
    std::string big = "v=spf1";
    for (int i = 0; i < 150; ++i) big += " ip4:192.0.2.1";
    CHECK_FALSE(parse_record(big, err));
    CHECK(err.find("terms") != std::string::npos);
}

TEST_CASE("spf: macro expansion, RFC 7208 7.4", "[spf]") {
    macro_input in;
    in.sender = "strong-bad@email.example.com";
    in.domain = "email.example.com";
    in.ip = ip("192.0.2.3");
    in.helo = "mx.example.org";
    in.receiver = "receiver.example.net";
    in.timestamp = 1234567890;
    struct row {
        const char* spec;
        const char* want;
    };
    const row rows[] = {
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
        {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
        {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
        {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
        {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
        {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
        {"%{h}", "mx.example.org"},
        {"%%%_%-", "% %20"},
        {"%{L}", "strong-bad"},
        {"%{S}", "strong-bad%40email.example.com"},
    };
    for (const auto& r : rows) {
        INFO(r.spec);
        std::string err;
        auto e = expand(r.spec, in, macro_use::domain, err);
        REQUIRE(e);
        CHECK(*e == r.want);
    }
    std::string err;
    CHECK_FALSE(expand("%{c}", in, macro_use::domain, err));
    CHECK(*expand("%{c} %{r} %{t}", in, macro_use::explanation, err) == "192.0.2.3 receiver.example.net 1234567890");
    CHECK_FALSE(expand("%{x}", in, macro_use::explanation, err));
    CHECK_FALSE(expand("100%", in, macro_use::explanation, err));
    CHECK_FALSE(expand("%{d", in, macro_use::domain, err));
    CHECK_FALSE(expand("%{d0}", in, macro_use::domain, err));

    in.ip = ip("2001:db8::cb01");
    // upper-case nibbles, as the RFC 7208 test suite expects (DNS ignores case)
    CHECK(*expand("%{ir}.%{v}._spf.%{d2}", in, macro_use::domain, err) ==
          "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
    CHECK(*expand("%{c}", in, macro_use::explanation, err) == "2001:db8::cb01");

    in.sender = "~jack&jill=up-a_b3.c@example.com";
    CHECK(*expand("%{L}", in, macro_use::domain, err) == "~jack%26jill%3Dup-a_b3.c");
    in.sender = "foo-bar+zip+quux@example.com";
    CHECK(*expand("%{l2r+-}", in, macro_use::domain, err) == "bar.foo");

    // expansions are capped
    in.sender = std::string(300, 'x') + "@example.com";
    std::string spec;
    for (int i = 0; i < 100; ++i) spec += "%{s}";
    CHECK_FALSE(expand(spec, in, macro_use::domain, err, 8192));
}

TEST_CASE("spf: domain-spec endings and query names", "[spf]") {
    std::string err;
    CHECK(check_domain_spec("example.com", err));
    CHECK(check_domain_spec("example.com.", err));
    CHECK(check_domain_spec("%{d}", err));
    CHECK(check_domain_spec("foo.%{d2}", err));
    CHECK(check_domain_spec("x.%-", err));
    CHECK_FALSE(check_domain_spec("", err));
    CHECK_FALSE(check_domain_spec("%{d}com", err));
    CHECK_FALSE(check_domain_spec("example.c_m", err));
    CHECK(uses_validated_name("%{p}.example.com"));
    CHECK(uses_validated_name("%{P2r}.example.com"));
    CHECK_FALSE(uses_validated_name("%%{p}.example.com"));

    CHECK(query_name("example.com.") == "example.com");
    std::string label(60, 'a');
    std::string longname = "abc." + label + "." + label + "." + label + "." + label + ".example";
    REQUIRE(longname.size() > 253);
    std::string q = query_name(longname);
    CHECK(q.size() <= 253);
    CHECK(q == label + "." + label + "." + label + "." + label + ".example");

    CHECK(valid_identity_domain("example.com"));
    CHECK(valid_identity_domain("example.com."));
    CHECK_FALSE(valid_identity_domain("localhost"));
    CHECK_FALSE(valid_identity_domain("a..example.com"));
    CHECK_FALSE(valid_identity_domain("[192.0.2.1]"));
    CHECK_FALSE(valid_identity_domain(std::string(64, 'a') + ".example.com"));
    CHECK(valid_identity_domain(std::string(63, 'a') + ".example.com"));

    auto p = split_sender("@example.net");
    REQUIRE(p);
    CHECK(p->local == "postmaster");
    CHECK(p->domain == "example.net");
    CHECK_FALSE(split_sender("nodomain"));
}

TEST_CASE("spf: a record split into TXT strings at every byte parses the same", "[spf]") {
    const std::string record = "v=spf1 ip4:192.0.2.0/24 a:mail.%{d2} include:_spf.example.com ~all exp=x.example.com";
    std::string err;
    auto whole = parse_record(record, err);
    REQUIRE(whole);
    for (size_t cut = 0; cut <= record.size(); ++cut) {
        // a DNS answer: example.com TXT with two strings, cut at `cut`
        std::vector<uint8_t> p = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0};
        auto name = [&] {
            for (const char* l : {"example", "com"}) {
                p.push_back(uint8_t(std::strlen(l)));
                p.insert(p.end(), l, l + std::strlen(l));
            }
            p.push_back(0);
        };
        name();
        p.insert(p.end(), {0, 16, 0, 1});
        p.insert(p.end(), {0xC0, 12, 0, 16, 0, 1, 0, 0, 0, 60});
        std::string a = record.substr(0, cut), b = record.substr(cut);
        size_t rdlen = 2 + a.size() + b.size();
        p.push_back(uint8_t(rdlen >> 8));
        p.push_back(uint8_t(rdlen & 0xFF));
        p.push_back(uint8_t(a.size()));
        p.insert(p.end(), a.begin(), a.end());
        p.push_back(uint8_t(b.size()));
        p.insert(p.end(), b.begin(), b.end());
        dns::result r;
        REQUIRE(dns::parse_dns_answer(p.data(), p.size(), dns::rr_type::txt, r));
        REQUIRE(r.txt.size() == 1);
        auto rec = parse_record(r.txt[0], err);
        REQUIRE(rec);
        REQUIRE(rec->mechanisms.size() == whole->mechanisms.size());
        for (size_t i = 0; i < rec->mechanisms.size(); ++i) CHECK(rec->mechanisms[i].text == whole->mechanisms[i].text);
        CHECK(rec->exp == whole->exp);
    }
}

TEST_CASE("spf: Received-SPF header keeps hostile input harmless", "[spf]") {
    outcome o;
    o.res = result::softfail;
    o.identity = "mailfrom";
    o.sender = "a(b)\"c\\d\r\nX-Evil: 1@example.com";
    o.mechanism = "~all";
    request req;
    req.ip = "192.0.2.1";
    req.sender = o.sender;
    req.helo = "helo\"; x=y";
    req.receiver = "mx.example.net";
    std::string h = received_spf_header(o, req);
    CHECK(h.rfind("Received-SPF: softfail (mx.example.net: domain of transitioning ", 0) == 0);
    CHECK(h.find('\r') == std::string::npos);
    CHECK(h.find('\n') == std::string::npos);
    // the comment holds no parenthesis of the sender's
    auto open = h.find('(');
    auto close = h.find(')');
    CHECK(h.find('(', open + 1) > close);
    CHECK(h.find("envelope-from=\"a(b)\\\"c\\\\d??X-Evil: 1@example.com\";") != std::string::npos);
    CHECK(h.find("helo=\"helo\\\"; x=y\";") != std::string::npos);
    CHECK(h.find("identity=mailfrom;") != std::string::npos);
    CHECK(h.find("mechanism=~all;") != std::string::npos);

    o.res = result::temperror;
    o.problem = "DNS lookup of TXT example.com: timeout";
    h = received_spf_header(o, req);
    CHECK(h.find("problem=\"DNS lookup of TXT example.com: timeout\";") != std::string::npos);
}

// ---- check_host() against a real DNS server ------------------------------------------

namespace {

std::string eval_zone() {
    std::string z = R"zone($ORIGIN example.test.
$TTL 0
@        IN SOA ns hostmaster 1 3600 600 86400 0
pass     IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
inc      IN TXT "v=spf1 include:pass.example.test -all"
mx       IN TXT "v=spf1 mx:mail.example.test -all"
mail     IN MX 10 mx1.mail
mx1.mail IN A 198.51.100.7
ptr      IN TXT "v=spf1 ptr -all"
voids    IN TXT "v=spf1 a:n1.example.test a:n2.example.test a:n3.example.test -all"
slow     IN TXT "v=spf1 a:hang.example.test -all"
exp      IN TXT "v=spf1 -all exp=why.example.test"
why      IN TXT "%{c} may not send for %{d} (%{p})"
two      IN TXT "v=spf1 -all"
two      IN TXT "v=spf1 +all"
7.100.51.198.in-addr.arpa. IN PTR mx1.mail.example.test.
)zone";
    // a chain of 11 includes: one more than the lookup limit
    for (int i = 0; i < 11; ++i)
        z += "chain" + std::to_string(i) + " IN TXT \"v=spf1 include:chain" + std::to_string(i + 1) +
             ".example.test -all\"\n";
    z += "chain11 IN TXT \"v=spf1 +all\"\n";
    z += "short0 IN TXT \"v=spf1 include:chain2.example.test -all\"\n";  // 10 lookups: fine
    return z;
}

struct runner {
    event_loop loop;
    std::unique_ptr<dns::resolver> res;
    explicit runner(const testing::dns_server& srv, std::chrono::milliseconds dns_timeout = 3000ms) {
        std::string err;
        res = dns::resolver::create(loop, srv.opts(dns_timeout), err);
        REQUIRE(res);
    }
    ~runner() { res.reset(); }
    outcome run(const std::string& ip, const std::string& sender, limits lim = {}) {
        request req;
        req.ip = ip;
        req.sender = sender;
        req.helo = "client.example.org";
        req.receiver = "mx.example.net";
        std::optional<outcome> got;
        auto chk = check_host(loop, *res, req, lim, [&](const outcome& o) {
            got = o;
            loop.exit();
        });
        auto until = std::chrono::steady_clock::now() + 30s;
        while (!got && std::chrono::steady_clock::now() < until) loop.run();
        REQUIRE(got);
        return *got;
    }
};

}  // namespace

TEST_CASE("spf: check_host against a DNS server", "[spf][dns]") {
    testing::dns_server srv(eval_zone());
    runner r(srv);

    auto o = r.run("192.0.2.9", "someone@pass.example.test");
    CHECK(o.res == result::pass);
    CHECK(o.identity == "mailfrom");
    CHECK(o.mechanism == "ip4:192.0.2.0/24");
    CHECK(r.run("10.1.1.1", "someone@pass.example.test").res == result::fail);
    CHECK(r.run("192.0.2.9", "x@inc.example.test").res == result::pass);
    CHECK(r.run("198.51.100.7", "x@mx.example.test").res == result::pass);
    CHECK(r.run("198.51.100.7", "x@ptr.example.test").res == result::fail);  // mx1.mail is not below ptr.
    CHECK(r.run("192.0.2.9", "x@nothing.example.test").res == result::none);
    CHECK(r.run("192.0.2.9", "x@two.example.test").res == result::permerror);

    // the null sender checks postmaster@HELO
    o = r.run("192.0.2.9", "");
    CHECK(o.identity == "helo");
    CHECK(o.sender == "postmaster@client.example.org");

    // explanation with %{c} %{d} and %{p} (validated through the PTR and A)
    o = r.run("198.51.100.7", "x@exp.example.test");
    CHECK(o.res == result::fail);
    CHECK(o.explanation == "198.51.100.7 may not send for exp.example.test (mx1.mail.example.test)");

    // limits
    o = r.run("192.0.2.9", "x@chain0.example.test");
    CHECK(o.res == result::permerror);
    CHECK(o.problem.find("DNS-querying") != std::string::npos);
    CHECK(r.run("192.0.2.9", "x@short0.example.test").res == result::pass);
    o = r.run("192.0.2.9", "x@voids.example.test");
    CHECK(o.res == result::permerror);
    CHECK(o.void_lookups == 3);
    limits lenient;
    lenient.void_lookups = 3;
    CHECK(r.run("192.0.2.9", "x@voids.example.test", lenient).res == result::fail);

    // bad input from the client is a result, never a crash
    CHECK(r.run("not-an-address", "x@pass.example.test").res == result::permerror);
    CHECK(r.run("192.0.2.9", "x@[192.0.2.1]").res == result::none);
    CHECK(r.run("192.0.2.9", "no-domain").res == result::none);
    CHECK(r.run("192.0.2.9", std::string(600, 'x') + "@pass.example.test").res == result::none);
}

TEST_CASE("spf: DNS trouble gives temperror; the time limit holds", "[spf][dns]") {
    testing::dns_server srv(eval_zone(), {"--timeout", "hang.example.test", "--servfail", "broken.example.test"});
    runner r(srv, 1000ms);
    auto o = r.run("192.0.2.9", "x@slow.example.test");
    CHECK(o.res == result::temperror);
    CHECK(o.problem.find("timeout") != std::string::npos);
    CHECK(r.run("192.0.2.9", "x@broken.example.test").res == result::temperror);

    runner slow(srv, 10000ms);
    limits lim;
    lim.time_limit = 300ms;
    auto t0 = std::chrono::steady_clock::now();
    o = slow.run("192.0.2.9", "x@slow.example.test", lim);
    auto took = std::chrono::steady_clock::now() - t0;
    CHECK(o.res == result::temperror);
    CHECK(o.problem.find("time limit") != std::string::npos);
    CHECK(took < 3s);
}

TEST_CASE("spf: destroying a check cancels it; the callback may destroy it", "[spf][dns]") {
    testing::dns_server srv(eval_zone());
    runner r(srv);
    request req;
    req.ip = "192.0.2.9";
    req.sender = "x@pass.example.test";
    req.helo = "h.example.org";
    bool called = false;
    auto chk = check_host(r.loop, *r.res, req, {}, [&](const outcome&) { called = true; });
    chk.reset();
    timer stop(r.loop, [&] { r.loop.exit(); });
    stop.start(500ms);
    r.loop.run();
    CHECK_FALSE(called);

    std::unique_ptr<check> self;
    std::optional<result> got;
    self = check_host(r.loop, *r.res, req, {}, [&](const outcome& o) {
        got = o.res;
        self.reset();  // destroy from inside
        r.loop.exit();
    });
    stop.start(10000ms);
    r.loop.run();
    REQUIRE(got);
    CHECK(*got == result::pass);
    CHECK_FALSE(self);
}
