// sched.cpp - see sched.hpp.
//
// Concurrency window per destination, after Postfix's scheduler: a new
// destination starts at initial_destination_concurrency (or the limit, if
// lower); each request that proves the destination works widens the window
// by one up to the limit; each failure narrows it by one. When the window
// is down to one and failed_cohort_limit requests in a row failed, the
// destination is dead: everything queued for it is deferred without a try
// and new work for it is deferred at once until dead_time has passed.
#include "qmgr/sched.hpp"

#include <algorithm>

namespace tern::qmgr {

void scheduler::set_transport(const std::string& name, transport_settings s) {
    s.destination_limit = std::max(1, s.destination_limit);
    s.initial_concurrency = std::clamp(s.initial_concurrency, 1, s.destination_limit);
    s.recipient_limit = std::max(1, s.recipient_limit);
    s.failed_cohort_limit = std::max(1, s.failed_cohort_limit);
    s.transport_limit = std::max(1, s.transport_limit);
    s.retry_min_ms = std::max<int64_t>(1, s.retry_min_ms);
    s.retry_max_ms = std::max(s.retry_min_ms, s.retry_max_ms);
    _transports[name].s = std::move(s);
}

bool scheduler::has_transport(const std::string& name) const { return _transports.count(name) != 0; }

const transport_settings* scheduler::transport(const std::string& name) const {
    auto it = _transports.find(name);
    return it == _transports.end() ? nullptr : &it->second.s;
}

scheduler::destination& scheduler::dest(const std::string& transport, const std::string& nexthop,
                                        transport_state& t) {
    auto& p = _dests[{transport, nexthop}];
    if (!p) {
        p = std::make_unique<destination>();
        p->transport = transport;
        p->nexthop = nexthop;
        p->window = t.s.initial_concurrency;
    }
    return *p;
}

void scheduler::revive_if_due(destination& d, const transport_state& t, int64_t now_ms) {
    if (d.dead && now_ms >= d.dead_until) {
        d.dead = false;
        d.failures = 0;
        d.window = t.s.initial_concurrency;
        d.dead_reason.clear();
    }
}

size_t scheduler::enqueue(uint64_t msg, const std::string& transport, const std::string& nexthop,
                          std::vector<uint32_t> rcpts, int64_t now_ms) {
    auto tit = _transports.find(transport);
    if (tit == _transports.end() || rcpts.empty()) return 0;
    size_t made = 0;
    auto& t = tit->second;
    auto& d = dest(transport, nexthop, t);
    revive_if_due(d, t, now_ms);
    size_t lim = static_cast<size_t>(t.s.recipient_limit);
    for (size_t i = 0; i < rcpts.size(); i += lim) {
        entry e;
        e.msg = msg;
        e.transport = transport;
        e.nexthop = nexthop;
        e.rcpts.assign(rcpts.begin() + static_cast<ptrdiff_t>(i),
                       rcpts.begin() + static_cast<ptrdiff_t>(std::min(rcpts.size(), i + lim)));
        ++made;
        if (d.dead) {
            _deferred.push_back({std::move(e), d.dead_reason, d.dead_status});
        } else {
            d.todo.push_back(std::move(e));
            ++_queued;
        }
    }
    if (!d.todo.empty() && !d.in_ready) {
        t.rotation.push_back(&d);
        d.in_ready = true;
    }
    if (d.todo.empty() && d.active == 0 && !d.dead) gc(d);
    return made;
}

std::vector<entry> scheduler::start(int64_t now_ms, size_t max) {
    std::vector<entry> out;
    for (auto& [name, t] : _transports) {
        if (now_ms < t.paused_until) continue;
        // round-robin: take one entry from each destination in turn
        bool progress = true;
        while (progress && out.size() < max && t.active < t.s.transport_limit && !t.rotation.empty()) {
            progress = false;
            size_t n = t.rotation.size();
            for (size_t i = 0; i < n && out.size() < max && t.active < t.s.transport_limit; ++i) {
                destination* d = t.rotation.front();
                t.rotation.pop_front();
                revive_if_due(*d, t, now_ms);
                if (d->todo.empty()) {
                    d->in_ready = false;
                    gc(*d);
                    continue;
                }
                if (d->active >= static_cast<int>(d->window)) {
                    // full window: it rejoins the rotation when a request finishes
                    d->in_ready = false;
                    continue;
                }
                out.push_back(std::move(d->todo.front()));
                d->todo.pop_front();
                --_queued;
                ++_in_flight;
                ++d->active;
                ++t.active;
                progress = true;
                if (!d->todo.empty()) t.rotation.push_back(d);
                else d->in_ready = false;
            }
        }
    }
    return out;
}

void scheduler::kill(destination& d, const std::string& reason, const std::string& status, int64_t now_ms) {
    auto& t = _transports[d.transport];
    d.dead = true;
    d.dead_until = now_ms + t.s.dead_time_ms;
    d.dead_reason = reason.empty() ? "destination not reachable" : reason;
    d.dead_status = status.size() >= 5 && status[0] == '4' ? status : "4.4.1";
    for (auto& e : d.todo) _deferred.push_back({std::move(e), d.dead_reason, d.dead_status});
    _queued -= d.todo.size();
    d.todo.clear();
    if (d.in_ready) {
        t.rotation.remove(&d);
        d.in_ready = false;
    }
}

void scheduler::finished(const entry& e, feedback fb, int64_t now_ms, const std::string& reason,
                         const std::string& status) {
    auto tit = _transports.find(e.transport);
    auto dit = _dests.find({e.transport, e.nexthop});
    if (tit == _transports.end() || dit == _dests.end()) return;
    auto& t = tit->second;
    auto& d = *dit->second;
    --d.active;
    --t.active;
    --_in_flight;
    t.pause_ms = 0;  // the agent answered
    switch (fb) {
    case feedback::success:
        d.failures = 0;
        d.window = std::min<double>(t.s.destination_limit, d.window + 1);
        break;
    case feedback::failure:
        ++d.failures;
        if (d.window <= 1 && d.failures >= t.s.failed_cohort_limit) {
            if (!d.dead) kill(d, reason, status, now_ms);
        } else {
            d.window = std::max(1.0, d.window - 1);
        }
        break;
    case feedback::neutral:
        break;
    }
    if (!d.dead && !d.todo.empty() && !d.in_ready) {
        t.rotation.push_back(&d);
        d.in_ready = true;
    }
    gc(d);
}

void scheduler::requeue(const entry& e, int64_t now_ms, const std::string& why) {
    auto tit = _transports.find(e.transport);
    auto dit = _dests.find({e.transport, e.nexthop});
    if (tit == _transports.end() || dit == _dests.end()) return;
    auto& t = tit->second;
    auto& d = *dit->second;
    --d.active;
    --t.active;
    --_in_flight;
    t.pause_ms = t.pause_ms == 0 ? t.s.retry_min_ms : std::min(t.s.retry_max_ms, t.pause_ms * 2);
    t.paused_until = now_ms + t.pause_ms;
    t.pause_reason = why;
    if (d.dead) {
        _deferred.push_back({e, d.dead_reason, d.dead_status});
        gc(d);
        return;
    }
    d.todo.push_front(e);
    ++_queued;
    if (!d.in_ready) {
        t.rotation.push_front(&d);
        d.in_ready = true;
    }
}

std::vector<deferred_entry> scheduler::take_deferred() {
    std::vector<deferred_entry> out;
    out.swap(_deferred);
    return out;
}

void scheduler::drop_message(uint64_t msg) {
    std::vector<destination*> touched;
    for (auto& [k, d] : _dests) {
        size_t before = d->todo.size();
        std::erase_if(d->todo, [msg](const entry& e) { return e.msg == msg; });
        _queued -= before - d->todo.size();
        if (before != d->todo.size()) touched.push_back(d.get());
    }
    for (auto* d : touched) {
        if (d->todo.empty() && d->in_ready) {
            _transports[d->transport].rotation.remove(d);
            d->in_ready = false;
        }
        gc(*d);
    }
    std::erase_if(_deferred, [msg](const deferred_entry& x) { return x.e.msg == msg; });
}

void scheduler::unthrottle_all() {
    for (auto& [name, t] : _transports) {
        t.paused_until = 0;
        t.pause_ms = 0;
    }
    std::vector<destination*> dead;
    for (auto& [k, d] : _dests)
        if (d->dead) dead.push_back(d.get());
    for (auto* d : dead) {
        d->dead = false;
        d->failures = 0;
        d->window = _transports[d->transport].s.initial_concurrency;
        gc(*d);
    }
}

std::optional<int64_t> scheduler::next_wakeup(int64_t now_ms) const {
    std::optional<int64_t> best;
    auto consider = [&](int64_t t) {
        if (t > now_ms && (!best || t < *best)) best = t;
    };
    for (const auto& [name, t] : _transports)
        if (t.paused_until > now_ms && !t.rotation.empty()) consider(t.paused_until);
    return best;
}

void scheduler::gc(destination& d) {
    // a destination with nothing to remember is forgotten (memory stays
    // proportional to the active set, not to every site ever seen)
    if (d.active == 0 && d.todo.empty() && !d.dead && !d.in_ready) _dests.erase({d.transport, d.nexthop});
}

void scheduler::expire(int64_t now_ms) {
    std::vector<destination*> due;
    for (auto& [k, d] : _dests)
        if (d->dead && now_ms >= d->dead_until) due.push_back(d.get());
    for (auto* d : due) {
        revive_if_due(*d, _transports[d->transport], now_ms);
        gc(*d);
    }
}

sched_stats scheduler::stats() const { return {_queued, _in_flight, _dests.size()}; }

std::optional<scheduler::dest_view> scheduler::destination_state(const std::string& transport,
                                                                 const std::string& nexthop) const {
    auto it = _dests.find({transport, nexthop});
    if (it == _dests.end()) return std::nullopt;
    const auto& d = *it->second;
    return dest_view{d.window, d.active, d.todo.size(), d.dead};
}

bool scheduler::transport_paused(const std::string& transport, int64_t now_ms) const {
    auto it = _transports.find(transport);
    return it != _transports.end() && now_ms < it->second.paused_until;
}

std::string scheduler::transport_pause_reason(const std::string& transport) const {
    auto it = _transports.find(transport);
    return it == _transports.end() ? "" : it->second.pause_reason;
}

int64_t backoff_seconds(uint32_t attempts, int64_t min_backoff, int64_t max_backoff) {
    if (min_backoff < 1) min_backoff = 1;
    if (max_backoff < min_backoff) max_backoff = min_backoff;
    int64_t b = min_backoff;
    for (uint32_t i = 1; i < attempts && b < max_backoff; ++i) b *= 2;
    return std::min(b, max_backoff);
}

feedback classify_feedback(const std::vector<std::string>& statuses) {
    if (statuses.empty()) return feedback::neutral;
    bool all_network = true;
    for (const auto& s : statuses) {
        if (!s.empty() && (s[0] == '2' || s[0] == '5')) return feedback::success;
        if (s.rfind("4.4.", 0) != 0) all_network = false;
    }
    return all_network ? feedback::failure : feedback::neutral;
}

}  // namespace tern::qmgr
