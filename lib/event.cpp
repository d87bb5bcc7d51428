// event.cpp - see event.hpp.
#include "lib/event.hpp"

#include <event2/event.h>

#include "lib/log.hpp"

namespace tern {

void event_base_deleter::operator()(event_base* b) const noexcept { event_base_free(b); }
void event_deleter::operator()(event* e) const noexcept { event_free(e); }

void guard(const char* where, const std::function<void()>& fn) noexcept {
    try {
        fn();
    } catch (const std::exception& e) {
        log::fatal("%s: unexpected exception: %s", where, e.what());
    } catch (...) {
        log::fatal("%s: unexpected exception", where);
    }
}

timer::timer(event_loop& loop, std::function<void()> fn) : _fn(std::move(fn)) {
    _ev.reset(event_new(loop.base(), -1, 0, &timer::trampoline, this));
    if (!_ev) log::fatal("event_new failed");
}

void timer::trampoline(int, short, void* arg) noexcept {
    auto self = static_cast<timer*>(arg);
    guard("timer", self->_fn);
}

void timer::start(std::chrono::milliseconds after, bool repeat) {
    if (!_ev) return;
    event_del(_ev.get());
    event_assign(_ev.get(), event_get_base(_ev.get()), -1, repeat ? EV_PERSIST : 0, &timer::trampoline, this);
    struct timeval tv;
    tv.tv_sec = after.count() / 1000;
    tv.tv_usec = (after.count() % 1000) * 1000;
    event_add(_ev.get(), &tv);
}

void timer::stop() {
    if (_ev) event_del(_ev.get());
}

bool timer::pending() const { return _ev && event_pending(_ev.get(), EV_TIMEOUT, nullptr); }

event_loop::event_loop() {
    _base.reset(event_base_new());
    if (!_base) log::fatal("event_base_new failed");
    _sweep.reset(event_new(_base.get(), -1, 0, &event_loop::sweep_cb, this));
}

event_loop::~event_loop() {
    _trash.clear();
    _signals.clear();
    _sweep.reset();
}

void event_loop::on_signal(int sig, std::function<void()> fn) {
    auto h = std::make_unique<sig_handler>();
    h->fn = std::move(fn);
    h->ev.reset(evsignal_new(_base.get(), sig, &event_loop::signal_cb, h.get()));
    if (!h->ev) log::fatal("evsignal_new failed");
    event_add(h->ev.get(), nullptr);
    _signals.push_back(std::move(h));
}

void event_loop::signal_cb(int, short, void* arg) noexcept {
    auto h = static_cast<sig_handler*>(arg);
    guard("signal", h->fn);
}

void event_loop::run() { event_base_dispatch(_base.get()); }
void event_loop::exit() { event_base_loopexit(_base.get(), nullptr); }

void event_loop::post(std::function<void()> fn) {
    _posted.push_back(std::move(fn));
    schedule_sweep();
}

void event_loop::schedule_sweep() {
    if (!event_pending(_sweep.get(), EV_TIMEOUT, nullptr)) {
        struct timeval tv{0, 0};
        event_add(_sweep.get(), &tv);
    }
}

void event_loop::sweep_cb(int, short, void* arg) noexcept {
    auto self = static_cast<event_loop*>(arg);
    auto trash = std::move(self->_trash);
    self->_trash.clear();
    trash.clear();
    auto posted = std::move(self->_posted);
    self->_posted.clear();
    // objects queued while running posted work are freed on the next turn
    for (auto& fn : posted) guard("posted", fn);
}

}  // namespace tern
