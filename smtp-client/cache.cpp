// cache.cpp - see cache.hpp.
#include "smtp-client/cache.hpp"

#include "lib/log.hpp"

namespace tern::smtp_client {

conn_cache::~conn_cache() { clear(); }

void conn_cache::put(std::unique_ptr<connection> c) {
    if (!c) return;
    auto age = std::chrono::steady_clock::now() - c->created();
    bool reusable = c->alive() && c->proto().idle() && _s.idle_limit.count() > 0 && _s.max_idle > 0 &&
                    age < _s.reuse_time && (_s.reuse_count == 0 || c->proto().transactions() < _s.reuse_count);
    if (!reusable) {
        retire(std::move(c));
        return;
    }
    if (_idle.size() >= _s.max_idle) {  // make room: the oldest goes
        auto old = std::move(_idle.front().c);
        _idle.pop_front();
        retire(std::move(old));
    }
    c->set_user(this);
    connection* raw = c.get();
    auto t = std::make_unique<timer>(_loop, [this, raw] { expire(raw); });
    t->start(_s.idle_limit);
    _idle.push_back(entry{std::move(c), std::move(t)});
}

std::unique_ptr<connection> conn_cache::take(bool by_dest, const std::string& key) {
    if (key.empty()) return nullptr;
    // most recently used first: it is the least likely to have been closed
    for (auto it = _idle.rbegin(); it != _idle.rend(); ++it) {
        const auto& p = it->c->params();
        if ((by_dest ? p.dest_key : p.addr_key) != key) continue;
        auto c = std::move(it->c);
        _idle.erase(std::next(it).base());
        c->set_user(nullptr);
        return c;
    }
    return nullptr;
}

std::unique_ptr<connection> conn_cache::take_dest(const std::string& key) { return take(true, key); }
std::unique_ptr<connection> conn_cache::take_addr(const std::string& key) { return take(false, key); }

void conn_cache::expire(connection* c) {
    for (auto it = _idle.begin(); it != _idle.end(); ++it) {
        if (it->c.get() != c) continue;
        auto conn = std::move(it->c);
        // the timer is running this callback: destroy it on the next turn
        _loop.defer_delete(std::move(it->expiry));
        _idle.erase(it);
        retire(std::move(conn));
        return;
    }
}

void conn_cache::retire(std::unique_ptr<connection> c) {
    if (!c) return;
    c->set_user(this);
    c->quit(_s.quit_limit);
    if (!c->quitting()) {  // closed at once (nothing to say): no callback follows
        _loop.defer_delete(std::move(c));
        return;
    }
    _retiring.push_back(std::move(c));
}

void conn_cache::conn_failed(connection& c, const session_failure&) {
    for (auto it = _idle.begin(); it != _idle.end(); ++it) {
        if (it->c.get() != &c) continue;
        log::debug("cached connection to %s closed", c.relay().c_str());
        _loop.defer_delete(std::move(it->c));
        _loop.defer_delete(std::move(it->expiry));
        _idle.erase(it);
        return;
    }
    for (auto it = _retiring.begin(); it != _retiring.end(); ++it) {
        if (it->get() != &c) continue;
        _loop.defer_delete(std::move(*it));
        _retiring.erase(it);
        return;
    }
}

void conn_cache::clear() {
    for (auto& e : _idle) e.c->drop();
    _idle.clear();
    for (auto& c : _retiring) c->drop();
    _retiring.clear();
}

}  // namespace tern::smtp_client
