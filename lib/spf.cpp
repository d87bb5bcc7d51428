// spf.cpp - the pure half of lib/spf: record parser, macro expander,
// identity checks and the Received-SPF header. No I/O: the unit tests and
// tests/fuzz/spf_fuzz.cpp call these directly. check_host() is in
// spf_check.cpp.
// SECURITY: parses SPF records from DNS and expands macros with values from
// the SMTP client. Every loop is bounded by its input; expansions are capped.
#include "lib/spf.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cstdio>
#include <cstring>

#include "lib/strutil.hpp"

namespace tern::spf {

const char* result_name(result r) {
    switch (r) {
    case result::none: return "none";
    case result::neutral: return "neutral";
    case result::pass: return "pass";
    case result::fail: return "fail";
    case result::softfail: return "softfail";
    case result::temperror: return "temperror";
    case result::permerror: return "permerror";
    }
    return "?";
}

std::optional<result> parse_result_name(std::string_view s) {
    for (auto r : {result::none, result::neutral, result::pass, result::fail, result::softfail, result::temperror,
                   result::permerror})
        if (iequals(s, result_name(r))) return r;
    return std::nullopt;
}

const char* mech_name(mech_kind k) {
    switch (k) {
    case mech_kind::all: return "all";
    case mech_kind::include: return "include";
    case mech_kind::a: return "a";
    case mech_kind::mx: return "mx";
    case mech_kind::ptr: return "ptr";
    case mech_kind::ip4: return "ip4";
    case mech_kind::ip6: return "ip6";
    case mech_kind::exists: return "exists";
    }
    return "?";
}

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

// A run of digits without leading zeros ("0" itself is fine), at most max.
bool parse_cidr_number(std::string_view s, int max, int& out) {
    if (s.empty() || s.size() > 3) return false;
    for (char c : s)
        if (!is_digit(c)) return false;
    if (s.size() > 1 && s[0] == '0') return false;
    int v = 0;
    for (char c : s) v = v * 10 + (c - '0');
    if (v > max) return false;
    out = v;
    return true;
}

// macro-letter sets (RFC 7208 7.1)
bool domain_letter(char c) {
    switch (lower(c)) {
    case 's': case 'l': case 'o': case 'd': case 'i': case 'p': case 'h': case 'v': return true;
    default: return false;
    }
}
bool exp_letter(char c) {
    switch (lower(c)) {
    case 'c': case 'r': case 't': return true;
    default: return domain_letter(c);
    }
}
bool is_delimiter(char c) {
    switch (c) {
    case '.': case '-': case '+': case ',': case '/': case '_': case '=': return true;
    default: return false;
    }
}

// One token of a macro-string.
struct token {
    enum class kind { literal, percent, space, url_space, macro } k = kind::literal;
    std::string_view text;  // literal text
    char letter = 0;
    int digits = 0;  // 0: keep every part
    bool reverse = false;
    std::string delimiters;  // empty: "."
};

// Walk a macro-string, calling fn for each token. False with err on a
// syntax error.
template <class Fn>
bool tokenize(std::string_view s, macro_use use, std::string& err, Fn&& fn) {
    size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c != '%') {
            // macro-literal = %x21-24 / %x26-7E; explanations also allow spaces
            size_t start = i;
            while (i < s.size() && s[i] != '%') {
                auto u = static_cast<unsigned char>(s[i]);
                bool ok = (u >= 0x21 && u <= 0x7E) || (use == macro_use::explanation && u == ' ');
                if (!ok) {
                    err = "invalid character in macro string (byte " + std::to_string(u) + ")";
                    return false;
                }
                ++i;
            }
            token t;
            t.text = s.substr(start, i - start);
            fn(t);
            continue;
        }
        if (i + 1 >= s.size()) {
            err = "'%' at the end of a macro string";
            return false;
        }
        char n = s[i + 1];
        token t;
        if (n == '%') {
            t.k = token::kind::percent;
            i += 2;
        } else if (n == '_') {
            t.k = token::kind::space;
            i += 2;
        } else if (n == '-') {
            t.k = token::kind::url_space;
            i += 2;
        } else if (n == '{') {
            size_t j = i + 2;
            if (j >= s.size()) {
                err = "unterminated macro";
                return false;
            }
            t.k = token::kind::macro;
            t.letter = s[j];
            bool ok = use == macro_use::domain ? domain_letter(t.letter) : exp_letter(t.letter);
            if (!ok) {
                if (exp_letter(t.letter))
                    err = std::string("macro %{") + t.letter + "} is only allowed in explanations";
                else
                    err = std::string("unknown macro letter '") + printable(std::string_view(&t.letter, 1)) + "'";
                return false;
            }
            ++j;
            // transformers = *DIGIT [ "r" ]
            size_t d0 = j;
            while (j < s.size() && is_digit(s[j])) ++j;
            if (j > d0) {
                if (j - d0 > 3) {
                    err = "macro digit transformer too large";
                    return false;
                }
                int v = 0;
                for (size_t k = d0; k < j; ++k) v = v * 10 + (s[k] - '0');
                if (v == 0) {
                    err = "macro digit transformer must not be zero";
                    return false;
                }
                t.digits = v;
            }
            if (j < s.size() && (s[j] == 'r' || s[j] == 'R')) {
                t.reverse = true;
                ++j;
            }
            while (j < s.size() && is_delimiter(s[j])) t.delimiters += s[j++];
            if (j >= s.size() || s[j] != '}') {
                err = "malformed macro (expected '}')";
                return false;
            }
            i = j + 1;
        } else {
            err = std::string("'%' followed by '") + printable(std::string_view(&n, 1)) + "' in macro string";
            return false;
        }
        fn(t);
    }
    return true;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool valid_toplabel(std::string_view l) {
    if (l.empty()) return false;
    bool has_alpha = false, has_dash = false;
    for (char c : l) {
        if (is_alpha(c)) has_alpha = true;
        else if (c == '-') has_dash = true;
        else if (!is_digit(c)) return false;
    }
    if (!has_dash) return has_alpha;
    return is_alnum(l.front()) && is_alnum(l.back());
}

bool unreserved(char c) { return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~'; }

std::string url_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (unreserved(c)) {
            out += c;
        } else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", static_cast<unsigned char>(c));
            out += buf;
        }
    }
    return out;
}

std::string pretty_ip(const ip_addr& a) { return a.str(); }

// The value of one macro letter.
std::string letter_value(char letter, const macro_input& in) {
    auto parts = split_sender(in.sender);
    switch (lower(letter)) {
    case 's': return in.sender;
    case 'l': return parts ? parts->local : std::string();
    case 'o': return parts ? parts->domain : std::string();
    case 'd': return in.domain;
    case 'i': return dotted_ip(in.ip);
    case 'p': return in.validated.empty() ? "unknown" : in.validated;
    case 'v': return in.ip.family == AF_INET6 ? "ip6" : "in-addr";
    case 'h': return in.helo;
    case 'c': return pretty_ip(in.ip);
    case 'r': return in.receiver.empty() ? "unknown" : in.receiver;
    case 't': return std::to_string(in.timestamp);
    }
    return {};
}

// Split on the delimiters, reverse, keep the rightmost n, join with '.'.
std::string transform(const std::string& value, const token& t) {
    if (t.digits == 0 && !t.reverse && (t.delimiters.empty() || t.delimiters == ".")) return value;
    std::string_view delims = t.delimiters.empty() ? std::string_view(".") : std::string_view(t.delimiters);
    std::vector<std::string_view> parts;
    size_t start = 0;
    for (size_t i = 0; i <= value.size(); ++i) {
        if (i == value.size() || delims.find(value[i]) != std::string_view::npos) {
            parts.push_back(std::string_view(value).substr(start, i - start));
            start = i + 1;
        }
    }
    if (t.reverse) std::reverse(parts.begin(), parts.end());
    size_t keep = parts.size();
    if (t.digits > 0 && static_cast<size_t>(t.digits) < keep) keep = static_cast<size_t>(t.digits);
    std::string out;
    for (size_t i = parts.size() - keep; i < parts.size(); ++i) {
        if (i > parts.size() - keep) out += '.';
        out += parts[i];
    }
    return out;
}

}  // namespace

// ---- identity helpers ---------------------------------------------------------

std::optional<sender_parts> split_sender(std::string_view sender) {
    auto at = sender.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    sender_parts p;
    p.local = std::string(sender.substr(0, at));
    p.domain = std::string(sender.substr(at + 1));
    if (p.local.empty()) p.local = "postmaster";
    return p;
}

bool valid_identity_domain(std::string_view d) {
    if (!d.empty() && d.back() == '.') d.remove_suffix(1);
    if (d.empty() || d.size() > 253 || d.front() == '[') return false;
    size_t label = 0, labels = 1;
    for (char c : d) {
        auto u = static_cast<unsigned char>(c);
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
            ++labels;
            continue;
        }
        if (u <= 0x20 || u >= 0x7F) return false;
        if (++label > 63) return false;
    }
    return label > 0 && labels >= 2;
}

std::string dotted_ip(const ip_addr& a) {
    if (a.family == AF_INET) return a.str();
    static const char hex[] = "0123456789ABCDEF";
    std::string r;
    r.reserve(63);
    for (size_t i = 0; i < 16; ++i) {
        if (!r.empty()) r += '.';
        r += hex[a.bytes[i] >> 4];
        r += '.';
        r += hex[a.bytes[i] & 0xF];
    }
    return r;
}

// ---- macros ------------------------------------------------------------------------

bool check_macro_string(std::string_view s, macro_use use, std::string& err) {
    return tokenize(s, use, err, [](const token&) {});
}

bool check_domain_spec(std::string_view s, std::string& err) {
    if (s.empty()) {
        err = "empty domain-spec";
        return false;
    }
    std::vector<token> toks;
    if (!tokenize(s, macro_use::domain, err, [&](const token& t) { toks.push_back(t); })) return false;
    const token& last = toks.back();
    if (last.k != token::kind::literal) return true;  // ends in a macro-expand
    std::string_view tail = last.text;
    if (!tail.empty() && tail.back() == '.') tail.remove_suffix(1);
    auto dot = tail.rfind('.');
    if (dot == std::string_view::npos) {
        err = "domain-spec \"" + printable(s, 80) + "\" does not end in '.' and a top label";
        return false;
    }
    if (!valid_toplabel(tail.substr(dot + 1))) {
        err = "invalid top label in domain-spec \"" + printable(s, 80) + "\"";
        return false;
    }
    return true;
}

bool uses_validated_name(std::string_view s) {
    for (size_t i = 0; i + 2 < s.size(); ++i) {
        if (s[i] != '%') continue;
        if (s[i + 1] == '%' || s[i + 1] == '_' || s[i + 1] == '-') {
            ++i;
            continue;
        }
        if (s[i + 1] == '{' && lower(s[i + 2]) == 'p') return true;
    }
    return false;
}

std::optional<std::string> expand(std::string_view s, const macro_input& in, macro_use use, std::string& err,
                                  size_t max_len) {
    std::string out;
    bool overflow = false;
    bool ok = tokenize(s, use, err, [&](const token& t) {
        if (overflow) return;
        switch (t.k) {
        case token::kind::literal: out += t.text; break;
        case token::kind::percent: out += '%'; break;
        case token::kind::space: out += ' '; break;
        case token::kind::url_space: out += "%20"; break;
        case token::kind::macro: {
            std::string v = transform(letter_value(t.letter, in), t);
            if (t.letter >= 'A' && t.letter <= 'Z') v = url_escape(v);
            out += v;
            break;
        }
        }
        if (out.size() > max_len) overflow = true;
    });
    if (!ok) return std::nullopt;
    if (overflow) {
        err = "macro expansion longer than " + std::to_string(max_len) + " bytes";
        return std::nullopt;
    }
    return out;
}

std::string query_name(std::string name) {
    if (!name.empty() && name.back() == '.') name.pop_back();
    while (name.size() > 253) {
        auto dot = name.find('.');
        if (dot == std::string::npos) break;
        name.erase(0, dot + 1);
    }
    return name;
}

// ---- records ------------------------------------------------------------------------

bool is_spf_record(std::string_view txt) {
    if (txt.size() < 6 || !iequals(txt.substr(0, 6), "v=spf1")) return false;
    return txt.size() == 6 || txt[6] == ' ';
}

namespace {

// dual-cidr-length at the end of an a/mx argument: "/N", "//N", "/N//M".
bool split_dual_cidr(std::string_view arg, std::string_view& rest, mechanism& m, std::string& err) {
    rest = arg;
    auto tail_number = [](std::string_view s, size_t& start) {
        size_t j = s.size();
        while (j > 0 && is_digit(s[j - 1])) --j;
        start = j;
        return j < s.size();
    };
    size_t start;
    // ip6 part "//N" at the very end
    if (tail_number(rest, start) && start >= 2 && rest[start - 1] == '/' && rest[start - 2] == '/') {
        if (!parse_cidr_number(rest.substr(start), 128, m.cidr6)) {
            err = "invalid IPv6 CIDR length in \"" + printable(arg, 80) + "\"";
            return false;
        }
        rest = rest.substr(0, start - 2);
    }
    if (tail_number(rest, start) && start >= 1 && rest[start - 1] == '/' && (start < 2 || rest[start - 2] != '/')) {
        if (!parse_cidr_number(rest.substr(start), 32, m.cidr4)) {
            err = "invalid IPv4 CIDR length in \"" + printable(arg, 80) + "\"";
            return false;
        }
        rest = rest.substr(0, start - 1);
    }
    return true;
}

// ip4-network = qnum "." qnum "." qnum "." qnum, no leading zeros
bool parse_ip4_strict(std::string_view s, ip_addr& out) {
    auto parts = split_char(s, '.');
    if (parts.size() != 4) return false;
    out = ip_addr{};
    out.family = AF_INET;
    for (size_t i = 0; i < 4; ++i) {
        int v;
        if (!parse_cidr_number(parts[i], 255, v)) return false;
        out.bytes[i] = static_cast<uint8_t>(v);
    }
    return true;
}

bool parse_mechanism(std::string_view term, mechanism& m, std::string& err) {
    m = mechanism{};
    m.text = std::string(term);
    std::string_view t = term;
    switch (t.front()) {
    case '+': m.qualifier = result::pass; t.remove_prefix(1); break;
    case '-': m.qualifier = result::fail; t.remove_prefix(1); break;
    case '~': m.qualifier = result::softfail; t.remove_prefix(1); break;
    case '?': m.qualifier = result::neutral; t.remove_prefix(1); break;
    default: break;
    }
    size_t n = 0;
    while (n < t.size() && is_alnum(t[n])) ++n;
    std::string name = to_lower(t.substr(0, n));
    std::string_view rest = t.substr(n);
    if (!rest.empty() && rest[0] != ':' && rest[0] != '/') {
        err = "unknown mechanism \"" + printable(term, 80) + "\"";
        return false;
    }
    bool colon = !rest.empty() && rest[0] == ':';
    std::string_view arg = colon ? rest.substr(1) : rest;
    auto need_domain = [&](bool required) {
        if (!colon && required) {
            err = name + " needs \":domain\" in \"" + printable(term, 80) + "\"";
            return false;
        }
        if (colon && !check_domain_spec(arg, err)) return false;
        m.domain_spec = colon ? std::string(arg) : std::string();
        return true;
    };
    if (name == "all") {
        m.kind = mech_kind::all;
        if (!rest.empty()) {
            err = "\"all\" takes no argument: \"" + printable(term, 80) + "\"";
            return false;
        }
        return true;
    }
    if (name == "include" || name == "exists") {
        m.kind = name == "include" ? mech_kind::include : mech_kind::exists;
        if (!colon) {
            err = name + " needs \":domain\" in \"" + printable(term, 80) + "\"";
            return false;
        }
        return need_domain(true);
    }
    if (name == "ptr") {
        m.kind = mech_kind::ptr;
        if (!rest.empty() && !colon) {
            err = "ptr takes no CIDR length: \"" + printable(term, 80) + "\"";
            return false;
        }
        return need_domain(false);
    }
    if (name == "a" || name == "mx") {
        m.kind = name == "a" ? mech_kind::a : mech_kind::mx;
        std::string_view spec;
        if (!split_dual_cidr(rest, spec, m, err)) return false;
        if (spec.empty()) return true;
        if (spec[0] != ':') {
            err = "malformed " + name + " mechanism \"" + printable(term, 80) + "\"";
            return false;
        }
        spec.remove_prefix(1);
        if (!check_domain_spec(spec, err)) return false;
        m.domain_spec = std::string(spec);
        return true;
    }
    if (name == "ip4" || name == "ip6") {
        m.kind = name == "ip4" ? mech_kind::ip4 : mech_kind::ip6;
        if (!colon) {
            err = name + " needs an address: \"" + printable(term, 80) + "\"";
            return false;
        }
        std::string_view net = arg, len;
        auto slash = arg.find('/');
        if (slash != std::string_view::npos) {
            net = arg.substr(0, slash);
            len = arg.substr(slash + 1);
        }
        bool ok;
        if (m.kind == mech_kind::ip4) {
            ok = parse_ip4_strict(net, m.net);
            if (ok && slash != std::string_view::npos) ok = parse_cidr_number(len, 32, m.cidr4);
        } else {
            std::string a(net);
            m.net = ip_addr{};
            m.net.family = AF_INET6;
            ok = !a.empty() && a.size() <= 45 && ::inet_pton(AF_INET6, a.c_str(), m.net.bytes.data()) == 1;
            if (ok && slash != std::string_view::npos) ok = parse_cidr_number(len, 128, m.cidr6);
        }
        if (!ok) {
            err = "invalid " + name + " network \"" + printable(term, 80) + "\"";
            return false;
        }
        return true;
    }
    err = "unknown mechanism \"" + printable(term, 80) + "\"";
    return false;
}

}  // namespace

std::optional<record> parse_record(std::string_view text, std::string& err, size_t max_terms) {
    if (!is_spf_record(text)) {
        err = "not an SPF record (no \"v=spf1\")";
        return std::nullopt;
    }
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7E) {
            err = "SPF record holds a byte outside printable ASCII (" + std::to_string(u) + ")";
            return std::nullopt;
        }
    }
    record r;
    size_t terms = 0;
    size_t i = 6;
    while (i < text.size()) {
        while (i < text.size() && text[i] == ' ') ++i;
        if (i >= text.size()) break;
        size_t start = i;
        while (i < text.size() && text[i] != ' ') ++i;
        std::string_view term = text.substr(start, i - start);
        if (++terms > max_terms) {
            err = "SPF record has more than " + std::to_string(max_terms) + " terms";
            return std::nullopt;
        }
        // modifier = name "=" macro-string, name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )
        size_t n = 0;
        if (is_alpha(term[0])) {
            n = 1;
            while (n < term.size() && (is_alnum(term[n]) || term[n] == '-' || term[n] == '_' || term[n] == '.')) ++n;
        }
        if (n > 0 && n < term.size() && term[n] == '=') {
            modifier mod;
            mod.name = to_lower(term.substr(0, n));
            mod.value = std::string(term.substr(n + 1));
            if (mod.name == "redirect" || mod.name == "exp") {
                auto& slot = mod.name == "redirect" ? r.redirect : r.exp;
                if (slot) {
                    err = "modifier " + mod.name + "= appears twice";
                    return std::nullopt;
                }
                if (!check_domain_spec(mod.value, err)) {
                    err = mod.name + "=: " + err;
                    return std::nullopt;
                }
                slot = mod.value;
            } else {
                // unknown-modifier = name "=" macro-string (any macro letter)
                if (!check_macro_string(mod.value, macro_use::explanation, err)) {
                    err = "modifier " + mod.name + "=: " + err;
                    return std::nullopt;
                }
                r.unknown.push_back(std::move(mod));
            }
            continue;
        }
        mechanism m;
        if (!parse_mechanism(term, m, err)) return std::nullopt;
        r.mechanisms.push_back(std::move(m));
    }
    return r;
}

// ---- Received-SPF ----------------------------------------------------------------------

namespace {

// Text safe inside a header comment: printable ASCII without parentheses
// or backslashes.
std::string comment_safe(std::string_view s, size_t max = 200) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7E || c == '(' || c == ')' || c == '\\') out += '?';
        else out += c;
    }
    return out;
}

// dot-atom when possible, else a quoted-string.
std::string kv_value(std::string_view s, size_t max = 200) {
    static const std::string_view atext_extra = "!#$%&'*+-/=?^_`{|}~";
    bool atom = !s.empty() && s.front() != '.' && s.back() != '.' && s.find("..") == std::string_view::npos;
    for (char c : s)
        if (!is_alnum(c) && c != '.' && atext_extra.find(c) == std::string_view::npos) atom = false;
    if (atom && s.size() <= max) return std::string(s);
    std::string out = "\"";
    size_t n = 0;
    for (char c : s) {
        if (++n > max) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7E) out += '?';
        else if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace

std::string received_spf_header(const outcome& o, const request& req) {
    std::string receiver = comment_safe(req.receiver.empty() ? "unknown" : req.receiver, 100);
    std::string who = comment_safe(o.sender, 200);
    auto addr = parse_ip_addr(req.ip);
    std::string ip_text = addr ? addr->str() : req.ip;
    std::string ip = comment_safe(ip_text, 60);
    std::string c;
    switch (o.res) {
    case result::pass: c = "domain of " + who + " designates " + ip + " as permitted sender"; break;
    case result::fail: c = "domain of " + who + " does not designate " + ip + " as permitted sender"; break;
    case result::softfail:
        c = "domain of transitioning " + who + " does not designate " + ip + " as permitted sender";
        break;
    case result::neutral: c = ip + " is neither permitted nor denied by domain of " + who; break;
    case result::none: c = "domain of " + who + " does not provide an SPF record"; break;
    case result::temperror: c = "error in processing during lookup of " + who; break;
    case result::permerror: c = "permanent error in processing domain of " + who; break;
    }
    std::string h = "Received-SPF: " + std::string(result_name(o.res)) + " (" + receiver + ": " + c + ")";
    h += " client-ip=" + kv_value(ip_text, 60) + ";";
    h += " envelope-from=" + kv_value(req.sender, 200) + ";";
    h += " helo=" + kv_value(req.helo, 100) + ";";
    h += " receiver=" + kv_value(req.receiver.empty() ? "unknown" : req.receiver, 100) + ";";
    if (!o.identity.empty()) h += " identity=" + o.identity + ";";
    if (!o.mechanism.empty() && (o.res == result::pass || o.res == result::fail || o.res == result::softfail ||
                                 o.res == result::neutral))
        h += " mechanism=" + kv_value(o.mechanism, 100) + ";";
    if (!o.problem.empty() && (o.res == result::permerror || o.res == result::temperror))
        h += " problem=" + kv_value(o.problem, 200) + ";";
    return h;
}

}  // namespace tern::spf
