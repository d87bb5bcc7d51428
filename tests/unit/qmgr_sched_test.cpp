// qmgr_sched_test.cpp - the qmgr scheduler: recipient batching, slow start,
// back-off to a dead destination, transport limits and pauses, round-robin,
// and the retry arithmetic.
#include <catch2/catch.hpp>

#include <set>

#include "qmgr/sched.hpp"

using namespace tern::qmgr;

namespace {

transport_settings smtp_settings() {
    transport_settings s;
    s.agent = "smtp";
    s.destination_limit = 4;
    s.initial_concurrency = 2;
    s.recipient_limit = 3;
    s.failed_cohort_limit = 1;
    s.transport_limit = 10;
    s.dead_time_ms = 1000;
    s.retry_min_ms = 100;
    s.retry_max_ms = 400;
    return s;
}

std::vector<uint32_t> iota(uint32_t n) {
    std::vector<uint32_t> v;
    for (uint32_t i = 0; i < n; ++i) v.push_back(i);
    return v;
}

}  // namespace

TEST_CASE("sched: recipients are split by the recipient limit") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    s.enqueue(1, "smtp", "example.net", iota(7), 0);
    CHECK(s.stats().queued == 3);
    auto started = s.start(0);
    // initial window is 2
    REQUIRE(started.size() == 2);
    CHECK(started[0].rcpts == std::vector<uint32_t>{0, 1, 2});
    CHECK(started[1].rcpts == std::vector<uint32_t>{3, 4, 5});
    CHECK(started[0].nexthop == "example.net");
    CHECK(s.stats().in_flight == 2);
    // a finished success widens the window to 3: the last entry starts
    s.finished(started[0], feedback::success, 1);
    auto more = s.start(1);
    REQUIRE(more.size() == 1);
    CHECK(more[0].rcpts == std::vector<uint32_t>{6});
    CHECK(s.destination_state("smtp", "example.net")->window == 3);
}

TEST_CASE("sched: unknown transports and empty lists are ignored") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    s.enqueue(1, "nosuch", "x", iota(2), 0);
    s.enqueue(1, "smtp", "x", {}, 0);
    CHECK(s.stats().queued == 0);
    CHECK(s.start(0).empty());
}

TEST_CASE("sched: slow start grows to the limit and no further") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    for (uint64_t m = 0; m < 40; ++m) s.enqueue(m, "smtp", "d", {0}, 0);
    size_t max_in_flight = 0;
    std::vector<entry> running = s.start(0);
    int64_t t = 0;
    while (!running.empty()) {
        max_in_flight = std::max(max_in_flight, running.size());
        auto e = running.front();
        running.erase(running.begin());
        s.finished(e, feedback::success, ++t);
        for (auto& n : s.start(t)) running.push_back(n);
    }
    CHECK(max_in_flight == 4);
    CHECK(s.stats().queued == 0);
    CHECK(s.stats().in_flight == 0);
    // an idle destination is forgotten
    CHECK(s.stats().destinations == 0);
}

TEST_CASE("sched: failures shrink the window, then the destination dies") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    for (uint64_t m = 0; m < 10; ++m) s.enqueue(m, "smtp", "down.example", {0}, 0);
    auto a = s.start(0);
    REQUIRE(a.size() == 2);
    s.finished(a[0], feedback::failure, 1, "connect refused", "4.4.1");
    CHECK(s.destination_state("smtp", "down.example")->window == 1);
    CHECK_FALSE(s.destination_state("smtp", "down.example")->dead);
    // window 1 with one request still running: nothing new starts
    CHECK(s.start(1).empty());
    s.finished(a[1], feedback::failure, 2, "connection timed out", "4.4.2");
    auto st = s.destination_state("smtp", "down.example");
    REQUIRE(st);
    CHECK(st->dead);
    auto d = s.take_deferred();
    CHECK(d.size() == 8);
    for (auto& x : d) {
        CHECK(x.reason == "connection timed out");
        CHECK(x.status == "4.4.2");
    }
    CHECK(s.stats().queued == 0);
    // new work for a dead destination is deferred at once
    s.enqueue(99, "smtp", "down.example", {0, 1}, 3);
    auto d2 = s.take_deferred();
    REQUIRE(d2.size() == 1);
    CHECK(d2[0].e.msg == 99);
    CHECK(s.take_deferred().empty());
    // other destinations are not affected
    s.enqueue(100, "smtp", "up.example", {0}, 3);
    CHECK(s.start(3).size() == 1);
    // after the dead time it is tried again, with the initial window
    s.enqueue(101, "smtp", "down.example", {0}, 1003);
    CHECK(s.take_deferred().empty());
    auto again = s.start(1003);
    REQUIRE(again.size() == 1);
    CHECK(again[0].msg == 101);
}

TEST_CASE("sched: neutral feedback does not change the window") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    s.enqueue(1, "smtp", "d", {0}, 0);
    s.enqueue(2, "smtp", "d", {0}, 0);
    s.enqueue(3, "smtp", "d", {0}, 0);
    auto a = s.start(0);
    REQUIRE(a.size() == 2);
    s.finished(a[0], feedback::neutral, 1);
    CHECK(s.destination_state("smtp", "d")->window == 2);
    CHECK(s.start(1).size() == 1);
}

TEST_CASE("sched: the transport limit caps all destinations together") {
    scheduler s;
    auto ts = smtp_settings();
    ts.transport_limit = 3;
    s.set_transport("smtp", ts);
    for (uint64_t m = 0; m < 5; ++m) s.enqueue(m, "smtp", "d" + std::to_string(m), {0}, 0);
    auto a = s.start(0);
    CHECK(a.size() == 3);
    std::set<std::string> hops;
    for (auto& e : a) hops.insert(e.nexthop);
    CHECK(hops.size() == 3);  // round robin: one per destination
    s.finished(a[0], feedback::success, 1);
    CHECK(s.start(1).size() == 1);
    CHECK(s.start(1).empty());
}

TEST_CASE("sched: round robin interleaves destinations") {
    scheduler s;
    auto ts = smtp_settings();
    ts.transport_limit = 100;
    s.set_transport("smtp", ts);
    for (uint64_t m = 0; m < 2; ++m) s.enqueue(m, "smtp", "a", {0}, 0);
    for (uint64_t m = 10; m < 12; ++m) s.enqueue(m, "smtp", "b", {0}, 0);
    auto a = s.start(0, 2);
    REQUIRE(a.size() == 2);
    CHECK(a[0].nexthop != a[1].nexthop);
}

TEST_CASE("sched: an unreachable agent pauses the transport with doubling delays") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    s.enqueue(1, "smtp", "d", {0}, 0);
    auto a = s.start(0);
    REQUIRE(a.size() == 1);
    s.requeue(a[0], 0, "connect to private/smtp: No such file");
    CHECK(s.transport_paused("smtp", 50));
    CHECK(s.transport_pause_reason("smtp").find("private/smtp") != std::string::npos);
    CHECK(s.start(50).empty());
    CHECK(s.next_wakeup(50) == 100);
    auto b = s.start(100);
    REQUIRE(b.size() == 1);
    CHECK(b[0].msg == 1);
    s.requeue(b[0], 100, "again");
    CHECK(s.next_wakeup(100) == 300);  // 200 ms pause
    auto c = s.start(300);
    REQUIRE(c.size() == 1);
    s.requeue(c[0], 300, "again");
    auto d = s.start(700);  // 400 ms (the maximum)
    REQUIRE(d.size() == 1);
    s.requeue(d[0], 700, "again");
    CHECK(s.next_wakeup(700) == 1100);
    auto e = s.start(1100);
    REQUIRE(e.size() == 1);
    // an answer resets the pause
    s.finished(e[0], feedback::success, 1100);
    s.enqueue(2, "smtp", "d", {0}, 1100);
    auto f = s.start(1100);
    REQUIRE(f.size() == 1);
    s.requeue(f[0], 1100, "x");
    CHECK(s.next_wakeup(1100) == 1200);
}

TEST_CASE("sched: drop_message and unthrottle") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    s.enqueue(1, "smtp", "d", iota(9), 0);
    s.enqueue(2, "smtp", "d", iota(2), 0);
    CHECK(s.stats().queued == 4);
    s.drop_message(1);
    CHECK(s.stats().queued == 1);
    auto a = s.start(0);
    REQUIRE(a.size() == 1);
    CHECK(a[0].msg == 2);
    // kill a destination, then revive it with a flush
    s.enqueue(3, "smtp", "x", {0}, 0);
    s.enqueue(4, "smtp", "x", {0}, 0);
    s.enqueue(5, "smtp", "x", {0}, 0);
    auto b = s.start(0);
    REQUIRE(b.size() == 2);
    s.finished(b[0], feedback::failure, 0, "no", "4.4.1");
    s.finished(b[1], feedback::failure, 0, "no", "4.4.1");
    CHECK(s.destination_state("smtp", "x")->dead);
    CHECK(s.take_deferred().size() == 1);
    s.unthrottle_all();
    s.enqueue(6, "smtp", "x", {0}, 1);
    CHECK(s.take_deferred().empty());
    CHECK(s.start(1).size() == 1);
}

TEST_CASE("sched: expire forgets dead destinations after their time") {
    scheduler s;
    s.set_transport("smtp", smtp_settings());
    s.enqueue(1, "smtp", "x", {0}, 0);
    s.enqueue(2, "smtp", "x", {0}, 0);
    auto a = s.start(0);
    REQUIRE(a.size() == 2);
    s.finished(a[0], feedback::failure, 0, "no", "4.4.1");
    s.finished(a[1], feedback::failure, 0, "no", "4.4.1");
    REQUIRE(s.destination_state("smtp", "x")->dead);
    CHECK(s.stats().destinations == 1);
    s.expire(500);
    CHECK(s.stats().destinations == 1);
    s.expire(1000);
    CHECK(s.stats().destinations == 0);
}

TEST_CASE("backoff doubles between the minimum and the maximum") {
    struct row {
        uint32_t attempts;
        int64_t expect;
    } rows[] = {{0, 300}, {1, 300}, {2, 600}, {3, 1200}, {4, 2400}, {5, 4000}, {50, 4000}};
    for (auto r : rows) CHECK(backoff_seconds(r.attempts, 300, 4000) == r.expect);
    CHECK(backoff_seconds(3, 0, 0) == 1);
    CHECK(backoff_seconds(3, 10, 5) == 10);
}

TEST_CASE("feedback classification") {
    using v = std::vector<std::string>;
    CHECK(classify_feedback(v{}) == feedback::neutral);
    CHECK(classify_feedback(v{"2.0.0"}) == feedback::success);
    CHECK(classify_feedback(v{"4.4.1", "5.1.1"}) == feedback::success);
    CHECK(classify_feedback(v{"4.4.1", "4.4.2"}) == feedback::failure);
    CHECK(classify_feedback(v{"4.4.1", "4.2.2"}) == feedback::neutral);
    CHECK(classify_feedback(v{"4.2.2"}) == feedback::neutral);
}
