// bayes.cpp - the classifier object: bayes_* settings from main.cf, the
// database of each user, a cache of database snapshots, classification
// (global + user counts combined) and training.
// Called by spamd (private/spamc) and tern-spam.
// SECURITY: user names arrive from the network (imapd's learn requests)
// and become file names only through database_path(); messages are
// untrusted and go through the bounded tokeniser.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sys/stat.h>
#include <time.h>

#include "lib/bayes.hpp"
#include "lib/fd.hpp"
#include "lib/strutil.hpp"

namespace tern::bayes {
namespace {

int64_t now_ns() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// File time stamps tick coarsely: two writes within one tick can leave the
// same mtime. A snapshot loaded this soon after a write is reloaded once
// when the window has passed.
constexpr int64_t settle_ns = 200 * 1000000LL;

bool read_fraction(const config& cfg, const char* name, double lo, double hi, double& out, std::string& err) {
    std::string raw = cfg.get(name);
    std::string v(trim(raw));
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(v.c_str(), &end);
    if (v.empty() || errno != 0 || end != v.c_str() + v.size() || !std::isfinite(d) || d < lo || d > hi) {
        char range[64];
        std::snprintf(range, sizeof range, "%g..%g", lo, hi);
        err = std::string(name) + " = " + v + ": expected a number in " + range;
        return false;
    }
    out = d;
    return true;
}

const std::shared_ptr<const snapshot>& empty_snapshot() {
    static const std::shared_ptr<const snapshot> empty = std::make_shared<snapshot>();
    return empty;
}

}  // namespace

bool settings::from_config(const config& cfg, settings& out, std::string& err) {
    settings s;
    s.directory = cfg.get("bayes_directory");
    if (s.directory.empty()) {
        err = "bayes_directory is empty";
        return false;
    }
    if (!read_fraction(cfg, "bayes_robs", 0.0001, 100, s.score.robs, err) ||
        !read_fraction(cfg, "bayes_robx", 0.01, 0.99, s.score.robx, err) ||
        !read_fraction(cfg, "bayes_min_dev", 0, 0.49, s.score.min_dev, err) ||
        !read_fraction(cfg, "bayes_spam_cutoff", 0, 1, s.score.spam_cutoff, err) ||
        !read_fraction(cfg, "bayes_ham_cutoff", 0, 1, s.score.ham_cutoff, err))
        return false;
    if (s.score.ham_cutoff > s.score.spam_cutoff) {
        err = "bayes_ham_cutoff is above bayes_spam_cutoff";
        return false;
    }
    s.score.max_discriminators = static_cast<size_t>(cfg.get_int("bayes_max_discriminators"));
    s.limits.max_bytes = static_cast<size_t>(cfg.get_size("bayes_message_size_limit"));
    s.limits.max_tokens = static_cast<size_t>(cfg.get_int("bayes_token_limit"));
    s.cache_bytes = static_cast<size_t>(cfg.get_size("bayes_cache_size"));
    out = std::move(s);
    return true;
}

std::string database_path(const std::string& directory, std::string_view user) {
    if (user.empty()) return directory + "/global.db";
    std::string name;
    for (unsigned char c : user) {
        if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c - 'A' + 'a');
        bool safe = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '+' || c == '@' ||
                    c == '-' || (c == '.' && !name.empty());
        if (safe) {
            name += static_cast<char>(c);
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            name += hex;
        }
    }
    if (name.size() > 200) {
        // keep names within NAME_MAX: a readable prefix and a hash of the whole
        char hex[20];
        std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(token_hash(name)));
        name = name.substr(0, 150) + "%" + hex;
    }
    return directory + "/user/" + name + ".db";
}

classifier::classifier(settings s) : _s(std::move(s)) {}

void classifier::flush_cache() {
    std::lock_guard<std::mutex> g(_cache_mu);
    _cache.clear();
}

bool classifier::snapshot_for(const std::string& path, std::shared_ptr<const snapshot>& out, std::string& err) {
    struct stat st;
    bool exists = ::stat(path.c_str(), &st) == 0;
    if (!exists && errno != ENOENT) {
        err = "stat " + path + ": " + errno_text();
        return false;
    }
    int64_t now = now_ns();
    int64_t mtime = exists ? int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec : 0;
    int64_t ctime = exists ? int64_t(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec : 0;
    auto same = [&](const cached& c) {
        return c.stamp_ino == (exists ? uint64_t(st.st_ino) : 0) && c.stamp_size == (exists ? st.st_size : -1) &&
               c.stamp_mtime_ns == mtime && c.stamp_ctime_ns == ctime;
    };
    std::shared_ptr<const snapshot> stale;
    {
        std::lock_guard<std::mutex> g(_cache_mu);
        for (auto& c : _cache) {
            if (c.path != path) continue;
            c.last_use = ++_use_clock;
            // settled, or still inside the window (the reload waits for its end)
            if (same(c) && (c.loaded_ns >= mtime + settle_ns || now < mtime + settle_ns)) {
                out = c.snap;
                return true;
            }
            stale = c.snap;
            break;
        }
    }
    std::shared_ptr<const snapshot> snap;
    if (!exists) {
        snap = empty_snapshot();
    } else {
        // while a training session writes, classify with the copy we have
        // rather than wait for it
        bool busy = false;
        snap = token_db(path).load(err, !stale, &busy);
        if (!snap && busy) {
            out = stale;
            return true;
        }
        if (!snap) return false;
    }
    std::lock_guard<std::mutex> g(_cache_mu);
    auto it = std::find_if(_cache.begin(), _cache.end(), [&](const cached& c) { return c.path == path; });
    if (it == _cache.end()) it = _cache.insert(_cache.end(), cached{});
    it->path = path;
    it->snap = snap;
    it->stamp_ino = exists ? uint64_t(st.st_ino) : 0;
    it->stamp_size = exists ? st.st_size : -1;
    it->stamp_mtime_ns = mtime;
    it->stamp_ctime_ns = ctime;
    it->loaded_ns = now;
    it->last_use = ++_use_clock;
    // evict the least recently used user databases beyond the budget; the
    // global database and the one just loaded always stay
    std::string global = database_path(_s.directory, "");
    for (;;) {
        size_t total = 0;
        for (const auto& c : _cache)
            if (c.path != global) total += c.snap->memory();
        if (total <= _s.cache_bytes) break;
        auto victim = _cache.end();
        for (auto c = _cache.begin(); c != _cache.end(); ++c)
            if (c->path != global && c->path != path && (victim == _cache.end() || c->last_use < victim->last_use))
                victim = c;
        if (victim == _cache.end()) break;
        _cache.erase(victim);
    }
    out = snap;
    return true;
}

bool classifier::classify_tokens(const token_set& tokens, std::string_view user, classification& out,
                                 std::string& err) {
    out = {};
    std::shared_ptr<const snapshot> global, personal;
    if (!snapshot_for(database_path(_s.directory, ""), global, err)) return false;
    if (!user.empty() && !snapshot_for(database_path(_s.directory, user), personal, err)) return false;
    uint32_t nspam = global->nspam, nham = global->nham;
    if (personal) {
        nspam += personal->nspam;
        nham += personal->nham;
    }
    std::vector<double> probs;
    probs.reserve(tokens.size());
    for (uint64_t h : tokens.hashes()) {
        counts c = global->lookup(h);
        if (personal) {
            counts u = personal->lookup(h);
            c.spam += u.spam;
            c.ham += u.ham;
        }
        double f = token_probability(c, nspam, nham, _s.score);
        if (std::fabs(f - 0.5) >= _s.score.min_dev) probs.push_back(f);
    }
    size_t keep = _s.score.max_discriminators;
    if (keep && probs.size() > keep) {
        std::nth_element(probs.begin(), probs.begin() + keep, probs.end(),
                         [](double a, double b) { return std::fabs(a - 0.5) > std::fabs(b - 0.5); });
        probs.resize(keep);
    }
    out.tokens = tokens.size();
    out.used = probs.size();
    out.nspam = nspam;
    out.nham = nham;
    out.score = combine(probs);
    out.result = verdict_for(out.score, _s.score);
    return true;
}

bool classifier::classify(std::string_view msg, std::string_view user, classification& out, std::string& err) {
    token_set tokens(_s.limits.max_tokens, false);
    tokenize(msg, tokens, _s.limits);
    return classify_tokens(tokens, user, out, err);
}

bool classifier::train(std::string_view msg, std::string_view user, message_class c, bool unlearn,
                       learn_outcome& outcome, std::string& err) {
    token_set tokens(_s.limits.max_tokens, true);
    tokenize(msg, tokens, _s.limits);
    token_db::item it;
    it.id = message_id(msg);
    it.tokens = tokens.texts();
    it.cls = c;
    it.unlearn = unlearn;
    std::vector<learn_outcome> outcomes;
    std::string path = database_path(_s.directory, user);
    if (!token_db(path).apply({it}, outcomes, err) || outcomes.empty()) return false;
    // our own training counts at once (another process's within settle_ns)
    std::lock_guard<std::mutex> g(_cache_mu);
    std::erase_if(_cache, [&](const cached& c) { return c.path == path; });
    outcome = outcomes.front();
    return true;
}

bool classifier::learn(std::string_view msg, std::string_view user, message_class c, learn_outcome& outcome,
                       std::string& err) {
    return train(msg, user, c, false, outcome, err);
}

bool classifier::unlearn(std::string_view msg, std::string_view user, learn_outcome& outcome, std::string& err) {
    return train(msg, user, message_class::spam, true, outcome, err);
}

}  // namespace tern::bayes
