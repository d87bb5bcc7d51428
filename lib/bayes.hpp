// bayes.hpp - the Bayesian content classifier: tokeniser, Robinson's f(w)
// with Fisher's chi-square combining, token databases (one global, one per
// user) in Berkeley DB, training and classification.
// Called by spamd (private/spamc: classify and learn requests) and by
// tern-spam (learn, classify). See docs/bayes.md.
// SECURITY: reads untrusted message bytes (through lib/mime, bounded by
// tokenizer_limits) and user names from the network (mapped to safe file
// names, never used as paths as given). Database files are created 0600.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "lib/config.hpp"

namespace tern::bayes {

// ---------------------------------------------------------------------------
// Tokens

struct tokenizer_limits {
    size_t max_bytes = 512 * 1024;  // bytes of the message read (the rest is ignored)
    size_t max_tokens = 5000;       // distinct tokens kept per message
};

// 64-bit hash of a token (the in-memory key; databases store the text).
uint64_t token_hash(std::string_view token);

// The distinct tokens of one message, in the order first seen.
class token_set {
public:
    explicit token_set(size_t max_tokens = 5000, bool keep_text = true);
    // False when the token was already there or the set is full (or the
    // token is empty, too long, or holds control bytes).
    bool add(std::string_view token);
    bool full() const { return _hashes.size() >= _max; }
    size_t size() const { return _hashes.size(); }
    const std::vector<uint64_t>& hashes() const { return _hashes; }
    const std::vector<std::string>& texts() const { return _texts; }  // empty unless keep_text
    void clear();

    static constexpr size_t max_token_bytes = 100;

private:
    bool insert_hash(uint64_t h);
    size_t _max;
    bool _keep_text;
    std::vector<uint64_t> _hashes;
    std::vector<std::string> _texts;
    std::vector<uint64_t> _table;  // open addressing over hashes; 0 = empty
};

// Adds the tokens of a message (header fields with their field-name
// prefixes, MIME structure, decoded text of every text part, URLs) to out.
// Never fails; work is bounded by lim and out's capacity.
void tokenize(std::string_view msg, token_set& out, const tokenizer_limits& lim = {});

// ---------------------------------------------------------------------------
// Scoring

struct score_params {
    double robs = 0.45;        // Robinson's s: strength of the prior robx
    double robx = 0.5;         // f(w) of a token never seen
    double min_dev = 0.1;      // tokens with |f(w) - 0.5| below this are ignored
    double spam_cutoff = 0.80; // score >= this: spam
    double ham_cutoff = 0.20;  // score < this: ham; in between: unsure
    size_t max_discriminators = 60;   // use only the N most extreme tokens (0: all)
};

enum class verdict { ham, unsure, spam };
const char* verdict_name(verdict v);

// Counts of one token: training messages of each class that held it.
struct counts {
    uint32_t spam = 0;
    uint32_t ham = 0;
};

// Robinson's f(w) for a token seen in spam/ham of nspam/nham training messages.
double token_probability(counts c, uint32_t nspam, uint32_t nham, const score_params& p);

// Upper tail of the chi-square distribution with dof (even) degrees of
// freedom at x2: the probability that a chi-square variable exceeds x2.
double chi2_q(double x2, unsigned dof);

// Fisher-Robinson combining of token probabilities (those already past
// min_dev): (1 + S - H) / 2 with S, H the chi-square spam and ham
// indicators. An empty list gives 0.5.
double combine(const std::vector<double>& probs);

verdict verdict_for(double score, const score_params& p);

// ---------------------------------------------------------------------------
// Token databases

// An immutable in-memory copy of one token database, for fast lookups.
class snapshot {
public:
    snapshot() = default;
    counts lookup(uint64_t hash) const;
    uint32_t nspam = 0, nham = 0;  // training messages
    size_t size() const { return _count; }
    size_t memory() const { return _slots.size() * sizeof(slot); }
    void reserve(size_t n);
    void insert(uint64_t hash, counts c);  // adds to an existing entry

private:
    struct slot {
        uint64_t hash = 0;  // 0: empty (hash 0 is stored as 1)
        counts c;
    };
    void grow();
    std::vector<slot> _slots;
    size_t _count = 0;
};

enum class message_class { spam, ham };
const char* class_name(message_class c);

// What a training request did.
enum class learn_outcome {
    learned,      // counted as the requested class
    relearned,    // had been counted as the other class: moved over
    already,      // had been counted as this class already: nothing changed
    unlearned,    // unlearn: removed
    not_learned,  // unlearn of a message that was never learned
};
const char* outcome_name(learn_outcome o);

// One token database file: version and message-count records, one record
// per token (spam and ham counts) and one per trained message (its class,
// so that a reclassified message is moved, not counted twice).
// A database that cannot be read (not Berkeley DB, damaged pages, foreign
// records) is moved aside to PATH.corrupt and recreated empty, with a log
// line; the call that found it fails so that the caller fails open.
class token_db {
public:
    explicit token_db(std::string path) : _path(std::move(path)) {}
    const std::string& path() const { return _path; }

    // Reads the whole database into memory. wait=false: give up at once
    // (*busy set) while a writer holds the database.
    std::shared_ptr<const snapshot> load(std::string& err, bool wait = true, bool* busy = nullptr) const;

    // One trained message inside a batch.
    struct item {
        std::string id;  // message identity (message_id())
        std::vector<std::string> tokens;
        message_class cls = message_class::spam;
        bool unlearn = false;
    };
    // Applies several training requests in one locked write session (the
    // database and its directory are created when missing); the outcomes
    // are appended in order.
    bool apply(const std::vector<item>& items, std::vector<learn_outcome>& outcomes, std::string& err) const;

    // Total records, for `tern-spam` reports and tests.
    struct stats {
        uint32_t nspam = 0, nham = 0;
        size_t tokens = 0, messages = 0;
    };
    bool read_stats(stats& out, std::string& err) const;

private:
    bool recreate(const std::string& why) const;
    std::string _path;
};

// Identity of a message for training records: a hash of its Message-ID
// and its body (not the other header fields, and without carriage
// returns), so that the copy smtpd classified and the copy imapd moves,
// with more trace fields, are the same message.
std::string message_id(std::string_view msg);

// ---------------------------------------------------------------------------
// The classifier: settings from main.cf, databases, cache.

struct settings {
    std::string directory;  // bayes_directory
    score_params score;
    tokenizer_limits limits;
    size_t cache_bytes = 64 << 20;  // bayes_cache_size: memory for cached user databases

    // Reads the bayes_* parameters; false with a reason for a bad value.
    static bool from_config(const config& cfg, settings& out, std::string& err);
};

struct classification {
    double score = 0.5;
    verdict result = verdict::unsure;
    size_t tokens = 0;  // distinct tokens in the message
    size_t used = 0;    // tokens that counted
    uint32_t nspam = 0, nham = 0;  // training messages behind the score (global + user)
};

// Path of the database of a user ("" = the global one) under directory.
// User names are lower-cased and every byte outside [a-z0-9._+@-] is
// %-encoded, so no name can leave directory/user/.
std::string database_path(const std::string& directory, std::string_view user);

// Thread-safe: classification works from cached snapshots, reloaded when
// the file changes (training by this object is seen at once, training by
// another process within 0.2 s: file time stamps are coarse). Database
// sessions of one process take turns (fcntl locks are per process).
class classifier {
public:
    explicit classifier(settings s);
    const settings& config() const { return _s; }

    // Classifies a message with the global database plus the user's (user
    // "" = global only). False with err when a database could not be read
    // (the caller fails open).
    bool classify(std::string_view msg, std::string_view user, classification& out, std::string& err);
    // Classifies an already tokenised message.
    bool classify_tokens(const token_set& tokens, std::string_view user, classification& out, std::string& err);

    // Trains the user's database (user "" = global) with one message.
    bool learn(std::string_view msg, std::string_view user, message_class c, learn_outcome& outcome,
               std::string& err);
    // Removes the training of one message from the user's database.
    bool unlearn(std::string_view msg, std::string_view user, learn_outcome& outcome, std::string& err);

    // Drops every cached snapshot.
    void flush_cache();

private:
    struct cached {
        std::string path;
        std::shared_ptr<const snapshot> snap;
        int64_t stamp_mtime_ns = 0, stamp_ctime_ns = 0;
        uint64_t stamp_ino = 0;
        int64_t stamp_size = -1;
        int64_t loaded_ns = 0;  // wall clock when loaded
        uint64_t last_use = 0;
    };
    bool snapshot_for(const std::string& path, std::shared_ptr<const snapshot>& out, std::string& err);
    bool train(std::string_view msg, std::string_view user, message_class c, bool unlearn,
               learn_outcome& outcome, std::string& err);

    settings _s;
    std::mutex _cache_mu;
    std::vector<cached> _cache;
    uint64_t _use_clock = 0;
};

}  // namespace tern::bayes
