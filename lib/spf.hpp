// spf.hpp - Sender Policy Framework (RFC 7208): the record parser and the
// macro expander as pure functions, and check_host() as an asynchronous
// evaluation on lib/dns. Called by spamd's policy service and by
// `tern-spam spf`; see docs/spamd.md for the decisions.
// SECURITY: records, explanations and DNS answers come from the network and
// the sender, HELO name and client address from the SMTP client. Every
// parser here is bounded and strict; the evaluation is bounded by the
// 10-lookup and 2-void-lookup limits, 10 MX/PTR names per mechanism, a
// depth limit and a time limit, and never crashes on a missing answer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/cidr.hpp"

namespace tern {
class config;
class event_loop;
namespace dns {
class resolver;
}
}  // namespace tern

namespace tern::spf {

enum class result { none, neutral, pass, fail, softfail, temperror, permerror };
const char* result_name(result r);  // "pass", "fail", ...
std::optional<result> parse_result_name(std::string_view s);

// ---- records (RFC 7208 4.5, 4.6, 5, 6, 12) ----------------------------------

enum class mech_kind { all, include, a, mx, ptr, ip4, ip6, exists };
const char* mech_name(mech_kind k);

struct mechanism {
    result qualifier = result::pass;  // pass (+), fail (-), softfail (~), neutral (?)
    mech_kind kind = mech_kind::all;
    std::string domain_spec;  // macro-string; empty for a/mx/ptr means <domain>
    int cidr4 = 32;           // a, mx, ip4
    int cidr6 = 128;          // a, mx, ip6
    ip_addr net;              // ip4, ip6: the network (host bits may be set)
    std::string text;         // the term as written, for logs and headers
};

struct modifier {
    std::string name;  // lower case
    std::string value;
};

struct record {
    std::vector<mechanism> mechanisms;
    std::optional<std::string> redirect;  // domain-spec
    std::optional<std::string> exp;       // domain-spec
    std::vector<modifier> unknown;        // other modifiers (syntax checked, ignored)
};

// Does this TXT string claim to be an SPF record ("v=spf1" in any case,
// followed by a space or nothing)?
bool is_spf_record(std::string_view txt);

// Parse a whole record (with its "v=spf1"). Any syntax error anywhere is an
// error (RFC 7208 4.6): nullopt with err saying what and where. Also an error:
// bytes outside printable ASCII, exp or redirect given twice, a domain-spec
// that does not end in a macro or a valid top label, c/r/t macros outside
// explanations, CIDR lengths out of range or with leading zeros.
std::optional<record> parse_record(std::string_view text, std::string& err, size_t max_terms = 100);

// ---- macros (RFC 7208 7) ------------------------------------------------------

enum class macro_use { domain, explanation };

struct macro_input {
    std::string sender;     // <sender>: local@domain (postmaster@helo for a null sender)
    std::string domain;     // the current <domain>
    ip_addr ip;             // the client (IPv4-mapped IPv6 already IPv4)
    std::string helo;       // HELO/EHLO name as given
    std::string receiver = "unknown";  // %{r}: our host name
    int64_t timestamp = 0;  // %{t}
    std::string validated = "unknown";  // %{p}
};

// Syntax check of a macro-string (no expansion).
bool check_macro_string(std::string_view s, macro_use use, std::string& err);
// Syntax check of a domain-spec: a macro-string ending in a macro or in
// "." toplabel ["."].
bool check_domain_spec(std::string_view s, std::string& err);
// Does the string use %{p} (which needs DNS before it can be expanded)?
bool uses_validated_name(std::string_view s);
// Expand a macro-string. nullopt with err on a syntax error. The result is
// capped at max_len bytes (err on overflow).
std::optional<std::string> expand(std::string_view s, const macro_input& in, macro_use use, std::string& err,
                                  size_t max_len = 8192);
// An expanded domain-spec as a query name: the trailing dot removed and,
// when longer than 253 characters, labels removed from the left until it
// fits (RFC 7208 7.3).
std::string query_name(std::string expanded);

// The parts of an address: local part and domain (at the last '@').
// An empty local part becomes "postmaster" (RFC 7208 4.3).
struct sender_parts {
    std::string local;
    std::string domain;
};
std::optional<sender_parts> split_sender(std::string_view sender);

// Is this a name check_host() can start with (RFC 7208 4.3): a multi-label
// domain name of non-empty labels of at most 63 bytes, at most 253 bytes,
// not an address literal.
bool valid_identity_domain(std::string_view d);

// "%{i}" of an address: dotted quad, or 32 dot-separated upper-case nibbles.
std::string dotted_ip(const ip_addr& a);

// ---- check_host() --------------------------------------------------------------

struct limits {
    int dns_mechanisms = 10;  // RFC 7208 4.6.4: terms that cause DNS lookups
    int void_lookups = 2;     // answers with no records (NXDOMAIN or NODATA)
    int mx_ptr_names = 10;    // MX hosts / PTR names looked at per mechanism
    int max_depth = 20;       // nested include/redirect frames
    std::chrono::milliseconds time_limit{20000};
};

// spf_lookup_limit, spf_void_lookup_limit, spf_time_limit.
limits limits_from_config(const config& cfg);

struct request {
    std::string ip;         // client address (text)
    std::string sender;     // MAIL FROM address without <>; empty for the null sender
    std::string helo;       // HELO/EHLO argument
    std::string receiver;   // our host name (%{r}, Received-SPF receiver=)
    std::string default_explanation = "%{o} does not designate %{c} as a permitted sender";
    int64_t timestamp = 0;  // %{t}; 0: now
};

struct outcome {
    result res = result::none;
    std::string identity;     // "mailfrom" or "helo"
    std::string sender;       // the <sender> checked (postmaster@helo for a null sender)
    std::string domain;       // the identity's domain
    std::string explanation;  // for fail: exp= text or the default explanation
    std::string problem;      // why permerror, temperror or none (for logs and headers)
    std::string mechanism;    // the term that matched, "default" or ""
    int dns_lookups = 0;
    int void_lookups = 0;
};

// A check in flight. Destroying it cancels the evaluation: the callback then
// never runs. The callback always runs from the event loop (never inside
// check_host()), and may destroy the handle.
class check {
public:
    virtual ~check() = default;
};

using callback = std::function<void(const outcome&)>;
std::unique_ptr<check> check_host(event_loop& loop, dns::resolver& res, const request& req, const limits& lim,
                                  callback cb);

// Received-SPF header (RFC 7208 9.1), "Received-SPF: " included, one line.
// Untrusted parts are quoted or made safe for a comment.
std::string received_spf_header(const outcome& o, const request& req);

}  // namespace tern::spf
