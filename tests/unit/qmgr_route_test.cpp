// qmgr_route_test.cpp - recipient routing: domain classes, relayhost,
// transport_maps (address, domain, parent domains, "*", error:, discard:),
// virtual aliases, the double-bounce address, and domain lists.
#include <catch2/catch.hpp>

#include <map>

#include "lib/domain_class.hpp"
#include "qmgr/route.hpp"

using namespace tern;
using namespace tern::qmgr;

namespace {

router_settings base() {
    router_settings s;
    s.domains = domain_classifier(domain_list({"mail.example.test", "localhost"}), domain_list({"example.test"}),
                                  domain_list({"alias.example"}));
    s.double_bounce = "double-bounce@example.test";
    return s;
}

transport_lookup table(std::map<std::string, std::string> m, bool broken = false) {
    return [m, broken](const std::string& k, std::string& v) -> int {
        if (broken) {
            v = "hash:/etc/tern/transport: cannot open";
            return -1;
        }
        auto it = m.find(k);
        if (it == m.end()) return 0;
        v = it->second;
        return 1;
    };
}

}  // namespace

TEST_CASE("route: by domain class") {
    router r(base());
    struct row {
        const char* rcpt;
        const char* transport;
        const char* nexthop;
    } rows[] = {
        {"bob@localhost", "local", "bob@localhost"},
        {"Bob@Mail.Example.Test", "local", "bob@mail.example.test"},
        {"postmaster", "local", "postmaster"},
        {"alice@example.test", "virtual", "alice@example.test"},
        {"x@alias.example", "virtual", "x@alias.example"},
        {"carol@example.net", "smtp", "example.net"},
        {"carol@EXAMPLE.NET", "smtp", "example.net"},
    };
    for (auto& w : rows) {
        INFO(w.rcpt);
        auto rt = r.resolve(w.rcpt);
        CHECK(rt.what == route::kind::deliver);
        CHECK(rt.transport == w.transport);
        CHECK(rt.nexthop == w.nexthop);
    }
    auto d = r.resolve("Double-Bounce@example.test");
    CHECK(d.what == route::kind::discard);
}

TEST_CASE("route: relayhost applies to remote domains only") {
    auto s = base();
    s.relayhost = "[smarthost.example]:587";
    router r(s);
    CHECK(r.resolve("carol@example.net").nexthop == "[smarthost.example]:587");
    CHECK(r.resolve("alice@example.test").transport == "virtual");
}

TEST_CASE("route: transport_maps") {
    auto s = base();
    s.relayhost = "relay.example";
    s.transport_maps = table({
        {"special@example.net", "smtp:[10.0.0.1]:2525"},
        {"example.org", "relay:mx.example.org"},
        {".sub.example.com", "smtp:"},
        {"gone.example", "error:5.1.2 this domain is gone"},
        {"later.example", "error:4.3.2 not now"},
        {"bin.example", "discard:"},
        {"lmtp.example", "lmtp:inet:127.0.0.1:24"},
        {"home.example", "local:"},
        {"example.net", ":[192.0.2.9]"},
    });
    router r(s);
    auto a = r.resolve("special@example.net");
    CHECK(a.transport == "smtp");
    CHECK(a.nexthop == "[10.0.0.1]:2525");
    auto b = r.resolve("other@example.net");  // domain entry with empty transport
    CHECK(b.transport == "smtp");
    CHECK(b.nexthop == "[192.0.2.9]");
    auto c = r.resolve("x@example.org");
    CHECK(c.transport == "relay");
    CHECK(c.nexthop == "mx.example.org");
    CHECK(agent_for(c.transport) == "smtp");
    auto d = r.resolve("x@deep.sub.example.com");  // parent domain, empty next hop
    CHECK(d.transport == "smtp");
    CHECK(d.nexthop == "relay.example");
    auto e = r.resolve("x@gone.example");
    CHECK(e.what == route::kind::error);
    CHECK(e.status == "5.1.2");
    CHECK(e.text == "this domain is gone");
    auto f = r.resolve("x@later.example");
    CHECK(f.what == route::kind::defer);
    CHECK(f.status == "4.3.2");
    CHECK(r.resolve("x@bin.example").what == route::kind::discard);
    auto g = r.resolve("x@lmtp.example");
    CHECK(g.transport == "lmtp");
    CHECK(g.nexthop == "inet:127.0.0.1:24");
    CHECK(agent_for("lmtp") == "lmtp");
    auto h = r.resolve("joe@home.example");
    CHECK(h.transport == "local");
    CHECK(h.nexthop == "joe@home.example");
    // "*" catches the rest
    s.transport_maps = table({{"*", "smtp:[fallback.example]"}});
    router star(s);
    CHECK(star.resolve("a@b.example").nexthop == "[fallback.example]");
    // a broken table defers
    s.transport_maps = table({}, true);
    router broken(s);
    auto x = broken.resolve("a@b.example");
    CHECK(x.what == route::kind::defer);
    CHECK(x.status == "4.3.0");
}

TEST_CASE("route: virtual aliases go to local-delivery") {
    auto s = base();
    s.virtual_alias_maps = table({{"sales@example.net", "alice@example.test"}, {"@catch.example", "x"}});
    router r(s);
    auto a = r.resolve("sales@example.net");
    CHECK(a.transport == "virtual");
    CHECK(a.nexthop == "sales@example.net");
    CHECK(r.resolve("sales+tag@example.net").transport == "virtual");
    CHECK(r.resolve("anyone@catch.example").transport == "virtual");
    CHECK(r.resolve("other@example.net").transport == "smtp");
}

TEST_CASE("domain lists") {
    domain_list l({"Example.COM", ".parent.example", "trailing.example."});
    CHECK(l.matches("example.com"));
    CHECK(l.matches("EXAMPLE.com."));
    CHECK_FALSE(l.matches("sub.example.com"));
    CHECK(l.matches("a.parent.example"));
    CHECK_FALSE(l.matches("parent.example"));
    CHECK(l.matches("trailing.example"));
    domain_list t({"hash:/etc/tern/domains"});
    CHECK_FALSE(t.matches("x.example"));  // no lookup installed
    t.set_table_lookup([](const std::string& table, const std::string& key) {
        CHECK(table == "hash:/etc/tern/domains");
        return key == "x.example" ? 1 : key == "bad.example" ? -1 : 0;
    });
    CHECK(t.matches("X.Example"));
    bool err = false;
    CHECK_FALSE(t.matches("bad.example", &err));
    CHECK(err);
    CHECK(address_domain("a@B.Example") == "b.example");
    CHECK(address_domain("postmaster").empty());
    CHECK(address_local("a@b@c") == "a@b");
}
