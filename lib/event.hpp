// event.hpp - RAII for libevent: the loop, timers, signals and deferred
// deletion. Every callback into daemon code goes through guard(), which keeps
// exceptions from crossing libevent: a tern::client_error closes only that
// session (the caller's catch), anything else is a logged fatal error.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <vector>

struct event_base;
struct event;

namespace tern {

struct event_base_deleter { void operator()(event_base* b) const noexcept; };
struct event_deleter { void operator()(event* e) const noexcept; };
using event_base_ptr = std::unique_ptr<event_base, event_base_deleter>;
using event_ptr = std::unique_ptr<event, event_deleter>;

// Thrown by session code for a problem caused by one client; callers close
// that session and carry on.
struct client_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Run fn; turn any exception into a fatal log line (a broken invariant in
// daemon code must not be swallowed, and must not unwind through C code).
void guard(const char* where, const std::function<void()>& fn) noexcept;

class event_loop;

// A one-shot or repeating timer owned by its user.
class timer {
public:
    timer() = default;
    timer(event_loop& loop, std::function<void()> fn);
    timer(const timer&) = delete;
    timer& operator=(const timer&) = delete;
    timer(timer&&) = delete;
    void start(std::chrono::milliseconds after, bool repeat = false);
    void stop();
    bool pending() const;

private:
    static void trampoline(int, short, void* arg) noexcept;
    event_ptr _ev;
    std::function<void()> _fn;
};

class event_loop {
public:
    event_loop();
    ~event_loop();
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    event_base* base() const { return _base.get(); }
    // Call fn on signal sig (in the loop, not in the handler).
    void on_signal(int sig, std::function<void()> fn);
    // Run until exit() or no more events.
    void run();
    void exit();

    // Destroy an object on the next loop turn, never inside its own callback.
    template <class T>
    void defer_delete(std::unique_ptr<T> p) {
        struct holder final : deletable {
            std::unique_ptr<T> p;
            explicit holder(std::unique_ptr<T> q) : p(std::move(q)) {}
        };
        _trash.push_back(std::make_unique<holder>(std::move(p)));
        schedule_sweep();
    }
    // Run fn on the next loop turn.
    void post(std::function<void()> fn);

private:
    struct deletable {
        virtual ~deletable() = default;
    };
    void schedule_sweep();
    static void sweep_cb(int, short, void* arg) noexcept;
    static void signal_cb(int, short, void* arg) noexcept;

    event_base_ptr _base;
    struct sig_handler {
        event_ptr ev;
        std::function<void()> fn;
    };
    std::vector<std::unique_ptr<sig_handler>> _signals;
    std::vector<std::unique_ptr<deletable>> _trash;
    std::vector<std::function<void()>> _posted;
    event_ptr _sweep;
};

}  // namespace tern
