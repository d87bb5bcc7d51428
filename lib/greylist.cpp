// greylist.cpp - see greylist.hpp. Records: "T NET SENDER RCPT" -> "first
// last passed" and "N NET" -> "first last passed-triplets", decimal text.
// SECURITY: keys are bounded (normalize_address); a damaged database is
// moved aside and recreated empty, and every failure answers "passed".
#include "lib/greylist.hpp"

#include <arpa/inet.h>

#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::greylist {

settings settings::from_config(const config& cfg) {
    settings s;
    s.delay = cfg.get_time("greylist_delay");
    s.retry_window = cfg.get_time("greylist_retry_window");
    s.max_age = cfg.get_time("greylist_max_age");
    s.auto_whitelist = cfg.get_int("greylist_auto_whitelist");
    s.ipv4_prefix = static_cast<int>(cfg.get_int("greylist_ipv4_prefix"));
    s.ipv6_prefix = static_cast<int>(cfg.get_int("greylist_ipv6_prefix"));
    return s;
}

std::string network_of(const ip_addr& client, int ipv4_prefix, int ipv6_prefix) {
    int prefix = client.family == AF_INET ? ipv4_prefix : ipv6_prefix;
    prefix = std::max(0, std::min(prefix, client.bits()));
    ip_addr base = client;
    for (int i = 0; i < 16; ++i) {
        int keep = std::max(0, std::min(8, prefix - i * 8));
        base.bytes[static_cast<size_t>(i)] &= static_cast<uint8_t>(keep == 0 ? 0 : 0xFF << (8 - keep));
    }
    return ip_net{base, prefix}.str();
}

std::string normalize_address(std::string_view addr) {
    if (addr.empty()) return "<>";
    std::string a = to_lower(addr);
    // BATV (prvs=TAG=user@domain): the tag changes with every message
    if (a.rfind("prvs=", 0) == 0) {
        auto eq = a.find('=', 5);
        auto at = a.rfind('@');
        if (eq != std::string::npos && at != std::string::npos && eq < at) a = a.substr(eq + 1);
    }
    for (auto& c : a)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) c = '?';  // keys are space separated
    if (a.size() > 320) a.resize(320);
    return a;
}

namespace {

struct record {
    int64_t first = 0, last = 0, count = 0;
};

std::optional<record> decode(std::string_view v) {
    auto parts = split_any(v, " ");
    if (parts.size() != 3) return std::nullopt;
    record r;
    auto a = parse_i64(parts[0]), b = parse_i64(parts[1]), c = parse_i64(parts[2]);
    if (!a || !b || !c) return std::nullopt;
    r.first = *a;
    r.last = *b;
    r.count = *c;
    return r;
}

std::string encode(const record& r) {
    return std::to_string(r.first) + " " + std::to_string(r.last) + " " + std::to_string(r.count);
}

// get + decode; a value that does not decode counts as missing
db::status get(db::shared_db::session& s, const std::string& key, record& r, std::string& err) {
    std::string v;
    auto st = s.get(key, v, err);
    if (st != db::status::found) return st;
    auto d = decode(v);
    if (!d) return db::status::not_found;
    r = *d;
    return st;
}

bool expired_triplet(const record& r, const settings& s, int64_t now) {
    if (r.count > 0) return now - r.last > s.max_age;
    return now - r.first > s.retry_window;
}

}  // namespace

store::store(std::string path, settings s, mode_t mode) : _db(std::move(path), db::db_type::btree, mode), _s(s) {}

bool store::with_session(const std::function<bool(db::shared_db::session&, std::string&)>& fn, bool& recovered,
                         std::string& err) {
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::string e;
        {
            auto s = _db.open(lock_mode::exclusive, true, e);
            if (!s && e.find(_db.path() + ".lock") != std::string::npos) {
                err = e;  // the lock file, not the database
                return false;
            }
            if (s && fn(*s, e) && s->commit(e)) return true;
        }  // the session (and its lock) ends here
        if (attempt == 1) {
            err = e;
            return false;
        }
        std::string aside = _db.path() + ".corrupt";
        log::warn("greylist database %s is damaged (%s): moved to %s, starting with an empty one", _db.path().c_str(),
                  e.c_str(), aside.c_str());
        std::string derr;
        if (!_db.discard(aside, derr)) {
            err = e + "; " + derr;
            return false;
        }
        recovered = true;
    }
    return false;
}

decision store::check(const ip_addr& client, std::string_view sender, std::string_view recipient, int64_t now,
                      std::string& err) {
    std::string net = network_of(client, _s.ipv4_prefix, _s.ipv6_prefix);
    std::string nkey = "N " + net;
    std::string tkey = "T " + net + " " + normalize_address(sender) + " " + normalize_address(recipient);
    decision d;
    bool recovered = false;
    bool ok = with_session(
        [&](db::shared_db::session& s, std::string& e) {
            d = decision{};
            record n;
            auto nst = get(s, nkey, n, e);
            if (nst == db::status::error) return false;
            if (nst == db::status::found && now - n.last > _s.max_age) {
                n = record{};
                nst = db::status::not_found;
            }
            if (_s.auto_whitelist > 0 && nst == db::status::found && n.count >= _s.auto_whitelist) {
                n.last = now;
                d.st = state::whitelisted;
                return s.put(nkey, encode(n), e);
            }
            record t;
            auto tst = get(s, tkey, t, e);
            if (tst == db::status::error) return false;
            bool fresh = tst != db::status::found || expired_triplet(t, _s, now);
            if (fresh) t = record{now, now, 0};
            if (t.count > 0) {
                t.last = now;
                d.st = state::passed;
                return s.put(tkey, encode(t), e);
            }
            int64_t waited = now - t.first;
            if (waited < _s.delay) {
                t.last = now;
                d.st = state::deferred;
                d.wait = _s.delay - waited;
                return s.put(tkey, encode(t), e);
            }
            // the first accepted retry
            t.count = 1;
            t.last = now;
            d.st = state::passed;
            d.delayed = waited;
            if (nst != db::status::found) n = record{now, now, 0};
            n.count += 1;
            n.last = now;
            return s.put(tkey, encode(t), e) && s.put(nkey, encode(n), e);
        },
        recovered, err);
    if (!ok) {
        d = decision{};
        d.st = state::passed;  // fail open
    }
    d.recovered = recovered;
    return d;
}

std::optional<size_t> store::expire(int64_t now, std::string& err) {
    size_t removed = 0;
    bool recovered = false;
    bool ok = with_session(
        [&](db::shared_db::session& s, std::string& e) {
            removed = 0;
            return s.scan(
                [&](std::string_view k, std::string_view v) {
                    auto r = decode(v);
                    bool old;
                    if (!r) old = true;
                    else if (k.rfind("T ", 0) == 0) old = expired_triplet(*r, _s, now);
                    else old = now - r->last > _s.max_age;
                    if (old) ++removed;
                    return old ? db::handle::step::erase : db::handle::step::keep;
                },
                e);
        },
        recovered, err);
    if (!ok) return std::nullopt;
    return removed;
}

bool store::for_each(const std::function<void(const entry&)>& fn, std::string& err) const {
    auto s = _db.open(lock_mode::shared, true, err);
    if (!s) return false;
    return s->scan(
        [&](std::string_view k, std::string_view v) {
            entry e;
            e.key = std::string(k);
            if (auto r = decode(v)) {
                e.first = r->first;
                e.last = r->last;
                e.count = r->count;
            }
            fn(e);
            return db::handle::step::keep;
        },
        err);
}

}  // namespace tern::greylist
