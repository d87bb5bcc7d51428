// cache.hpp - the connection cache: idle SMTP sessions kept open for
// smtp_connection_cache_time_limit so that the next message to the same
// destination (next hop) or the same server address skips connect, greeting,
// EHLO and TLS. A session is checked with RSET before it is used again, and
// is retired after smtp_connection_reuse_time_limit or
// smtp_connection_reuse_count_limit. Retiring sends QUIT and waits for it to
// be written.
#pragma once

#include <chrono>
#include <list>
#include <memory>
#include <string>

#include "lib/event.hpp"
#include "smtp-client/connection.hpp"

namespace tern::smtp_client {

struct cache_settings {
    std::chrono::seconds idle_limit{2};     // 0: no caching
    std::chrono::seconds reuse_time{300};
    unsigned reuse_count = 0;               // 0: no limit
    size_t max_idle = 100;
    std::chrono::seconds quit_limit{20};
};

class conn_cache final : public connection_user {
public:
    conn_cache(event_loop& loop, cache_settings s) : _loop(loop), _s(s) {}
    ~conn_cache() override;

    // Keep an idle session, or retire it when it may not be reused.
    void put(std::unique_ptr<connection> c);
    // An idle session saved under this destination or address key, else null.
    std::unique_ptr<connection> take_dest(const std::string& key);
    std::unique_ptr<connection> take_addr(const std::string& key);
    // QUIT and close (sessions nobody needs any more).
    void retire(std::unique_ptr<connection> c);
    // Close everything at once (stop).
    void clear();
    size_t idle() const { return _idle.size(); }
    size_t retiring() const { return _retiring.size(); }

    // connection_user: an idle session died or a retired one finished.
    void conn_ready(connection&) override {}
    void conn_transaction_done(connection&) override {}
    void conn_failed(connection& c, const session_failure& f) override;

private:
    struct entry {
        std::unique_ptr<connection> c;
        std::unique_ptr<timer> expiry;
    };
    std::unique_ptr<connection> take(bool by_dest, const std::string& key);
    void expire(connection* c);

    event_loop& _loop;
    cache_settings _s;
    std::list<entry> _idle;  // most recently used at the back
    std::list<std::unique_ptr<connection>> _retiring;
};

}  // namespace tern::smtp_client
