// addr.hpp - mail addresses: RFC 5321 paths and ESMTP parameters (smtpd's
// MAIL FROM / RCPT TO), domain and HELO hostname checks, relay-trick
// detection, and RFC 5322 address lists (To/Cc/From..., for sendmail -t and
// imapd's ENVELOPE).
// SECURITY: every parser here reads untrusted network input. All are
// iterative, bounded by the limits passed in, never throw on bad input, and
// return errors as values. See docs/addresses.md for the decisions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tern {

// An error for the SMTP reply: a suggested reply code, an RFC 3463 enhanced
// status code and a short reason. The caller builds the reply line.
struct addr_error {
    int reply = 501;
    std::string status;  // "5.1.3"
    std::string reason;  // "bad address syntax"
    std::string text() const { return status + " " + reason; }
};

// A value or an addr_error.
template <class T>
class addr_result {
public:
    addr_result(T v) : _value(std::move(v)) {}
    addr_result(addr_error e) : _error(std::move(e)) {}
    bool ok() const { return _value.has_value(); }
    explicit operator bool() const { return ok(); }
    const T& value() const { return *_value; }
    T& value() { return *_value; }
    const T& operator*() const { return *_value; }
    T& operator*() { return *_value; }
    const T* operator->() const { return &*_value; }
    T* operator->() { return &*_value; }
    const addr_error& error() const { return _error; }

private:
    std::optional<T> _value;
    addr_error _error;
};

// ---------------------------------------------------------------------------
// RFC 5321 paths

// Which command the path came with: picks X.1.7 (sender) or X.1.3 (recipient).
enum class addr_role { sender, recipient };

struct path_options {
    bool smtputf8 = false;        // RFC 6531: UTF-8 in local part and domain
    bool strict_lengths = true;   // RFC 5321 4.5.3.1: local part <= max_local, path <= max_path
    size_t max_local = 64;
    size_t max_domain = 255;      // always enforced
    size_t max_path = 256;        // including '<' '>' and a source route
    size_t lenient_max_path = 1000;  // the only path bound when !strict_lengths
    bool require_brackets = true;    // false: also accept "MAIL FROM:user@x" (Postfix strict_rfc821_envelopes=no)
    bool allow_unqualified = true;   // "<user>" without @domain; "<postmaster>" is always accepted for RCPT
    bool lenient_dots = false;       // accept "a..b", ".a", "a." local parts (some mobile carriers)
    size_t max_params = 16;          // ESMTP parameters after the path
};

struct smtp_path {
    bool null = false;     // "<>"
    std::string local;     // internal (unquoted) form
    std::string domain;    // as sent (case kept); "[...]" for address literals; "" when unqualified
    bool quoted = false;   // the local part was a quoted string
    bool routed = false;   // a source route was present (and dropped)
    bool utf8 = false;     // non-ASCII octets present
    bool domain_literal() const { return !domain.empty() && domain.front() == '['; }
    // Internal form "local@domain" ("local" when unqualified, "" for the null path).
    std::string address() const;
    // The form for the wire: local part quoted when needed.
    std::string external() const;
};

struct esmtp_param {
    std::string key;        // upper-cased
    std::string value;      // as sent
    bool has_value = false;
    std::string decoded;    // xtext-decoded for ENVID, ORCPT (after "type;"), AUTH; else == value
};

struct smtp_command_arg {
    smtp_path path;
    std::vector<esmtp_param> params;
    const esmtp_param* param(std::string_view key) const;  // key case-insensitive
};

// The argument of "MAIL FROM:" / "RCPT TO:" (the text after the colon):
// path, then ESMTP parameters. Known parameters are checked (MAIL: SIZE,
// BODY, RET, ENVID, AUTH, SMTPUTF8, REQUIRETLS; RCPT: NOTIFY, ORCPT);
// unknown ones are returned for the caller to refuse (555 5.5.4) or accept.
addr_result<smtp_command_arg> parse_mail_arg(std::string_view arg, const path_options& opt = {});
addr_result<smtp_command_arg> parse_rcpt_arg(std::string_view arg, const path_options& opt = {});

// Just a path ("<...>", or bare when !require_brackets); nothing may follow.
addr_result<smtp_path> parse_smtp_path(std::string_view s, addr_role role, const path_options& opt = {});

// ESMTP parameters "KEY[=VALUE] ..." separated by spaces; syntax only.
addr_result<std::vector<esmtp_param>> parse_esmtp_params(std::string_view s, bool smtputf8 = false,
                                                         size_t max_params = 16);

// ---------------------------------------------------------------------------
// Domains, hostnames, local parts

// RFC 5321 Domain: LDH labels of 1-63 octets, 255 in all, not all-numeric;
// with utf8, labels may also hold well-formed non-ASCII UTF-8 (U-labels).
bool valid_domain(std::string_view d, bool utf8 = false);
// "[192.0.2.1]" or "[IPv6:2001:db8::1]".
bool valid_address_literal(std::string_view s);
// HELO/EHLO argument: a domain or an address literal (reject_invalid_helo_hostname).
bool valid_helo_hostname(std::string_view s);
// A valid domain with at least two labels (reject_non_fqdn_sender/recipient).
bool is_fqdn(std::string_view domain);
// An ASCII FQDN, or an address literal (reject_non_fqdn_helo_hostname).
bool is_fqdn_helo(std::string_view helo);

// RFC 5321 Dot-string (optionally with UTF-8 atoms).
bool is_dot_atom(std::string_view local, bool utf8 = false);
// The local part as written on the wire: as is when a dot-atom, else quoted.
std::string quote_local(std::string_view local);
// Splits an internal address at its last '@' ("user" -> {"user", ""}).
std::pair<std::string, std::string> split_address(std::string_view address);
// ASCII-lowercases the domain part (U-labels and the local part kept).
std::string lowercase_domain(std::string_view domain);

// Relay tricks in a local part: "user%other" (percent hack), "host!user"
// (bang path), a quoted '@' ("a@b"@here).
enum routing_char : unsigned { route_percent = 1, route_bang = 2, route_at = 4 };
unsigned routing_chars(std::string_view local);
inline bool has_routing_chars(std::string_view local) { return routing_chars(local) != 0; }

// ---------------------------------------------------------------------------
// RFC 5322 address lists

struct mail_address {
    enum class kind { mailbox, group_start, group_end };
    kind type = kind::mailbox;
    // Display name (for group_start: the group name). raw: as written with
    // quotes and comments removed and white space collapsed, RFC 2047 words
    // left encoded (IMAP ENVELOPE); decoded: UTF-8 (RFC 2047, 8-bit bytes).
    std::string display_raw;
    std::string display;
    std::string route;   // obsolete source route "@a,@b" (IMAP "adl"), usually ""
    std::string local;   // internal (unquoted) form; "" when missing
    std::string domain;  // "" when missing (obsolete / broken forms)
    std::string address() const;  // "local@domain" or "local"
};

struct address_list_limits {
    size_t max_addresses = 1000;     // mailboxes kept; the rest is dropped (truncated)
    size_t max_comment_depth = 16;   // deeper nesting is flagged as bad syntax
    size_t max_length = 256 * 1024;  // longer input: only this prefix is parsed (truncated)
};

struct address_list {
    std::vector<mail_address> items;  // mailboxes and group markers in order
    bool truncated = false;           // max_addresses reached
    bool bad_syntax = false;          // something was repaired or skipped
    size_t mailbox_count() const;
};

// Parses a header value (folded or not). Always returns what could be
// understood; bad_syntax tells a strict caller to refuse.
address_list parse_address_list(std::string_view value, const address_list_limits& lim = {});

}  // namespace tern
