// workers.cpp - see workers.hpp. Completion is signalled through a pipe that
// the loop watches, so no libevent call is ever made from a worker thread.
#include "lib/workers.hpp"

#include <event2/event.h>
#include <fcntl.h>
#include <unistd.h>

#include "lib/log.hpp"

namespace tern {

worker_pool::worker_pool(event_loop& loop, unsigned threads) : _loop(loop) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) log::fatal("pipe: %s", errno_text().c_str());
    _wake_r.reset(p[0]);
    _wake_w.reset(p[1]);
    _ev.reset(event_new(loop.base(), _wake_r.get(), EV_READ | EV_PERSIST, &worker_pool::wake_cb, this));
    event_add(_ev.get(), nullptr);
    if (threads == 0) threads = 1;
    for (unsigned i = 0; i < threads; ++i) _threads.emplace_back([this] { run(); });
}

worker_pool::~worker_pool() {
    {
        std::lock_guard<std::mutex> g(_mu);
        _quit = true;
    }
    _cv.notify_all();
    for (auto& t : _threads) t.join();
}

void worker_pool::submit(std::function<void()> work, std::function<void()> done) {
    {
        std::lock_guard<std::mutex> g(_mu);
        _todo.push_back(job{std::move(work), std::move(done)});
    }
    _cv.notify_one();
}

size_t worker_pool::queued() const {
    std::lock_guard<std::mutex> g(_mu);
    return _todo.size();
}

void worker_pool::run() {
    for (;;) {
        job j;
        {
            std::unique_lock<std::mutex> lk(_mu);
            _cv.wait(lk, [this] { return _quit || !_todo.empty(); });
            if (_quit && _todo.empty()) return;
            j = std::move(_todo.front());
            _todo.pop_front();
        }
        try {
            j.work();
        } catch (...) {
            // work functions report failure through their own captured state
        }
        {
            std::lock_guard<std::mutex> g(_mu);
            _finished.push_back(std::move(j));
        }
        char c = 1;
        ssize_t w = ::write(_wake_w.get(), &c, 1);
        (void)w;  // a full pipe already means "wake up"
    }
}

void worker_pool::wake_cb(int fd, short, void* arg) noexcept {
    auto self = static_cast<worker_pool*>(arg);
    char buf[256];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
    std::vector<job> done;
    {
        std::lock_guard<std::mutex> g(self->_mu);
        done.swap(self->_finished);
    }
    for (auto& j : done)
        if (j.done) guard("worker completion", j.done);
}

}  // namespace tern
