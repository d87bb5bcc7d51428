// throttle.cpp - see throttle.hpp.
#include "auth/throttle.hpp"

namespace tern::auth {

unsigned throttle::failures(const std::string& key, clock::time_point now) {
    auto it = _m.find(key);
    if (it == _m.end()) return 0;
    if (now - it->second.first > _s.window) {
        _m.erase(it);
        return 0;
    }
    return it->second.count;
}

unsigned throttle::fail(const std::string& key, clock::time_point now) {
    if (_m.size() >= _s.max_entries) evict(now);
    auto& r = _m[key];
    if (r.count == 0 || now - r.first > _s.window) {
        r.count = 0;
        r.first = now;
    }
    return ++r.count;
}

std::chrono::milliseconds throttle::delay_for(unsigned n) const {
    if (n == 0) return std::chrono::milliseconds(0);
    auto d = _s.base_delay;
    for (unsigned i = 1; i < n && d < _s.max_delay; ++i) d *= 2;
    return d < _s.max_delay ? d : _s.max_delay;
}

void throttle::evict(clock::time_point now) {
    // drop expired entries; if still full, drop everything older than half the window
    for (auto it = _m.begin(); it != _m.end();)
        it = now - it->second.first > _s.window ? _m.erase(it) : std::next(it);
    if (_m.size() < _s.max_entries) return;
    for (auto it = _m.begin(); it != _m.end();)
        it = now - it->second.first > _s.window / 2 ? _m.erase(it) : std::next(it);
    if (_m.size() >= _s.max_entries) _m.clear();
}

}  // namespace tern::auth
