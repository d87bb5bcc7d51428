// params_spamd.cpp - main.cf parameters of spamd (policy service and content classifier) and tern-spam.
#include "lib/params.hpp"

#include <vector>

namespace tern {
namespace {
[[maybe_unused]] constexpr int64_t DAY = 86400;
using T = param_type;

// Rows: {name, type, default, one-line doc, min, max, time unit}.
const std::vector<param_def> rows = {
    // ---- spamd: the policy service (private/spamd, Postfix policy delegation protocol)
    {"spamd_policy_checks", T::list, "spf, dnsbl, greylist", "Checks the policy service runs, in order: spf, dnsbl, greylist, fcrdns, helo."},
    {"spamd_client_whitelist", T::list, "$mynetworks", "Clients (CIDR or type:table, as mynetworks) that skip every policy check; SASL-authenticated clients always do."},
    {"spamd_idle_timeout", T::time, "600s", "How long spamd keeps an idle client connection (policy or content) open.", 1, DAY},
    {"spamd_policy_line_limit", T::size, "16384", "Longest attribute line spamd reads in a policy request.", 256, 1 << 20},
    {"spamd_policy_attribute_limit", T::integer, "200", "Most attributes in one policy request.", 10, 100000},
    {"spamd_fcrdns_action", T::string, "450 4.7.25 Client host rejected: cannot find your hostname", "Policy answer (Postfix access action) for a client whose address has no PTR name that resolves back to it (fcrdns check)."},
    {"spamd_reject_threshold", T::string, "", "Classifier score (0..1) at or above which smtpd refuses the message with 550 5.7.1; empty: never (spam is marked and filed)."},
    {"spamd_content_threads", T::integer, "2", "Worker threads of the content service (classification and training).", 1, 64},
    {"spamd_classify_size_limit", T::size, "512k", "Largest message smtpd holds in memory and sends to the content service (private/spamc); larger ones are queued unchecked, like spamc's size limit.", 1024, 1u << 30},

    // ---- SPF (RFC 7208)
    {"spf_pass_action", T::string, "prepend", "What the spf check does with an SPF pass: reject, defer, prepend (add Received-SPF) or ignore."},
    {"spf_fail_action", T::string, "reject", "What the spf check does with an SPF fail (reject: 550 5.7.23)."},
    {"spf_softfail_action", T::string, "prepend", "What the spf check does with an SPF softfail."},
    {"spf_neutral_action", T::string, "prepend", "What the spf check does with an SPF neutral result."},
    {"spf_none_action", T::string, "prepend", "What the spf check does when the domain has no SPF record."},
    {"spf_permerror_action", T::string, "prepend", "What the spf check does with an SPF permerror (reject: 550 5.7.24)."},
    {"spf_temperror_action", T::string, "defer", "What the spf check does with an SPF temperror (defer: 451 4.7.24)."},
    {"spf_default_explanation", T::string, "%{o} does not designate %{c} as a permitted sender", "Explanation for an SPF fail when the domain gives none (SPF macros allowed)."},
    {"spf_lookup_limit", T::integer, "10", "DNS-querying mechanisms and modifiers per SPF check (RFC 7208 4.6.4: 10).", 1, 100},
    {"spf_void_lookup_limit", T::integer, "2", "DNS lookups without an answer per SPF check before permerror (RFC 7208 4.6.4: 2).", 0, 100},
    {"spf_time_limit", T::time, "20s", "Longest time one SPF check may take before it ends in temperror.", 1, 600},

    // ---- DNS block and allow lists
    {"dnsbl_sites", T::list, "", "DNS lists asked about the client: domain[=filter][*weight], e.g. zen.example=127.0.0.[2..11]*3; a negative weight makes an allow list."},
    {"dnsbl_threshold", T::integer, "1", "Combined DNSBL score at which the dnsbl check acts (dnsbl_action).", -1000000, 1000000},
    {"dnsbl_whitelist_threshold", T::integer, "0", "A client whose combined score is at or below this (when negative) skips the checks after dnsbl.", -1000000, 0},
    {"dnsbl_action", T::string, "reject", "What the dnsbl check does at the threshold: reject (554 5.7.1), defer (450 4.7.1) or prepend (an X-Spam-DNSBL header for the classifier)."},
    {"dnsbl_score_weight", T::string, "0.05", "Added to the classifier's score (0..1) per point of an X-Spam-DNSBL score (dnsbl_action = prepend)."},
    {"dnsbl_cache_size", T::integer, "10000", "DNSBL answers spamd keeps in memory (each for its DNS TTL).", 0, 10000000},
    {"dnsbl_max_ttl", T::time, "3600s", "Longest time a DNSBL answer is kept, whatever its TTL.", 0, DAY},

    // ---- greylisting
    {"greylist_delay", T::time, "300s", "How long a new (client network, sender, recipient) triplet is deferred before a retry is accepted.", 0, 7 * DAY},
    {"greylist_retry_window", T::time, "2d", "How long after the first attempt a retry still counts; later retries start over.", 60, 365 * DAY},
    {"greylist_max_age", T::time, "35d", "Passed triplets and auto-whitelisted networks not seen for this long are forgotten.", 3600, 3650 * DAY},
    {"greylist_auto_whitelist", T::integer, "5", "Triplets a client network must pass before it skips greylisting (0: never).", 0, 1000000},
    {"greylist_database", T::string, "$data_directory/greylist.db", "Berkeley DB file of greylisting state (a cache: recreated empty when damaged)."},
    {"greylist_client_whitelist", T::list, "", "Clients (CIDR or type:table) never greylisted."},
    {"greylist_recipient_whitelist", T::list, "", "Tables of recipients (address, domain or localpart@) never greylisted."},
    {"greylist_sender_whitelist", T::list, "", "Tables of senders (address, domain or localpart@) never greylisted."},
    {"greylist_ipv4_prefix", T::integer, "24", "IPv4 network size a greylisting triplet stands for.", 8, 32},
    {"greylist_ipv6_prefix", T::integer, "64", "IPv6 network size a greylisting triplet stands for.", 16, 128},

    // ---- Bayesian content classifier (lib/bayes, tern-spam; docs/bayes.md) ----
    {"bayes_directory", T::string, "$data_directory/bayes", "Directory of the token databases: global.db and user/<address>.db."},
    {"bayes_robs", T::string, "0.45", "Robinson's s: weight of bayes_robx for rarely seen tokens (a number, 0.0001..100)."},
    {"bayes_robx", T::string, "0.5", "Robinson's x: spam probability given to a token never seen (a number, 0.01..0.99)."},
    {"bayes_min_dev", T::string, "0.1", "Tokens whose probability is closer than this to 0.5 are ignored (a number, 0..0.49)."},
    {"bayes_spam_cutoff", T::string, "0.80", "Score at or above which a message is spam (a number, 0..1)."},
    {"bayes_ham_cutoff", T::string, "0.20", "Score below which a message is ham; between the cutoffs it is unsure (a number, 0..1)."},
    {"bayes_max_discriminators", T::integer, "60", "Use only this many tokens farthest from 0.5 (0: every token past bayes_min_dev).", 0, 100000},
    {"bayes_message_size_limit", T::size, "512k", "Bytes of a message the tokeniser reads; the rest is ignored.", 1024, 64 << 20},
    {"bayes_token_limit", T::integer, "5000", "Distinct tokens taken from one message.", 10, 1000000},
    {"bayes_cache_size", T::size, "64m", "Memory for cached per-user token databases (the global one is always cached).", 0, int64_t(1) << 40},
    // ---- end of the Bayesian classifier block ----
};

}  // namespace

std::span<const param_def> params_spamd() { return rows; }

}  // namespace tern
