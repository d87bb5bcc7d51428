// attr_test.cpp - attribute-list codec: escaping, limits, byte-boundary splits.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include "lib/attr.hpp"
#include "lib/fd.hpp"

using namespace tern;

static attr_list decode_all(std::string_view wire, attr_limits lim = {}) {
    attr_parser p(lim);
    size_t used = 0;
    auto st = p.feed(wire, used);
    REQUIRE(st == attr_parser::status::done);
    return p.take();
}

TEST_CASE("attr round trip with escapes") {
    attr_list l;
    l.add("request", "smtpd_access_policy").add("text", "line1\nline2\r\\end").add("nul", std::string("a\0b", 3));
    l.add("empty", "").add("rcpt", "a@x").add("rcpt", "b@x");
    auto enc = attr_encode(l);
    REQUIRE(enc);
    CHECK(enc->back() == '\n');
    CHECK(enc->find("text=line1\\nline2\\r\\\\end\n") != std::string::npos);
    auto d = decode_all(*enc);
    REQUIRE(d.items == l.items);
    CHECK(d.all("rcpt") == std::vector<std::string>{"a@x", "b@x"});
    CHECK(d.get("missing", "dflt") == "dflt");
}

TEST_CASE("policy mode sends values raw and refuses newlines") {
    attr_list l;
    l.add("sender", "a\\b@x");
    auto enc = attr_encode(l, false);
    REQUIRE(enc);
    CHECK(*enc == "sender=a\\b@x\n\n");
    attr_limits lim;
    lim.escape = false;
    CHECK(decode_all(*enc, lim).get("sender") == "a\\b@x");
    attr_list bad;
    bad.add("x", "a\nb");
    CHECK_FALSE(attr_encode(bad, false));
}

TEST_CASE("attr decoding split at every byte boundary") {
    attr_list l;
    l.add("a", "1").add("long", std::string(300, 'x')).add("esc", "q\\z\n");
    std::string wire = *attr_encode(l) + "next=1\n\n";
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
        attr_parser p;
        size_t used1 = 0, used2 = 0;
        auto st = p.feed(std::string_view(wire).substr(0, cut), used1);
        if (st != attr_parser::status::done) {
            REQUIRE(st == attr_parser::status::need_more);
            REQUIRE(used1 == cut);
            st = p.feed(std::string_view(wire).substr(cut), used2);
        }
        REQUIRE(st == attr_parser::status::done);
        auto got = p.take();
        CHECK(got.items == l.items);
        // the second list is left unconsumed
        CHECK(used1 + used2 == attr_encode(l)->size());
    }
}

TEST_CASE("attr limits and malformed input") {
    attr_limits lim;
    lim.max_line = 10;
    lim.max_count = 2;
    lim.max_total = 40;
    struct row {
        std::string wire;
        const char* why;
    } rows[] = {
        {"a=0123456789x\n\n", "too long"},
        {"a=0123456789x", "too long"},  // no newline yet, still too long
        {"a=1\nb=2\nc=3\n\n", "too many"},
        {"noequals\n\n", "malformed"},
        {"=value\n\n", "malformed"},
        {"a=bad\\q\n\n", "bad escape"},
        {"a=end\\\n\n", "backslash"},
    };
    for (const auto& r : rows) {
        INFO(r.wire);
        attr_parser p(lim);
        size_t used = 0;
        CHECK(p.feed(r.wire, used) == attr_parser::status::error);
        CHECK(p.error().find(r.why) != std::string::npos);
        // stays failed
        CHECK(p.feed("x=1\n\n", used) == attr_parser::status::error);
    }
    attr_limits tot;
    tot.max_total = 20;
    attr_parser p(tot);
    size_t used = 0;
    CHECK(p.feed("a=12345\nb=12345\nc=12345\n\n", used) == attr_parser::status::error);
    CHECK(p.error().find("too large") != std::string::npos);
}

TEST_CASE("attr_stream over a socket pair") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    unique_fd a(sv[0]), b(sv[1]);
    attr_stream sa(a.get()), sb(b.get());
    attr_list req;
    req.add("request", "ping").add("n", "1");
    std::string err;
    REQUIRE(sa.write(req, 1000, err));
    REQUIRE(sa.write(req, 1000, err));  // two pipelined lists
    auto r1 = sb.read(1000, err);
    REQUIRE(r1);
    CHECK(r1->get("request") == "ping");
    auto r2 = sb.read(1000, err);
    REQUIRE(r2);
    // nothing more: times out
    auto r3 = sb.read(50, err);
    CHECK_FALSE(r3);
    CHECK(err.find("timeout") != std::string::npos);
    a.reset();
    auto r4 = sb.read(1000, err);
    CHECK_FALSE(r4);
    CHECK(err.find("closed") != std::string::npos);
}
