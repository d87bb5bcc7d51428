// addr_test.cpp - lib/addr: RFC 5321 paths and ESMTP parameters, domain and
// HELO checks, relay tricks, RFC 5322 address lists; inputs cut at every byte.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "lib/addr.hpp"
#include "lib/strutil.hpp"

using namespace tern;

namespace {

// One MAIL FROM / RCPT TO argument and what must come out of it.
struct path_row {
    const char* arg;
    addr_role role;
    const char* local;   // nullptr: must fail
    const char* domain;
    const char* status;  // enhanced status code when failing
};

constexpr auto S = addr_role::sender;
constexpr auto R = addr_role::recipient;

const path_row path_rows[] = {
    // RFC 5321 appendix D examples.
    {"<Smith@bar.com>", S, "Smith", "bar.com", ""},
    {"<Jones@foo.com>", R, "Jones", "foo.com", ""},
    {"<Green@foo.com>", R, "Green", "foo.com", ""},
    {"<userc@d.bar.org>", R, "userc", "d.bar.org", ""},
    // Source routes (RFC 5321 4.1.2 / C): accepted, route dropped.
    {"<@hosta.int,@jkl.org:userc@d.bar.org>", R, "userc", "d.bar.org", ""},
    {"<@a.example:user@d.example>", S, "user", "d.example", ""},
    {"<@:user@d.example>", S, nullptr, "", "5.1.7"},
    {"<@a.example,b.example:user@d.example>", S, nullptr, "", "5.1.7"},
    {"<@a.example user@d.example>", R, nullptr, "", "5.1.3"},
    {"<@[192.0.2.1]:user@d.example>", R, nullptr, "", "5.1.3"},
    // Plain and quoted local parts.
    {"<user@example.com>", S, "user", "example.com", ""},
    {" <user@example.com>", S, "user", "example.com", ""},
    {"<john.doe@example.com>", R, "john.doe", "example.com", ""},
    {"<a!#$%&'*+-/=?^_`{|}~z@example.com>", R, "a!#$%&'*+-/=?^_`{|}~z", "example.com", ""},
    {"<\"john doe\"@example.com>", R, "john doe", "example.com", ""},
    {"<\"john\\\"doe\"@example.com>", R, "john\"doe", "example.com", ""},
    {"<\"a\\\\b\"@example.com>", R, "a\\b", "example.com", ""},
    {"<\"a@b\"@here.example>", R, "a@b", "here.example", ""},
    {"<\"\"@example.com>", R, nullptr, "", "5.1.3"},
    {"<\"abc@example.com>", R, nullptr, "", "5.1.3"},
    {"<\"a\x01\"@example.com>", R, nullptr, "", "5.1.3"},
    {"<.john@example.com>", R, nullptr, "", "5.1.3"},
    {"<john..doe@example.com>", R, nullptr, "", "5.1.3"},
    {"<john.@example.com>", S, nullptr, "", "5.1.7"},
    {"<us er@example.com>", R, nullptr, "", "5.1.3"},
    {"<us\x01" "er@example.com>", R, nullptr, "", "5.1.3"},
    {"<user(x)@example.com>", R, nullptr, "", "5.1.3"},
    {"<@example.com>", R, nullptr, "", "5.1.3"},
    // Domains.
    {"<user@[192.0.2.1]>", R, "user", "[192.0.2.1]", ""},
    {"<user@[IPv6:2001:db8::1]>", R, "user", "[IPv6:2001:db8::1]", ""},
    {"<user@[ipv6:::ffff:192.0.2.1]>", R, "user", "[ipv6:::ffff:192.0.2.1]", ""},
    {"<user@[IPv6:2001:db8::g]>", R, nullptr, "", "5.1.3"},
    {"<user@[300.1.1.1]>", R, nullptr, "", "5.1.3"},
    {"<user@[1.2.3]>", R, nullptr, "", "5.1.3"},
    {"<user@[1.2.3.4.5]>", R, nullptr, "", "5.1.3"},
    {"<user@[1.2.3.4>", R, nullptr, "", "5.1.3"},
    {"<user@[foo:bar]>", R, nullptr, "", "5.1.3"},
    {"<user@[0001.2.3.4]>", R, nullptr, "", "5.1.3"},
    {"<user@123.example>", R, "user", "123.example", ""},
    {"<user@1.2.3.4>", R, nullptr, "", "5.1.3"},
    {"<user@example..com>", R, nullptr, "", "5.1.3"},
    {"<user@.example.com>", R, nullptr, "", "5.1.3"},
    {"<user@example.com.>", R, nullptr, "", "5.1.3"},
    {"<user@-example.com>", R, nullptr, "", "5.1.3"},
    {"<user@example-.com>", R, nullptr, "", "5.1.3"},
    {"<user@exa_mple.com>", R, nullptr, "", "5.1.3"},
    {"<user@exam ple.com>", R, nullptr, "", "5.1.3"},
    {"<user@>", R, nullptr, "", "5.1.3"},
    {"<user@xn--bcher-kva.example>", R, "user", "xn--bcher-kva.example", ""},
    // Brackets, null paths, unqualified addresses, junk.
    {"<>", S, "", "", ""},
    {"<>", R, nullptr, "", "5.1.3"},
    {"<user>", R, "user", "", ""},
    {"<Postmaster>", R, "Postmaster", "", ""},
    {"user@example.com", S, nullptr, "", "5.1.7"},
    {"<user@example.com", S, nullptr, "", "5.1.7"},
    {"<user@example.com>x", S, nullptr, "", "5.1.7"},
    {"<user@example.com>>", S, nullptr, "", "5.1.7"},
    {"", S, nullptr, "", "5.1.7"},
    {"<", S, nullptr, "", "5.1.7"},
    {"< user@example.com>", S, nullptr, "", "5.1.7"},
    {"<user@example.com >", S, nullptr, "", "5.1.7"},
    // Relay tricks parse fine; smtpd refuses them with routing_chars().
    {"<user%other@here.example>", R, "user%other", "here.example", ""},
    {"<host!user@here.example>", R, "host!user", "here.example", ""},
    {"<a@b@here.example>", R, nullptr, "", "5.1.3"},
};

}  // namespace

TEST_CASE("RFC 5321 paths: table", "[addr]") {
    for (const auto& r : path_rows) {
        INFO("arg: " << r.arg);
        auto res = r.role == S ? parse_mail_arg(r.arg) : parse_rcpt_arg(r.arg);
        if (!r.local) {
            REQUIRE_FALSE(res.ok());
            CHECK(res.error().status == r.status);
            CHECK_FALSE(res.error().reason.empty());
            CHECK(res.error().text() == res.error().status + " " + res.error().reason);
            continue;
        }
        REQUIRE(res.ok());
        CHECK(res->path.local == r.local);
        CHECK(res->path.domain == r.domain);
        CHECK(res->path.null == (std::string(r.arg) == "<>"));
        CHECK(res->params.empty());
        auto p = parse_smtp_path(r.arg, r.role);
        REQUIRE(p.ok());
        CHECK(p->address() == res->path.address());
    }
}

TEST_CASE("path flags, address forms and quoting for output", "[addr]") {
    auto q = parse_rcpt_arg("<\"john doe\"@Example.COM>");
    REQUIRE(q);
    CHECK(q->path.quoted);
    CHECK_FALSE(q->path.routed);
    CHECK(q->path.address() == "john doe@Example.COM");
    CHECK(q->path.external() == "\"john doe\"@Example.COM");
    CHECK(lowercase_domain(q->path.domain) == "example.com");

    auto r = parse_rcpt_arg("<@a.example,@b.example:u@c.example>");
    REQUIRE(r);
    CHECK(r->path.routed);
    CHECK(r->path.address() == "u@c.example");

    auto lit = parse_rcpt_arg("<u@[192.0.2.1]>");
    REQUIRE(lit);
    CHECK(lit->path.domain_literal());

    auto null = parse_mail_arg("<>");
    REQUIRE(null);
    CHECK(null->path.null);
    CHECK(null->path.address().empty());

    // A quoted local part that needs no quotes is written without them.
    auto plain = parse_rcpt_arg("<\"john\"@x.example>");
    REQUIRE(plain);
    CHECK(plain->path.external() == "john@x.example");
}

TEST_CASE("path options: brackets, unqualified, dots, lengths", "[addr]") {
    path_options lenient;
    lenient.require_brackets = false;
    auto a = parse_mail_arg("user@example.com SIZE=10", lenient);
    REQUIRE(a);
    CHECK(a->path.address() == "user@example.com");
    REQUIRE(a->params.size() == 1);
    CHECK(a->params[0].value == "10");
    CHECK(parse_mail_arg("<user@example.com>", lenient));
    CHECK_FALSE(parse_mail_arg("user@exa mple.com", lenient));
    CHECK_FALSE(parse_mail_arg("   ", lenient));

    path_options strict;
    strict.allow_unqualified = false;
    CHECK_FALSE(parse_mail_arg("<user>", strict));
    CHECK_FALSE(parse_rcpt_arg("<user>", strict));
    CHECK(parse_rcpt_arg("<Postmaster>", strict));
    CHECK(parse_rcpt_arg("<postmaster>", strict));
    CHECK_FALSE(parse_mail_arg("<postmaster>", strict));

    path_options dots;
    dots.lenient_dots = true;
    CHECK(parse_rcpt_arg("<john..doe@docomo.example>", dots)->path.local == "john..doe");
    CHECK(parse_rcpt_arg("<.john.@docomo.example>", dots));
    CHECK_FALSE(parse_rcpt_arg("<john..doe@docomo.example>"));

    std::string l64(64, 'a'), l65(65, 'a');
    CHECK(parse_rcpt_arg("<" + l64 + "@example.com>"));
    auto too_long = parse_rcpt_arg("<" + l65 + "@example.com>");
    REQUIRE_FALSE(too_long);
    CHECK(too_long.error().reason == "local part too long");
    path_options loose;
    loose.strict_lengths = false;
    CHECK(parse_rcpt_arg("<" + l65 + "@example.com>", loose));
    CHECK(parse_rcpt_arg("<" + std::string(300, 'a') + "@example.com>", loose));
    CHECK_FALSE(parse_rcpt_arg("<" + std::string(1000, 'a') + "@example.com>", loose));

    // Quoted local parts count with their quotes.
    CHECK_FALSE(parse_rcpt_arg("<\"" + std::string(63, 'a') + "\"@example.com>"));
    CHECK(parse_rcpt_arg("<\"" + std::string(62, 'a') + "\"@example.com>"));

    // Labels of 63 octets, domains of 255, paths of 256.
    std::string l63(63, 'b');
    CHECK(parse_rcpt_arg("<u@" + l63 + ".example>"));
    CHECK_FALSE(parse_rcpt_arg("<u@" + l63 + "b.example>"));
    std::string d255 = l63 + "." + l63 + "." + l63 + "." + std::string(63, 'c');
    REQUIRE(d255.size() == 255);
    CHECK(valid_domain(d255));
    CHECK_FALSE(valid_domain(d255 + "c"));
    // "<u@" + 255 octets + ">" is 259 octets: over the 256 of a path.
    auto path_long = parse_rcpt_arg("<u@" + d255 + ">");
    REQUIRE_FALSE(path_long);
    CHECK(path_long.error().reason == "path too long");
    CHECK(parse_rcpt_arg("<u@" + d255 + ">", loose));
    auto dom_long = parse_rcpt_arg("<u@" + d255 + "c>", loose);
    REQUIRE_FALSE(dom_long);
    CHECK(dom_long.error().reason == "domain too long");
    path_options small;
    small.max_domain = 20;
    CHECK_FALSE(parse_rcpt_arg("<u@abcdefghijklmnopqrstu.example>", small));
}

TEST_CASE("SMTPUTF8 addresses", "[addr]") {
    const char* utf8_local = "<j\xC3\xB6ran@example.com>";
    const char* utf8_domain = "<user@b\xC3\xBC" "cher.example>";
    for (auto arg : {utf8_local, utf8_domain}) {
        INFO(arg);
        auto no = parse_rcpt_arg(arg);
        REQUIRE_FALSE(no);
        CHECK(no.error().reply == 553);
        CHECK(no.error().status == "5.6.7");
        path_options u;
        u.smtputf8 = true;
        auto yes = parse_rcpt_arg(arg, u);
        REQUIRE(yes);
        CHECK(yes->path.utf8);
    }
    path_options u;
    u.smtputf8 = true;
    CHECK(parse_rcpt_arg("<\"j\xC3\xB6 ran\"@example.com>", u)->path.local == "j\xC3\xB6 ran");
    // Malformed UTF-8 is a syntax error even with SMTPUTF8.
    auto bad = parse_rcpt_arg("<j\xC3(ran@example.com>", u);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().status == "5.1.3");
    CHECK_FALSE(parse_rcpt_arg("<j\xED\xA0\x80@example.com>", u));   // surrogate
    CHECK_FALSE(parse_rcpt_arg("<j\xC0\xAF@example.com>", u));       // overlong
    CHECK_FALSE(parse_rcpt_arg("<user@b\xFF" "cher.example>", u));
    CHECK_FALSE(parse_mail_arg("<user@example.com> ENVID=\xC3\xA9"));
    CHECK(parse_mail_arg("<user@example.com> X-UTF=\xC3\xA9", u));
}

TEST_CASE("ESMTP parameters", "[addr]") {
    struct row {
        const char* arg;
        addr_role role;
        bool ok;
        const char* key;      // a parameter to look at
        const char* decoded;  // its decoded value
    } rows[] = {
        {"<a@x.example> SIZE=1000 BODY=8BITMIME", S, true, "SIZE", "1000"},
        {"<a@x.example> size=1000", S, true, "SIZE", "1000"},
        {"<a@x.example>   SIZE=1   BODY=7bit  ", S, true, "BODY", "7bit"},
        {"<a@x.example> SIZE=abc", S, false, "", ""},
        {"<a@x.example> SIZE", S, false, "", ""},
        {"<a@x.example> SIZE=123456789012345678901", S, false, "", ""},
        {"<a@x.example> BODY=8bitmime", S, true, "BODY", "8bitmime"},
        {"<a@x.example> BODY=BINARYMIME", S, true, "BODY", "BINARYMIME"},
        {"<a@x.example> BODY=9BIT", S, false, "", ""},
        {"<a@x.example> RET=HDRS ENVID=QQ314159", S, true, "ENVID", "QQ314159"},
        {"<a@x.example> RET=ALL", S, false, "", ""},
        {"<a@x.example> ENVID=a+2Bb+3Dc", S, true, "ENVID", "a+b=c"},
        {"<a@x.example> ENVID=a+2", S, false, "", ""},
        {"<a@x.example> AUTH=<>", S, true, "AUTH", ""},
        {"<a@x.example> AUTH=e+3Dmc2@example.com", S, true, "AUTH", "e=mc2@example.com"},
        {"<a@x.example> AUTH=a+zz", S, false, "", ""},
        {"<a@x.example> SMTPUTF8", S, true, "SMTPUTF8", ""},
        {"<a@x.example> SMTPUTF8=yes", S, false, "", ""},
        {"<a@x.example> REQUIRETLS", S, true, "REQUIRETLS", ""},
        {"<a@x.example> X-FOO=bar", S, true, "X-FOO", "bar"},
        {"<a@x.example> X-FLAG", S, true, "x-flag", ""},
        {"<a@x.example> size=1 SIZE=2", S, false, "", ""},
        {"<a@x.example> =x", S, false, "", ""},
        {"<a@x.example> -X=1", S, false, "", ""},
        {"<a@x.example> KEY=", S, false, "", ""},
        {"<a@x.example> KEY=a=b", S, false, "", ""},
        {"<a@x.example> K_Y=1", S, false, "", ""},
        {"<a@x.example> NOTIFY=SUCCESS", S, true, "NOTIFY", "SUCCESS"},  // unknown for MAIL: caller decides
        {"<b@x.example> NOTIFY=SUCCESS,FAILURE", R, true, "NOTIFY", "SUCCESS,FAILURE"},
        {"<b@x.example> NOTIFY=delay", R, true, "NOTIFY", "delay"},
        {"<b@x.example> NOTIFY=NEVER", R, true, "NOTIFY", "NEVER"},
        {"<b@x.example> NOTIFY=NEVER,SUCCESS", R, false, "", ""},
        {"<b@x.example> NOTIFY=BOGUS", R, false, "", ""},
        {"<b@x.example> NOTIFY=SUCCESS,", R, false, "", ""},
        {"<b@x.example> ORCPT=rfc822;user+40example.com", R, true, "ORCPT", "user@example.com"},
        {"<b@x.example> ORCPT=rfc822;user@example.com", R, true, "ORCPT", "user@example.com"},
        {"<b@x.example> ORCPT=rfc822", R, false, "", ""},
        {"<b@x.example> ORCPT=rfc822;", R, false, "", ""},
        {"<b@x.example> ORCPT=;a@b", R, false, "", ""},
        {"<b@x.example> ORCPT=rfc822;a+2", R, false, "", ""},
        {"<b@x.example> ORCPT=utf-8;j\\x{00F6}ran@example.com", R, true, "ORCPT", "j\xC3\xB6ran@example.com"},
        {"<b@x.example> ORCPT=utf-8;j\\x{D800}ran@example.com", R, false, "", ""},
        {"<b@x.example> SIZE=abc", R, true, "SIZE", "abc"},  // not a RCPT parameter: not checked
    };
    for (const auto& r : rows) {
        INFO(r.arg);
        auto res = r.role == S ? parse_mail_arg(r.arg) : parse_rcpt_arg(r.arg);
        REQUIRE(res.ok() == r.ok);
        if (!r.ok) {
            CHECK(res.error().status == "5.5.4");
            CHECK(res.error().reply == 501);
            continue;
        }
        auto p = res->param(r.key);
        REQUIRE(p);
        CHECK(p->decoded == r.decoded);
        CHECK(p->key == to_upper(r.key));
    }
    std::string many = "<a@x.example>";
    for (int i = 0; i < 17; ++i) many += " X" + std::to_string(i) + "=1";
    auto res = parse_mail_arg(many);
    REQUIRE_FALSE(res);
    CHECK(res.error().reason == "too many parameters");
    path_options more;
    more.max_params = 20;
    CHECK(parse_mail_arg(many, more));
    CHECK(parse_esmtp_params("A=1 B C=3")->size() == 3);
    CHECK((*parse_esmtp_params("A=1 B"))[1].has_value == false);
}

TEST_CASE("domains, address literals and HELO names", "[addr]") {
    struct row {
        const char* s;
        bool domain, literal, helo, fqdn, fqdn_helo;
    } rows[] = {
        {"example.com", true, false, true, true, true},
        {"mail.example.com", true, false, true, true, true},
        {"localhost", true, false, true, false, false},
        {"a", true, false, true, false, false},
        {"123.example", true, false, true, true, true},
        {"xn--bcher-kva.example", true, false, true, true, true},
        {"1.2.3.4", false, false, false, false, false},
        {"12345", false, false, false, false, false},
        {"[192.0.2.1]", false, true, true, false, true},
        {"[255.255.255.255]", false, true, true, false, true},
        {"[256.1.1.1]", false, false, false, false, false},
        {"[1.2.3.]", false, false, false, false, false},
        {"[.1.2.3]", false, false, false, false, false},
        {"[1..2.3]", false, false, false, false, false},
        {"[IPv6:2001:db8::1]", false, true, true, false, true},
        {"[IPv6:::1]", false, true, true, false, true},
        {"[IPv6:2001:db8:0:0:0:0:2:1]", false, true, true, false, true},
        {"[IPv6:2001:db8::1::2]", false, false, false, false, false},
        {"[IPv6:]", false, false, false, false, false},
        {"[2001:db8::1]", false, false, false, false, false},
        {"[]", false, false, false, false, false},
        {"[", false, false, false, false, false},
        {"", false, false, false, false, false},
        {"exa mple.com", false, false, false, false, false},
        {"example.com.", false, false, false, false, false},
        {".example.com", false, false, false, false, false},
        {"-a.example", false, false, false, false, false},
        {"a-.example", false, false, false, false, false},
        {"a--b.example", true, false, true, true, true},
        {"under_score.example", false, false, false, false, false},
        {"b\xC3\xBC" "cher.example", false, false, false, true, false},  // a U-label: FQDN only for SMTPUTF8 paths
    };
    for (const auto& r : rows) {
        INFO(r.s);
        CHECK(valid_domain(r.s) == r.domain);
        CHECK(valid_address_literal(r.s) == r.literal);
        CHECK(valid_helo_hostname(r.s) == r.helo);
        CHECK(is_fqdn(r.s) == r.fqdn);
        CHECK(is_fqdn_helo(r.s) == r.fqdn_helo);
    }
    CHECK(valid_domain("b\xC3\xBC" "cher.example", true));
    CHECK_FALSE(valid_domain("b\xFF" "cher.example", true));
    CHECK(valid_domain(std::string(63, 'a') + ".example"));
    CHECK_FALSE(valid_domain(std::string(64, 'a') + ".example"));
}

TEST_CASE("local parts: dot-atoms, quoting, splitting, relay tricks", "[addr]") {
    struct row {
        const char* local;
        bool dot_atom;
        const char* quoted;
        unsigned routing;
    } rows[] = {
        {"john", true, "john", 0},
        {"john.doe", true, "john.doe", 0},
        {"john doe", false, "\"john doe\"", 0},
        {"john..doe", false, "\"john..doe\"", 0},
        {".john", false, "\".john\"", 0},
        {"a\"b", false, "\"a\\\"b\"", 0},
        {"a\\b", false, "\"a\\\\b\"", 0},
        {"", false, "\"\"", 0},
        {"user%other", true, "user%other", route_percent},
        {"host!user", true, "host!user", route_bang},
        {"a@b", false, "\"a@b\"", route_at},
        {"a%b!c@d", false, "\"a%b!c@d\"", route_percent | route_bang | route_at},
    };
    for (const auto& r : rows) {
        INFO(r.local);
        CHECK(is_dot_atom(r.local) == r.dot_atom);
        CHECK(quote_local(r.local) == r.quoted);
        CHECK(routing_chars(r.local) == r.routing);
        CHECK(has_routing_chars(r.local) == (r.routing != 0));
        // What quote_local writes parses back to the same local part.
        if (*r.local) {
            auto back = parse_rcpt_arg("<" + quote_local(r.local) + "@example.com>");
            REQUIRE(back);
            CHECK(back->path.local == r.local);
        }
    }
    CHECK(split_address("user@example.com") == std::pair<std::string, std::string>{"user", "example.com"});
    CHECK(split_address("a@b@example.com") == std::pair<std::string, std::string>{"a@b", "example.com"});
    CHECK(split_address("user") == std::pair<std::string, std::string>{"user", ""});
    CHECK(lowercase_domain("MiXeD.Example") == "mixed.example");
    CHECK(lowercase_domain("B\xC3\x9C" "CHER.EXAMPLE") == "b\xC3\x9C" "cher.example");
}

TEST_CASE("paths cut at every byte boundary", "[addr]") {
    const std::string args[] = {
        "<@hosta.int,@jkl.org:userc@d.bar.org> ORCPT=rfc822;userc+40d.bar.org NOTIFY=SUCCESS,DELAY",
        "<\"john \\\"q\\\" doe\"@[IPv6:2001:db8::1]> NOTIFY=NEVER",
        "<user@[192.0.2.1]>",
    };
    for (const auto& full : args) {
        auto whole = parse_rcpt_arg(full);
        REQUIRE(whole);
        size_t close = full.find('>');
        for (size_t cut = 0; cut <= full.size(); ++cut) {
            INFO(full.substr(0, cut));
            auto r = parse_rcpt_arg(full.substr(0, cut));
            if (cut <= close) {
                CHECK_FALSE(r.ok());  // the path is not closed yet
                CHECK_FALSE(r.error().status.empty());
            } else if (r.ok()) {
                CHECK(r->path.address() == whole->path.address());
                CHECK(r->params.size() <= whole->params.size());
            } else {
                CHECK(r.error().status == "5.5.4");  // only a parameter can be cut short
            }
        }
    }
    // Every prefix of every table row: no crash, a status on failure.
    for (const auto& row : path_rows) {
        std::string s = row.arg;
        for (size_t cut = 0; cut <= s.size(); ++cut) {
            auto r = parse_mail_arg(s.substr(0, cut));
            if (!r) CHECK_FALSE(r.error().status.empty());
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 5322 address lists

namespace {

// Compact rendering of a parsed list: "name|local@domain" per mailbox,
// "group:name" and "end" for markers, joined by " ; ".
std::string render(const address_list& l) {
    std::string out;
    for (const auto& a : l.items) {
        if (!out.empty()) out += " ; ";
        switch (a.type) {
        case mail_address::kind::group_start: out += "group:" + a.display; break;
        case mail_address::kind::group_end: out += "end"; break;
        case mail_address::kind::mailbox:
            out += a.display + "|" + (a.route.empty() ? "" : a.route + ":") + a.address();
            break;
        }
    }
    return out;
}

struct list_row {
    const char* value;
    const char* rendered;
    bool bad;
};

const list_row list_rows[] = {
    // RFC 5322 appendix A.1
    {"John Doe <jdoe@machine.example>", "John Doe|jdoe@machine.example", false},
    {"Mary Smith <mary@example.net>", "Mary Smith|mary@example.net", false},
    {"\"Joe Q. Public\" <john.q.public@example.com>", "Joe Q. Public|john.q.public@example.com", false},
    {"Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>",
     "Mary Smith|mary@x.test ; |jdoe@example.org ; Who?|one@y.test", false},
    {"<boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
     "|boss@nil.test ; Giant; \"Big\" Box|sysservices@example.net", false},
    {"A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
     "group:A Group ; Ed Jones|c@a.test ; |joe@where.test ; John|jdoe@one.test ; end", false},
    {"Undisclosed recipients:;", "group:Undisclosed recipients ; end", false},
    // A.5 white space and comments
    {"Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>", "Pete|pete@silly.test", false},
    {"A Group(Some people)\r\n     :Chris Jones <c@(Chris's host.)public.example>,\r\n         joe@example.org,\r\n"
     "  John <jdoe@one.test> (my dear friend); (the end of the group)",
     "group:A Group ; Chris Jones|c@public.example ; |joe@example.org ; John|jdoe@one.test ; end", false},
    {"(Empty list)(start)Hidden recips  :(nobody(that I know))  ;", "group:Hidden recips ; end", false},
    // A.6 obsolete forms
    {"Joe Q. Public <john.q.public@example.com>", "Joe Q. Public|john.q.public@example.com", false},
    {"Mary Smith <@node.test:mary@example.net>, , jdoe@test  . example",
     "Mary Smith|@node.test:mary@example.net ; |jdoe@test.example", false},
    {"John Doe <jdoe@machine(comment).  example>", "John Doe|jdoe@machine.example", false},
    {"Mary Smith\r\n \r\n          <mary@example.net>", "Mary Smith|mary@example.net", false},
    {"<@a.test,@b.test:joe@c.test>", "|@a.test,@b.test:joe@c.test", false},
    // RFC 2047 section 8 display names
    {"=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore|moore@cs.utk.edu", false},
    {"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>", "Keld J\xC3\xB8rn Simonsen|keld@dkuug.dk", false},
    {"=?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>", "Andr\xC3\xA9 Pirard|PIRARD@vm1.ulg.ac.be", false},
    {"\"=?utf-8?B?w6k=?=\" <x@y.example>", "\xC3\xA9|x@y.example", false},
    // Old style and lenient cases
    {"user@host.example (Real Name)", "Real Name|user@host.example", false},
    {"user@host.example (Real (nested) Name)", "Real (nested) Name|user@host.example", false},
    {"undisclosed-recipients:;", "group:undisclosed-recipients ; end", false},
    {"team: a@x.example, b@y.example;", "group:team ; |a@x.example ; |b@y.example ; end", false},
    {"a@b.example,c@d.example", "|a@b.example ; |c@d.example", false},
    {"\"john doe\"@example.com", "|john doe@example.com", false},
    {"user", "|user", false},
    {"<user>", "|user", false},
    {"<>", "|", false},
    {"", "", false},
    {" , ,, ", "", false},
    {"(only a comment)", "", false},
    {"J\xC3\xB6ran <j@x.example>", "J\xC3\xB6ran|j@x.example", false},
    {"J\xF6ran <j@x.example>", "J\xC3\xB6ran|j@x.example", false},
    {"<a@b.example", "|a@b.example", true},
    {"Foo <a@b.example, c@d.example", "Foo|a@b.example ; |c@d.example", true},
    {"a@b.example; c@d.example", "|a@b.example ; |c@d.example", true},
    {"g: a@b.example", "group:g ; |a@b.example ; end", true},
    {"g1: a@b.example; g2: c@d.example", "group:g1 ; |a@b.example ; end ; group:g2 ; |c@d.example ; end", true},
    {"g1: a@b.example, g2: c@d.example;", "group:g1 ; |a@b.example ; end ; group:g2 ; |c@d.example ; end", true},
    {"John Doe", "|John Doe", true},
    {"a@b.example (unterminated", "unterminated|a@b.example", true},
    {"\"unterminated <a@b.example>", "|unterminated <a@b.example>", true},
    {"<a@b.example> trailing", "|a@b.example", true},
    {"a@", "|a", true},
    {"@b.example", "|@b.example", true},
    {"a@b@c.example", "|a@b@c.example", true},
    {"<<a@b.example>>", "|a@b.example", true},
};

}  // namespace

TEST_CASE("RFC 5322 address lists: table", "[addr]") {
    for (const auto& r : list_rows) {
        INFO("value: " << r.value);
        auto l = parse_address_list(r.value);
        CHECK(render(l) == r.rendered);
        CHECK(l.bad_syntax == r.bad);
        CHECK_FALSE(l.truncated);
    }
}

TEST_CASE("address lists: raw and decoded display names", "[addr]") {
    auto l = parse_address_list("=?ISO-8859-1?Q?Andr=E9?= Pirard <p@x.example>, \"Doe, John\" <j@x.example>");
    REQUIRE(l.items.size() == 2);
    CHECK(l.items[0].display_raw == "=?ISO-8859-1?Q?Andr=E9?= Pirard");
    CHECK(l.items[0].display == "Andr\xC3\xA9 Pirard");
    CHECK(l.items[1].display_raw == "Doe, John");
    CHECK(l.items[1].local == "j");
    CHECK(l.items[1].domain == "x.example");
    CHECK(l.mailbox_count() == 2);

    auto g = parse_address_list("=?utf-8?Q?=C3=A9quipe?=: a@x.example;");
    REQUIRE(g.items.size() == 3);
    CHECK(g.items[0].type == mail_address::kind::group_start);
    CHECK(g.items[0].display_raw == "=?utf-8?Q?=C3=A9quipe?=");
    CHECK(g.items[0].display == "\xC3\xA9quipe");
    CHECK(g.items[2].type == mail_address::kind::group_end);
    CHECK(g.mailbox_count() == 1);

    // Quoted local parts come out unquoted; quote_local puts the quotes back.
    auto q = parse_address_list("\"a b\\\"c\"@x.example");
    REQUIRE(q.items.size() == 1);
    CHECK(q.items[0].local == "a b\"c");
    CHECK(quote_local(q.items[0].local) == "\"a b\\\"c\"");
}

TEST_CASE("address lists: limits", "[addr]") {
    std::string many;
    for (int i = 0; i < 1500; ++i) many += "u" + std::to_string(i) + "@x.example, ";
    auto l = parse_address_list(many);
    CHECK(l.truncated);
    CHECK(l.mailbox_count() == 1000);
    CHECK(l.items.back().local == "u999");

    address_list_limits lim;
    lim.max_addresses = 3;
    auto g = parse_address_list("g: a@x.example, b@x.example, c@x.example, d@x.example;", lim);
    CHECK(g.truncated);
    CHECK(g.mailbox_count() == 3);
    CHECK(g.items.back().type == mail_address::kind::group_end);  // markers stay balanced

    std::string deep = "a@b.example " + std::string(40, '(') + "x" + std::string(40, ')');
    auto d = parse_address_list(deep);
    CHECK(d.bad_syntax);
    REQUIRE(d.mailbox_count() == 1);
    CHECK(d.items[0].address() == "a@b.example");
    lim = {};
    lim.max_comment_depth = 50;
    CHECK_FALSE(parse_address_list(deep, lim).bad_syntax);

    lim = {};
    lim.max_length = 20;
    auto cut = parse_address_list("aaaa@x.example, bbbb@y.example", lim);
    CHECK(cut.truncated);
    CHECK(render(cut) == "|aaaa@x.example ; |bbbb");

    // Pathological inputs stay fast and bounded.
    std::string junk(200000, '<');
    CHECK(parse_address_list(junk).items.size() <= 1000);
    std::string commas(200000, ',');
    CHECK(parse_address_list(commas).items.empty());
    std::string parens = std::string(100000, '(') + std::string(100000, ')');
    CHECK(parse_address_list(parens).items.empty());
    std::string ats(200000, '@');
    CHECK(parse_address_list(ats).items.size() == 1);
}

TEST_CASE("address lists cut at every byte boundary", "[addr]") {
    for (const auto& r : list_rows) {
        std::string full = r.value;
        for (size_t cut = 0; cut <= full.size(); ++cut) {
            std::string part = full.substr(0, cut);
            INFO(part);
            auto l = parse_address_list(part);
            int open = 0;
            for (const auto& a : l.items) {
                if (a.type == mail_address::kind::group_start) CHECK(++open == 1);
                if (a.type == mail_address::kind::group_end) CHECK(--open == 0);
                CHECK(a.local.size() <= part.size());
                CHECK(a.display_raw.size() <= part.size());
            }
            CHECK(open == 0);
        }
    }
    // Cut right after a separator: exactly the addresses before it.
    std::string s = "Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>, \"a,b\" <c@d.test>";
    auto whole = parse_address_list(s);
    REQUIRE(whole.mailbox_count() == 4);
    size_t k = 0;
    for (size_t pos : {s.find(", jdoe"), s.find(", Who"), s.find(", \"a,b")}) {
        ++k;
        auto l = parse_address_list(s.substr(0, pos + 1));
        REQUIRE(l.mailbox_count() == k);
        for (size_t i = 0; i < k; ++i) {
            CHECK(l.items[i].address() == whole.items[i].address());
            CHECK(l.items[i].display == whole.items[i].display);
        }
        CHECK_FALSE(l.bad_syntax);
    }
}
