// workers.hpp - a small thread pool for blocking work (crypt(3), fsync)
// whose completions run back on the event loop. Work functions must not
// touch loop state; completions run in the loop thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "lib/event.hpp"
#include "lib/fd.hpp"

namespace tern {

class worker_pool {
public:
    worker_pool(event_loop& loop, unsigned threads);
    ~worker_pool();
    worker_pool(const worker_pool&) = delete;
    worker_pool& operator=(const worker_pool&) = delete;

    // Run work() on a worker thread, then done() on the loop.
    void submit(std::function<void()> work, std::function<void()> done);
    size_t queued() const;

private:
    static void wake_cb(int, short, void* arg) noexcept;
    void run();

    struct job {
        std::function<void()> work, done;
    };
    event_loop& _loop;
    mutable std::mutex _mu;
    std::condition_variable _cv;
    std::deque<job> _todo;
    std::vector<job> _finished;
    bool _quit = false;
    unique_fd _wake_r, _wake_w;
    event_ptr _ev;
    std::vector<std::thread> _threads;
};

}  // namespace tern
