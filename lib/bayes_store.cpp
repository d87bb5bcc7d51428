// bayes_store.cpp - token databases of the classifier: the Berkeley DB
// record format, loading a database into an in-memory snapshot, training
// in one locked write session, and recreating a corrupt database.
// Called by lib/bayes.cpp (classifier) and tern-spam.
// SECURITY: database files may be damaged or foreign; every record is
// checked before use and a bad file is moved aside and recreated (callers
// fail open). Files are created 0600 by the calling account.
//
// Records (btree, keys sorted):
//   "\x01version"  -> "1"
//   "\x01messages" -> 8 bytes: trained spam, trained ham (uint32 little-endian)
//   "\x02" + id    -> "s" or "h": a trained message and its class
//   token          -> 8 bytes: spam count, ham count (uint32 little-endian)
// Tokens never start with a control byte (token_set refuses them).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

#include "lib/bayes.hpp"
#include "lib/db.hpp"
#include "lib/fd.hpp"
#include "lib/log.hpp"
#include "lib/mime.hpp"
#include "lib/strutil.hpp"

namespace tern::bayes {
namespace {

constexpr std::string_view version_key = "\x01version";
constexpr std::string_view messages_key = "\x01messages";
constexpr std::string_view format_version = "1";
constexpr char seen_prefix = '\x02';

std::string encode(counts c) {
    std::string v(8, '\0');
    for (int i = 0; i < 4; i++) {
        v[i] = static_cast<char>((c.spam >> (8 * i)) & 0xff);
        v[4 + i] = static_cast<char>((c.ham >> (8 * i)) & 0xff);
    }
    return v;
}

bool decode(std::string_view v, counts& c) {
    if (v.size() != 8) return false;
    c = {};
    for (int i = 0; i < 4; i++) {
        c.spam |= uint32_t(static_cast<unsigned char>(v[i])) << (8 * i);
        c.ham |= uint32_t(static_cast<unsigned char>(v[4 + i])) << (8 * i);
    }
    return true;
}

// After a failed open: is the file there and readable, yet refused by
// Berkeley DB (not a database, wrong type, damaged metadata)? Lock,
// permission and resource problems are not corruption.
bool unusable_file(const std::string& path, const std::string& open_err) {
    if (open_err.find(".lock:") != std::string::npos) return false;
    for (int e : {EACCES, EPERM, EMFILE, ENFILE, ENOMEM, ENOSPC, EIO, EROFS})
        if (open_err.find(std::strerror(e)) != std::string::npos) return false;
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    return static_cast<bool>(fd);
}

// fcntl locks belong to the process, not to a descriptor: a second session
// on the same file in another thread would convert or, when it closes,
// drop the first one's lock. So the sessions of one process take turns.
std::mutex g_sessions;

}  // namespace

const char* class_name(message_class c) { return c == message_class::spam ? "spam" : "ham"; }

const char* outcome_name(learn_outcome o) {
    switch (o) {
    case learn_outcome::learned: return "learned";
    case learn_outcome::relearned: return "relearned";
    case learn_outcome::already: return "already learned";
    case learn_outcome::unlearned: return "unlearned";
    case learn_outcome::not_learned: break;
    }
    return "not learned";
}

// ---- snapshot -----------------------------------------------------------------

void snapshot::reserve(size_t n) {
    size_t cap = 16;
    while (cap < 2 * n) cap <<= 1;
    if (cap <= _slots.size()) return;
    std::vector<slot> old;
    old.swap(_slots);
    _slots.assign(cap, slot{});
    _count = 0;
    for (const auto& s : old)
        if (s.hash) insert(s.hash, s.c);
}

void snapshot::grow() { reserve(_slots.empty() ? 8 : _slots.size()); }

void snapshot::insert(uint64_t hash, counts c) {
    if (!hash) hash = 1;
    if ((_count + 1) * 2 > _slots.size()) grow();
    size_t mask = _slots.size() - 1;
    size_t i = hash & mask;
    while (_slots[i].hash && _slots[i].hash != hash) i = (i + 1) & mask;
    if (!_slots[i].hash) {
        _slots[i].hash = hash;
        ++_count;
    }
    // two tokens with the same 64-bit hash (practically never): counts add
    _slots[i].c.spam += c.spam;
    _slots[i].c.ham += c.ham;
}

counts snapshot::lookup(uint64_t hash) const {
    if (_slots.empty()) return {};
    if (!hash) hash = 1;
    size_t mask = _slots.size() - 1;
    size_t i = hash & mask;
    while (_slots[i].hash) {
        if (_slots[i].hash == hash) return _slots[i].c;
        i = (i + 1) & mask;
    }
    return {};
}

// ---- message identity -----------------------------------------------------------

std::string message_id(std::string_view msg) {
    header_limits hl;
    hl.max_fields = 300;
    auto hs = parse_header(msg, hl);
    // FNV-1a over the Message-ID and the body; carriage returns are skipped
    // because the copy smtpd saw has CRLF and the stored one LF
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](std::string_view s) {
        for (unsigned char c : s) {
            if (c == '\r') continue;
            h = (h ^ c) * 1099511628211ull;
        }
    };
    mix(hs.get("message-id").value_or(""));
    mix("\n");
    mix(msg.substr(std::min(hs.body_offset(), msg.size())));
    char hex[24];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
    return hex;
}

// ---- token_db ---------------------------------------------------------------------

bool token_db::recreate(const std::string& why) const {
    // Exclusive lock on the side file while the bad file moves aside, so
    // that no other process reads or writes it meanwhile.
    std::string lock_path = _path + ".lock";
    unique_fd lk(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lk || !lock_fd(lk.get(), lock_mode::exclusive, true)) {
        log::error("bayes: %s: corrupt token database (%s), cannot lock %s: %s", _path.c_str(), why.c_str(),
                   lock_path.c_str(), errno_text().c_str());
        return false;
    }
    std::string aside = _path + ".corrupt";
    if (::rename(_path.c_str(), aside.c_str()) != 0 && errno != ENOENT) {
        log::error("bayes: %s: corrupt token database (%s), cannot move it to %s: %s", _path.c_str(),
                   why.c_str(), aside.c_str(), errno_text().c_str());
        return false;
    }
    lk.reset();  // sessions below take the lock themselves
    db::shared_db sdb(_path, db::db_type::btree, 0600);
    std::string err;
    auto s = sdb.open(lock_mode::exclusive, true, err);
    if (!s || !s->put(version_key, format_version, err) || !s->put(messages_key, encode({}), err) ||
        !s->commit(err)) {
        log::error("bayes: %s: corrupt token database (%s) moved to %s; recreating it failed: %s", _path.c_str(),
                   why.c_str(), aside.c_str(), err.c_str());
        return false;
    }
    log::warn("bayes: %s: corrupt token database (%s): moved to %s and recreated empty", _path.c_str(), why.c_str(),
              aside.c_str());
    return true;
}

std::shared_ptr<const snapshot> token_db::load(std::string& err, bool wait, bool* busy) const {
    if (busy) *busy = false;
    std::unique_lock<std::mutex> turn(g_sessions, std::defer_lock);
    if (wait) {
        turn.lock();
    } else if (!turn.try_lock()) {
        if (busy) *busy = true;
        err = _path + ": busy";
        return nullptr;
    }
    struct stat st;
    if (::stat(dirname_of(_path).c_str(), &st) != 0 && errno == ENOENT)
        return std::make_shared<snapshot>();  // nothing trained yet
    db::shared_db sdb(_path, db::db_type::btree, 0600);
    std::string why;
    {
        auto s = sdb.open(lock_mode::shared, wait, err);
        if (!s) {
            if (busy && !wait && err.find(".lock:") != std::string::npos &&
                (err.find(std::strerror(EWOULDBLOCK)) != std::string::npos ||
                 err.find(std::strerror(EACCES)) != std::string::npos))
                *busy = true;
            if (!unusable_file(_path, err)) return nullptr;
            why = err;
        } else {
            auto snap = std::make_shared<snapshot>();
            bool has_version = false;
            size_t records = 0;
            std::string scan_err;
            bool ok = s->scan(
                [&](std::string_view k, std::string_view v) {
                    ++records;
                    counts c;
                    if (!k.empty() && k[0] == seen_prefix) {
                        if (v != "s" && v != "h") why = "bad training record";
                    } else if (k == version_key) {
                        has_version = v == format_version;
                        if (!has_version) why = "unknown format version";
                    } else if (k == messages_key) {
                        if (!decode(v, c)) why = "bad message counts";
                        snap->nspam = c.spam;
                        snap->nham = c.ham;
                    } else if (k.empty() || static_cast<unsigned char>(k[0]) < 0x20 || !decode(v, c)) {
                        why = "bad token record";
                    } else {
                        if (records == 1) snap->reserve(1024);
                        snap->insert(token_hash(k), c);
                    }
                    return why.empty() ? db::handle::step::keep : db::handle::step::stop;
                },
                scan_err);
            if (!ok) why = scan_err;
            if (why.empty() && records > 0 && !has_version) why = "no version record";
            if (why.empty()) return snap;
        }
    }
    recreate(why);
    err = _path + ": corrupt token database (" + why + "), recreated empty";
    return nullptr;
}

bool token_db::read_stats(stats& out, std::string& err) const {
    auto snap = load(err);
    if (!snap) return false;
    std::lock_guard<std::mutex> turn(g_sessions);
    out.nspam = snap->nspam;
    out.nham = snap->nham;
    out.tokens = snap->size();
    out.messages = 0;
    db::shared_db sdb(_path, db::db_type::btree, 0600);
    auto s = sdb.open(lock_mode::shared, true, err);
    if (!s) return false;
    return s->scan(
        [&](std::string_view k, std::string_view) {
            if (!k.empty() && k[0] == seen_prefix) ++out.messages;
            return db::handle::step::keep;
        },
        err);
}

bool token_db::apply(const std::vector<item>& items, std::vector<learn_outcome>& outcomes, std::string& err) const {
    std::lock_guard<std::mutex> turn(g_sessions);
    if (!make_dirs(dirname_of(_path), 0700)) {
        err = "mkdir " + dirname_of(_path) + ": " + errno_text();
        return false;
    }
    db::shared_db sdb(_path, db::db_type::btree, 0600);
    std::string why;
    {
        auto s = sdb.open(lock_mode::exclusive, true, err);
        if (!s) {
            if (!unusable_file(_path, err)) return false;
            why = err;
        } else {
            std::string v;
            bool fresh = false;
            auto st = s->get(version_key, v, err);
            if (st == db::status::error) {
                why = err;
            } else if (st == db::status::not_found) {
                // a new file has no records at all; anything else is foreign
                bool any = false;
                std::string scan_err;
                if (!s->scan([&](std::string_view, std::string_view) { any = true; return db::handle::step::stop; },
                             scan_err))
                    why = scan_err;
                else if (any)
                    why = "no version record";
                fresh = true;
            } else if (v != format_version) {
                why = "unknown format version";
            }
            counts totals;
            if (why.empty() && !fresh) {
                st = s->get(messages_key, v, err);
                if (st == db::status::error) why = err;
                else if (st == db::status::found && !decode(v, totals)) why = "bad message counts";
            }
            if (why.empty()) {
                // the decisions first (a batch may name one message twice)
                std::unordered_map<std::string, char> seen;  // "" = not trained, "s"/"h"
                std::map<std::string, std::pair<int64_t, int64_t>> delta;
                int64_t dspam = 0, dham = 0;
                for (const auto& it : items) {
                    std::string key = std::string(1, seen_prefix) + it.id;
                    char prior = 0;
                    if (auto f = seen.find(key); f != seen.end()) {
                        prior = f->second;
                    } else {
                        st = s->get(key, v, err);
                        if (st == db::status::error) {
                            why = err;
                            break;
                        }
                        if (st == db::status::found) prior = v == "s" ? 's' : v == "h" ? 'h' : 0;
                    }
                    char want = it.unlearn ? 0 : it.cls == message_class::spam ? 's' : 'h';
                    learn_outcome o;
                    if (it.unlearn) o = prior ? learn_outcome::unlearned : learn_outcome::not_learned;
                    else if (prior == want) o = learn_outcome::already;
                    else if (prior) o = learn_outcome::relearned;
                    else o = learn_outcome::learned;
                    outcomes.push_back(o);
                    if (prior == want) continue;
                    int64_t ds = (want == 's') - (prior == 's');
                    int64_t dh = (want == 'h') - (prior == 'h');
                    dspam += ds;
                    dham += dh;
                    for (const auto& t : it.tokens) {
                        auto& d = delta[t];
                        d.first += ds;
                        d.second += dh;
                    }
                    seen[key] = want;
                }
                // then the token records, in key order
                for (const auto& [tok, d] : delta) {
                    if (!why.empty()) break;
                    if (d.first == 0 && d.second == 0) continue;
                    counts c;
                    st = s->get(tok, v, err);
                    if (st == db::status::error) {
                        why = err;
                        break;
                    }
                    if (st == db::status::found && !decode(v, c)) {
                        why = "bad token record";
                        break;
                    }
                    auto clamp = [](int64_t x) { return uint32_t(std::clamp<int64_t>(x, 0, UINT32_MAX)); };
                    c.spam = clamp(int64_t(c.spam) + d.first);
                    c.ham = clamp(int64_t(c.ham) + d.second);
                    bool ok = (c.spam || c.ham) ? s->put(tok, encode(c), err)
                                                : s->del(tok, err) != db::status::error;
                    if (!ok) return false;  // a write error (disk full): not corruption
                }
                if (why.empty()) {
                    for (const auto& [key, cls] : seen) {
                        bool ok = cls ? s->put(key, std::string(1, cls), err)
                                      : s->del(key, err) != db::status::error;
                        if (!ok) return false;
                    }
                    auto clamp = [](int64_t x) { return uint32_t(std::clamp<int64_t>(x, 0, UINT32_MAX)); };
                    totals.spam = clamp(int64_t(totals.spam) + dspam);
                    totals.ham = clamp(int64_t(totals.ham) + dham);
                    if (!s->put(version_key, format_version, err) || !s->put(messages_key, encode(totals), err))
                        return false;
                    return s->commit(err);
                }
            }
        }
    }
    recreate(why);
    outcomes.clear();
    err = _path + ": corrupt token database (" + why + "), recreated empty";
    return false;
}

}  // namespace tern::bayes
