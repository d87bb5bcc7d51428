// workers_test.cpp - thread pool completions come back on the loop thread.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "lib/workers.hpp"

using namespace tern;
using namespace std::chrono_literals;

TEST_CASE("work runs on threads, completions on the loop") {
    event_loop loop;
    worker_pool pool(loop, 3);
    auto loop_thread = std::this_thread::get_id();
    std::atomic<int> worked{0};
    int done = 0;
    bool all_on_loop = true;
    for (int i = 0; i < 50; ++i) {
        pool.submit([&] { ++worked; },
                    [&] {
                        all_on_loop = all_on_loop && std::this_thread::get_id() == loop_thread;
                        if (++done == 50) loop.exit();
                    });
    }
    timer limit(loop, [&] { loop.exit(); });
    limit.start(5000ms);
    loop.run();
    CHECK(worked == 50);
    CHECK(done == 50);
    CHECK(all_on_loop);
}
