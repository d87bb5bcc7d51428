// greylist_test.cpp - lib/greylist: triplet life cycle (defer, pass after
// the delay, retry window, expiry), auto-whitelisting of networks, key
// normalisation, state kept across store objects (restarts), and a
// damaged database moved aside and recreated with greylisting going on.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fd.hpp"
#include "lib/greylist.hpp"

using namespace tern;
using namespace tern::greylist;

namespace {

ip_addr ip(const char* s) {
    auto a = parse_ip_addr(s);
    REQUIRE(a);
    return *a;
}

struct tmpdir {
    std::string path;
    tmpdir() {
        char t[] = "/tmp/tern-greylist.XXXXXX";
        REQUIRE(mkdtemp(t));
        path = t;
    }
    ~tmpdir() { (void)std::system(("rm -rf '" + path + "'").c_str()); }
};

settings quick() {
    settings s;
    s.delay = 300;
    s.retry_window = 3600;
    s.max_age = 86400;
    s.auto_whitelist = 3;
    return s;
}

}  // namespace

TEST_CASE("greylist: networks and addresses", "[greylist]") {
    CHECK(network_of(ip("192.0.2.77"), 24, 64) == "192.0.2.0/24");
    CHECK(network_of(ip("192.0.2.77"), 32, 64) == "192.0.2.77/32");
    CHECK(network_of(ip("192.0.2.77"), 20, 64) == "192.0.0.0/20");
    CHECK(network_of(ip("2001:db8:1:2:3:4:5:6"), 24, 64) == "2001:db8:1:2::/64");
    CHECK(network_of(ip("::ffff:192.0.2.77"), 24, 64) == "192.0.2.0/24");
    CHECK(normalize_address("") == "<>");
    CHECK(normalize_address("Alice@Example.COM") == "alice@example.com");
    CHECK(normalize_address("prvs=1234abcd=bob@example.org") == "bob@example.org");
    CHECK(normalize_address("a b@x") == "a?b@x");
    CHECK(normalize_address(std::string(1000, 'x')).size() == 320);
}

TEST_CASE("greylist: a triplet waits, passes, and is remembered", "[greylist]") {
    tmpdir d;
    std::string db = d.path + "/greylist.db";
    std::string err;
    int64_t t0 = 1000000;
    {
        store s(db, quick());
        auto r = s.check(ip("192.0.2.10"), "a@example.org", "b@example.net", t0, err);
        CHECK(err.empty());
        CHECK(r.st == state::deferred);
        CHECK(r.wait == 300);
        r = s.check(ip("192.0.2.11"), "A@example.org", "B@example.net", t0 + 100, err);  // same /24, case
        CHECK(r.st == state::deferred);
        CHECK(r.wait == 200);
        // another recipient is another triplet
        CHECK(s.check(ip("192.0.2.10"), "a@example.org", "c@example.net", t0 + 100, err).st == state::deferred);
    }
    {
        store s(db, quick());  // a restart: the state is on disk
        auto r = s.check(ip("192.0.2.10"), "a@example.org", "b@example.net", t0 + 301, err);
        CHECK(r.st == state::passed);
        CHECK(r.delayed == 301);
        r = s.check(ip("192.0.2.10"), "a@example.org", "b@example.net", t0 + 400, err);
        CHECK(r.st == state::passed);
        CHECK(r.delayed == 0);
        // another network is not the same triplet
        CHECK(s.check(ip("192.0.3.10"), "a@example.org", "b@example.net", t0 + 400, err).st == state::deferred);
    }
}

TEST_CASE("greylist: retry window and expiry", "[greylist]") {
    tmpdir d;
    store s(d.path + "/g.db", quick());
    std::string err;
    int64_t t0 = 5000000;
    CHECK(s.check(ip("198.51.100.1"), "x@a.example", "y@b.example", t0, err).st == state::deferred);
    // retried after the window: starts over
    auto r = s.check(ip("198.51.100.1"), "x@a.example", "y@b.example", t0 + 3601, err);
    CHECK(r.st == state::deferred);
    CHECK(r.wait == 300);
    CHECK(s.check(ip("198.51.100.1"), "x@a.example", "y@b.example", t0 + 3601 + 300, err).st == state::passed);
    // unused for longer than max_age: forgotten
    int64_t late = t0 + 3601 + 300 + 86401;
    auto removed = s.expire(late, err);
    REQUIRE(removed);
    CHECK(*removed == 2);  // the triplet and its network entry
    CHECK(s.check(ip("198.51.100.1"), "x@a.example", "y@b.example", late, err).st == state::deferred);
}

TEST_CASE("greylist: a network that passed N triplets is whitelisted", "[greylist]") {
    tmpdir d;
    store s(d.path + "/g.db", quick());
    std::string err;
    int64_t t = 7000000;
    for (int i = 0; i < 3; ++i) {
        std::string rcpt = "r" + std::to_string(i) + "@example.net";
        CHECK(s.check(ip("203.0.113.5"), "s@example.org", rcpt, t, err).st == state::deferred);
        CHECK(s.check(ip("203.0.113.5"), "s@example.org", rcpt, t + 300, err).st == state::passed);
    }
    auto r = s.check(ip("203.0.113.99"), "new@example.org", "new@example.net", t + 400, err);
    CHECK(r.st == state::whitelisted);
    size_t n = 0, t_entries = 0;
    REQUIRE(s.for_each(
        [&](const store::entry& e) {
            ++n;
            if (e.key.rfind("T ", 0) == 0) ++t_entries;
            if (e.key == "N 203.0.113.0/24") CHECK(e.count == 3);
        },
        err));
    CHECK(t_entries == 3);
    CHECK(n == 4);
}

TEST_CASE("greylist: a damaged database is moved aside and greylisting goes on", "[greylist]") {
    tmpdir d;
    std::string db = d.path + "/g.db";
    std::string junk(8192, '\x5a');
    REQUIRE(write_file_atomic(db, junk, 0600));
    store s(db, quick());
    std::string err;
    auto r = s.check(ip("192.0.2.1"), "a@x.example", "b@y.example", 100, err);
    CHECK(r.recovered);
    CHECK(err.empty());
    CHECK(r.st == state::deferred);  // the fresh database works at once
    struct stat st;
    CHECK(::stat((db + ".corrupt").c_str(), &st) == 0);
    CHECK(s.check(ip("192.0.2.1"), "a@x.example", "b@y.example", 500, err).st == state::passed);

    // a database that cannot be made to work at all: fail open
    tmpdir d2;
    REQUIRE(::mkdir((d2.path + "/sub").c_str(), 0700) == 0);
    store bad(d2.path + "/sub/missing-dir/g.db", quick());
    r = bad.check(ip("192.0.2.1"), "a@x.example", "b@y.example", 100, err);
    CHECK(r.st == state::passed);
    CHECK_FALSE(err.empty());
}
