// params_spamd.cpp - main.cf parameters of spamd (policy service and content classifier) and tern-spam.
#include "lib/params.hpp"

#include <vector>

namespace tern {
namespace {
[[maybe_unused]] constexpr int64_t DAY = 86400;
using T = param_type;

// Rows: {name, type, default, one-line doc, min, max, time unit}.
const std::vector<param_def> rows = {
    // ---- Bayesian content classifier (lib/bayes, tern-spam; docs/bayes.md) ----
    {"bayes_directory", T::string, "$data_directory/bayes", "Directory of the token databases: global.db and user/<address>.db."},
    {"bayes_robs", T::string, "0.45", "Robinson's s: weight of bayes_robx for rarely seen tokens (a number, 0.0001..100)."},
    {"bayes_robx", T::string, "0.5", "Robinson's x: spam probability given to a token never seen (a number, 0.01..0.99)."},
    {"bayes_min_dev", T::string, "0.1", "Tokens whose probability is closer than this to 0.5 are ignored (a number, 0..0.49)."},
    {"bayes_spam_cutoff", T::string, "0.95", "Score at or above which a message is spam (a number, 0..1)."},
    {"bayes_ham_cutoff", T::string, "0.20", "Score below which a message is ham; between the cutoffs it is unsure (a number, 0..1)."},
    {"bayes_max_discriminators", T::integer, "150", "Use only this many tokens farthest from 0.5 (0: every token past bayes_min_dev).", 0, 100000},
    {"bayes_message_size_limit", T::size, "512k", "Bytes of a message the tokeniser reads; the rest is ignored.", 1024, 64 << 20},
    {"bayes_token_limit", T::integer, "5000", "Distinct tokens taken from one message.", 10, 1000000},
    {"bayes_cache_size", T::size, "64m", "Memory for cached per-user token databases (the global one is always cached).", 0, int64_t(1) << 40},
    // ---- end of the Bayesian classifier block ----
};

}  // namespace

std::span<const param_def> params_spamd() { return rows; }

}  // namespace tern
