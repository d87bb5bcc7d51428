// throttle.hpp - failed-login accounting for the auth service: per client
// address and per user, within a sliding window; decides how long to delay a
// failure reply and when to refuse outright. Bounded in memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>

namespace tern::auth {

class throttle {
public:
    using clock = std::chrono::steady_clock;
    struct settings {
        std::chrono::milliseconds base_delay{1000};
        std::chrono::milliseconds max_delay{8000};
        unsigned limit = 10;
        std::chrono::seconds window{600};
        size_t max_entries = 100000;
    };
    explicit throttle(settings s) : _s(s) {}

    // Failures for `key` within the window (0 when none or expired).
    unsigned failures(const std::string& key, clock::time_point now = clock::now());
    bool refused(const std::string& key, clock::time_point now = clock::now()) { return failures(key, now) >= _s.limit; }
    // Record a failure; returns the new count.
    unsigned fail(const std::string& key, clock::time_point now = clock::now());
    void reset(const std::string& key) { _m.erase(key); }
    // Delay before answering the n-th failure: base * 2^(n-1), capped.
    std::chrono::milliseconds delay_for(unsigned n) const;
    size_t size() const { return _m.size(); }

private:
    struct rec {
        unsigned count = 0;
        clock::time_point first;
    };
    void evict(clock::time_point now);
    settings _s;
    std::unordered_map<std::string, rec> _m;
};

}  // namespace tern::auth
