// dnsbl_test.cpp - lib/dnsbl: the site syntax (table driven), reply
// filters, query names, the TTL cache and the parallel check against a real
// DNS server on loopback (tests/tools/dns_server.py).
#include <catch2/catch.hpp>

#include <optional>

#include "lib/dns.hpp"
#include "lib/dnsbl.hpp"
#include "lib/event.hpp"
#include "tests/unit/dns_server_fixture.hpp"

using namespace tern;
using namespace tern::dnsbl;
using namespace std::chrono_literals;

namespace {
ip_addr ip(const char* s) {
    auto a = parse_ip_addr(s);
    REQUIRE(a);
    return *a;
}
}  // namespace

TEST_CASE("dnsbl: site syntax", "[dnsbl]") {
    struct row {
        const char* spec;
        bool ok;
        const char* domain;
        int weight;
        bool filter;
    };
    const row rows[] = {
        {"zen.example", true, "zen.example", 1, false},
        {"Zen.Example.", true, "zen.example", 1, false},
        {"zen.example*3", true, "zen.example", 3, false},
        {"list.dnswl.example=127.[0..255].[0..255].[1..3]*-4", true, "list.dnswl.example", -4, true},
        {"zen.example=127.0.0.[2..11]*3", true, "zen.example", 3, true},
        {"bl.example=127.0.0.[2;4;10..11]", true, "bl.example", 1, true},
        {"bl.example=127.0.0.2", true, "bl.example", 1, true},
        {"bl.example=127.0.0", false, "", 0, false},
        {"bl.example=127.0.0.[2..]", false, "", 0, false},
        {"bl.example=127.0.0.[9..2]", false, "", 0, false},
        {"bl.example=127.0.0.256", false, "", 0, false},
        {"bl.example=127.0.0.[2", false, "", 0, false},
        {"bl.example*x", false, "", 0, false},
        {"nodot", false, "", 0, false},
        {"bad..example", false, "", 0, false},
        {"", false, "", 0, false},
    };
    for (const auto& r : rows) {
        INFO(r.spec);
        std::string err;
        auto s = parse_site(r.spec, err);
        REQUIRE(bool(s) == r.ok);
        if (!s) {
            CHECK_FALSE(err.empty());
            continue;
        }
        CHECK(s->domain == r.domain);
        CHECK(s->weight == r.weight);
        CHECK(bool(s->filter) == r.filter);
    }
}

TEST_CASE("dnsbl: reply filters and query names", "[dnsbl]") {
    std::string err;
    auto s = *parse_site("zen.example=127.0.0.[2..11;20]*3", err);
    CHECK(reply_matches(s, ip("127.0.0.2")));
    CHECK(reply_matches(s, ip("127.0.0.11")));
    CHECK(reply_matches(s, ip("127.0.0.20")));
    CHECK_FALSE(reply_matches(s, ip("127.0.0.12")));
    CHECK_FALSE(reply_matches(s, ip("127.0.1.2")));
    auto any = *parse_site("any.example", err);
    CHECK(reply_matches(any, ip("127.0.0.2")));
    CHECK(reply_matches(any, ip("127.255.255.254")));
    CHECK_FALSE(reply_matches(any, ip("192.0.2.1")));  // a hijacking resolver lists nobody
    CHECK_FALSE(reply_matches(any, ip("::1")));

    CHECK(query_name(ip("192.0.2.99"), "zen.example") == "99.2.0.192.zen.example");
    CHECK(query_name(ip("::ffff:192.0.2.99"), "zen.example") == "99.2.0.192.zen.example");
    CHECK(*query_name(ip("2001:db8::1"), "zen.example") ==
          "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.example");

    std::vector<site> sites;
    REQUIRE(parse_sites({"a.example=127.0.0.2*2", "a.example=127.0.0.3*5", "b.example*-3", "c.example"}, sites, err));
    std::unordered_map<std::string, std::vector<std::string>> answers = {
        {"a.example", {"127.0.0.3", "127.0.0.2"}}, {"b.example", {"127.0.0.9"}}, {"c.example", {}}};
    auto v = combine(sites, answers, {"d.example: timeout"});
    CHECK(v.score == 2 + 5 - 3);
    CHECK(v.hits.size() == 3);
    CHECK(v.errors.size() == 1);
    CHECK_FALSE(parse_sites({"ok.example", "bad"}, sites, err));
}

TEST_CASE("dnsbl: answer cache keeps answers for their TTL, bounded", "[dnsbl]") {
    answer_cache c(3, 100);
    c.put("a", {"127.0.0.2"}, 10, 1000);
    c.put("zero", {"127.0.0.2"}, 0, 1000);  // TTL 0: never kept
    REQUIRE(c.find("a", 1005));
    CHECK(c.find("a", 1005)->addresses == std::vector<std::string>{"127.0.0.2"});
    CHECK_FALSE(c.find("a", 1010));
    CHECK_FALSE(c.find("zero", 1000));
    c.put("long", {}, 100000, 1000);  // capped at max_ttl
    CHECK(c.find("long", 1099));
    CHECK_FALSE(c.find("long", 1100));
    for (int i = 0; i < 10; ++i) c.put("k" + std::to_string(i), {}, 50, 2000);
    CHECK(c.size() == 3);
    CHECK(c.find("k9", 2001));
    CHECK_FALSE(c.find("k0", 2001));
}

TEST_CASE("dnsbl: checking a client against lists on a DNS server", "[dnsbl][dns]") {
    testing::dns_server srv(R"($ORIGIN example.test.
$TTL 0
@ IN SOA ns hostmaster 1 3600 600 86400 0
4.2.0.192.bl IN A 127.0.0.4
4.2.0.192.bl IN TXT "listed"
4.2.0.192.bl2 300 IN A 127.0.0.2
4.2.0.192.wl IN A 127.0.10.1
5.2.0.192.hijack IN A 198.51.100.1
)", {"--timeout", "4.2.0.192.slow.example.test"});
    event_loop loop;
    std::string err;
    auto res = dns::resolver::create(loop, srv.opts(1500ms), err);
    REQUIRE(res);
    std::vector<site> sites;
    REQUIRE(parse_sites({"bl.example.test=127.0.0.[2..11]*3", "bl2.example.test*2", "wl.example.test=127.0.[10..19].1*-5",
                         "hijack.example.test", "slow.example.test"},
                        sites, err));
    checker chk(loop, *res, sites, 100, 3600);
    auto run = [&](const char* client) {
        std::optional<verdict> got;
        auto p = chk.check(ip(client), [&](const verdict& v) {
            got = v;
            loop.exit();
        });
        loop.run();
        REQUIRE(got);
        return *got;
    };
    auto v = run("192.0.2.4");
    CHECK(v.score == 3 + 2 - 5);
    CHECK(v.hits.size() == 3);
    REQUIRE(v.errors.size() == 1);  // the list that timed out counts nothing
    CHECK(v.errors[0].rfind("slow.example.test", 0) == 0);
    CHECK(chk.cache().size() >= 1);  // bl2's answer (TTL 300) is kept

    v = run("192.0.2.5");
    CHECK(v.score == 0);  // the hijack list's 198.51.100.1 does not count
    CHECK(v.hits.empty());

    // cached answers still arrive through the loop, never inside check()
    bool called = false;
    auto p = chk.check(ip("192.0.2.4"), [&](const verdict&) { called = true; });
    CHECK_FALSE(called);
    p.reset();
    timer t(loop, [&] { loop.exit(); });
    t.start(200ms);
    loop.run();
    CHECK_FALSE(called);  // destroyed: cancelled
    res.reset();
}
