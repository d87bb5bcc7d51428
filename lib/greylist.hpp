// greylist.hpp - greylisting state: (client network, sender, recipient)
// triplets and auto-whitelisted networks in a Berkeley DB shared_db
// (lib/db), so the state survives restarts and several processes may use it.
// Called by spamd's greylist policy check and by tern-spam.
// SECURITY: keys are built from client-supplied addresses; they are
// lower-cased, bounded in length and never interpreted. The database is a
// cache: one that cannot be read is moved aside and started afresh (logged),
// and any failure lets the mail through (fail open).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "lib/cidr.hpp"
#include "lib/db.hpp"

namespace tern {
class config;
}

namespace tern::greylist {

struct settings {
    int64_t delay = 300;            // seconds a new triplet waits
    int64_t retry_window = 2 * 86400;  // a retry later than first+window starts over
    int64_t max_age = 35 * 86400;   // passed entries unused this long are forgotten
    int64_t auto_whitelist = 5;     // passed triplets that whitelist a network (0: never)
    int ipv4_prefix = 24;
    int ipv6_prefix = 64;
    static settings from_config(const config& cfg);
};

// The network a client address stands for: "192.0.2.0/24", "2001:db8::/64".
std::string network_of(const ip_addr& client, int ipv4_prefix, int ipv6_prefix);
// An envelope address as greylisting compares it: lower case, "<>" for the
// null sender, a BATV tag ("prvs=TAG=user@dom") removed, at most 320 bytes.
std::string normalize_address(std::string_view addr);

enum class state { deferred, passed, whitelisted };

struct decision {
    state st = state::passed;
    int64_t wait = 0;     // deferred: seconds until a retry is accepted
    int64_t delayed = 0;  // passed for the first time: how long the triplet waited (else 0)
    bool recovered = false;  // the database was damaged and started afresh
};

class store {
public:
    store(std::string path, settings s, mode_t mode = 0600);
    const std::string& path() const { return _db.path(); }

    // The decision for a triplet at time `now` (seconds), recording it. On a
    // database failure: passed (fail open) with err set.
    decision check(const ip_addr& client, std::string_view sender, std::string_view recipient, int64_t now,
                   std::string& err);
    // Forget expired entries; the number removed, or nullopt with err.
    std::optional<size_t> expire(int64_t now, std::string& err);

    struct entry {
        std::string key;     // "T network sender recipient" or "N network"
        int64_t first = 0;   // T: first attempt
        int64_t last = 0;    // last seen
        int64_t count = 0;   // T: 1 once passed; N: passed triplets
    };
    bool for_each(const std::function<void(const entry&)>& fn, std::string& err) const;

private:
    // Run fn in an exclusive session; a database that cannot be opened or
    // read is moved aside to PATH.corrupt and fn is tried once more.
    bool with_session(const std::function<bool(db::shared_db::session&, std::string&)>& fn, bool& recovered,
                      std::string& err);
    db::shared_db _db;
    settings _s;
};

}  // namespace tern::greylist
