// event_test.cpp - timers, posted work, deferred deletion, signals.
#include <catch2/catch.hpp>

#include <csignal>
#include <unistd.h>

#include "lib/event.hpp"

using namespace tern;
using namespace std::chrono_literals;

TEST_CASE("timers fire once or repeatedly and stop") {
    event_loop loop;
    int once = 0, rep = 0;
    timer t1(loop, [&] { ++once; });
    timer t2(loop, [&] {
        if (++rep == 3) loop.exit();
    });
    t1.start(5ms);
    t2.start(10ms, true);
    CHECK(t1.pending());
    loop.run();
    CHECK(once == 1);
    CHECK(rep == 3);
    CHECK_FALSE(t1.pending());
    t2.stop();
    CHECK_FALSE(t2.pending());
}

TEST_CASE("post runs on the next turn; defer_delete frees later") {
    event_loop loop;
    struct probe {
        bool* flag = nullptr;
        ~probe() {
            if (flag) *flag = true;
        }
    };
    bool freed = false, ran = false;
    loop.post([&] {
        ran = true;
        auto p = std::make_unique<probe>();
        p->flag = &freed;
        loop.defer_delete(std::move(p));
        CHECK_FALSE(freed);  // not inside the caller
    });
    CHECK_FALSE(ran);
    timer stop(loop, [&] { loop.exit(); });
    stop.start(20ms);
    loop.run();
    CHECK(ran);
    CHECK(freed);
}

TEST_CASE("signals are delivered in the loop") {
    event_loop loop;
    int got = 0;
    loop.on_signal(SIGUSR1, [&] {
        ++got;
        loop.exit();
    });
    timer t(loop, [] { ::kill(::getpid(), SIGUSR1); });
    t.start(1ms);
    timer guard_timer(loop, [&] { loop.exit(); });
    guard_timer.start(2000ms);
    loop.run();
    CHECK(got == 1);
}
