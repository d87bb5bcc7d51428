// addr.cpp - RFC 5321 paths, ESMTP parameters, domain and local-part helpers.
// Called by smtpd (MAIL/RCPT/HELO), cleanup, local delivery, sendmail.
// SECURITY: parses untrusted SMTP command arguments; single left-to-right
// pass, every read bounds-checked, lengths limited by path_options.
#include "lib/addr.hpp"

#include <arpa/inet.h>

#include "lib/strutil.hpp"
#include "lib/utf8.hpp"

namespace tern {

namespace {

bool is_alpha(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

// RFC 5322 atext.
bool is_atext(unsigned char c) {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
        return true;
    default:
        return false;
    }
}

addr_error make_error(addr_role role, std::string reason, int reply = 501) {
    return addr_error{reply, role == addr_role::sender ? "5.1.7" : "5.1.3", std::move(reason)};
}

addr_error utf8_error(addr_role role) {
    (void)role;
    return addr_error{553, "5.6.7", "non-ASCII address requires SMTPUTF8"};
}

addr_error param_error(std::string reason, int reply = 501) { return addr_error{reply, "5.5.4", std::move(reason)}; }

// Reads a domain (or address literal) starting at s[i], up to a terminator.
// Returns the end index; the text is s[i, end).
size_t scan_domain(std::string_view s, size_t i, bool bracketed) {
    if (i < s.size() && s[i] == '[') {
        size_t j = s.find(']', i);
        return j == std::string_view::npos ? s.size() : j + 1;
    }
    while (i < s.size()) {
        char c = s[i];
        if (c == '>' || c == ',' || c == ':' || (!bracketed && (c == ' ' || c == '\t'))) break;
        if (bracketed && (c == ' ' || c == '\t')) break;
        ++i;
    }
    return i;
}

// Validates a path's domain; empty optional when fine.
std::optional<addr_error> check_domain(std::string_view d, addr_role role, const path_options& opt) {
    if (d.empty()) return make_error(role, "missing domain");
    if (d.size() > opt.max_domain) return make_error(role, "domain too long");
    if (d.front() == '[') {
        if (!valid_address_literal(d)) return make_error(role, "bad address literal");
        return std::nullopt;
    }
    if (!is_ascii(d)) {
        if (!opt.smtputf8) return utf8_error(role);
        if (!utf8_valid(d)) return make_error(role, "bad UTF-8 in domain");
    }
    if (!valid_domain(d, opt.smtputf8)) return make_error(role, "bad domain syntax");
    return std::nullopt;
}

struct path_parse {
    smtp_path path;
    size_t consumed = 0;
};

addr_result<path_parse> parse_path_prefix(std::string_view s, addr_role role, const path_options& opt) {
    path_parse out;
    smtp_path& p = out.path;
    size_t i = 0;
    // RFC 5321 has no space after the colon; clients send one anyway.
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    const size_t path_start = i;
    bool bracketed = false;
    if (i < s.size() && s[i] == '<') {
        bracketed = true;
        ++i;
    } else if (opt.require_brackets) {
        return make_error(role, "missing angle brackets");
    }
    if (i >= s.size() || (!bracketed && (s[i] == ' ' || s[i] == '\t')))
        return make_error(role, bracketed ? "unterminated path" : "empty address");

    if (bracketed && s[i] == '>') {
        if (role == addr_role::recipient) return make_error(role, "null recipient address");
        p.null = true;
        out.consumed = i + 1;
        return out;
    }

    // Source route "@a,@b:" (RFC 5321 4.1.2 obsolete A-d-l): checked, then dropped.
    if (bracketed && s[i] == '@') {
        for (;;) {
            if (i >= s.size() || s[i] != '@') return make_error(role, "bad source route");
            ++i;
            size_t e = scan_domain(s, i, true);
            std::string_view d = s.substr(i, e - i);
            if (d.empty() || d.front() == '[' || !valid_domain(d, opt.smtputf8))
                return make_error(role, "bad source route");
            i = e;
            if (i < s.size() && s[i] == ',') {
                ++i;
                continue;
            }
            if (i < s.size() && s[i] == ':') {
                ++i;
                break;
            }
            return make_error(role, "bad source route");
        }
        p.routed = true;
    }

    // Local part.
    const size_t local_start = i;
    if (i < s.size() && s[i] == '"') {
        p.quoted = true;
        ++i;
        bool closed = false;
        while (i < s.size()) {
            unsigned char c = static_cast<unsigned char>(s[i]);
            if (c == '"') {
                closed = true;
                ++i;
                break;
            }
            if (c == '\\') {
                if (i + 1 >= s.size()) break;
                unsigned char q = static_cast<unsigned char>(s[i + 1]);
                if (q < 32 || q > 126) return make_error(role, "bad quoted local part");
                p.local += static_cast<char>(q);
                i += 2;
            } else if (c >= 32 && c <= 126) {
                p.local += static_cast<char>(c);
                ++i;
            } else if (c >= 0x80) {
                if (!opt.smtputf8) return utf8_error(role);
                size_t n = utf8_sequence_length(s, i);
                if (!n) return make_error(role, "bad UTF-8 in local part");
                p.local.append(s.substr(i, n));
                i += n;
            } else {
                return make_error(role, "control character in local part");
            }
        }
        if (!closed) return make_error(role, "unterminated quoted local part");
        if (p.local.empty()) return make_error(role, "empty local part");
    } else {
        while (i < s.size()) {
            unsigned char c = static_cast<unsigned char>(s[i]);
            if (c == '@' || c == '>') break;
            if (!bracketed && (c == ' ' || c == '\t')) break;
            if (is_atext(c) || c == '.') {
                p.local += static_cast<char>(c);
                ++i;
            } else if (c >= 0x80) {
                if (!opt.smtputf8) return utf8_error(role);
                size_t n = utf8_sequence_length(s, i);
                if (!n) return make_error(role, "bad UTF-8 in local part");
                p.local.append(s.substr(i, n));
                i += n;
            } else {
                return make_error(role, "bad character in local part");
            }
        }
        if (p.local.empty()) return make_error(role, "empty local part");
        if (!opt.lenient_dots && !is_dot_atom(p.local, opt.smtputf8))
            return make_error(role, "bad local part syntax");
    }
    const size_t local_len = i - local_start;

    if (i < s.size() && s[i] == '@') {
        ++i;
        size_t e = scan_domain(s, i, bracketed);
        std::string_view d = s.substr(i, e - i);
        if (auto err = check_domain(d, role, opt)) return *err;
        p.domain = std::string(d);
        i = e;
    } else if (!opt.allow_unqualified && !(role == addr_role::recipient && iequals(p.local, "postmaster"))) {
        return make_error(role, "missing domain");
    }

    if (bracketed) {
        if (i >= s.size() || s[i] != '>') return make_error(role, "bad address syntax");
        ++i;
    } else if (i < s.size() && s[i] != ' ' && s[i] != '\t') {
        return make_error(role, "bad address syntax");
    }
    p.utf8 = !is_ascii(p.local) || !is_ascii(p.domain);

    const size_t path_len = i - path_start;
    if (opt.strict_lengths) {
        if (local_len > opt.max_local) return make_error(role, "local part too long");
        if (path_len > opt.max_path) return make_error(role, "path too long");
    } else if (path_len > opt.lenient_max_path) {
        return make_error(role, "path too long");
    }
    out.consumed = i;
    return out;
}

bool is_keyword(std::string_view k) {
    if (k.empty() || !(is_alpha(k[0]) || is_digit(k[0]))) return false;
    for (unsigned char c : k)
        if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
    return true;
}

bool all_digits(std::string_view v, size_t max) {
    if (v.empty() || v.size() > max) return false;
    for (unsigned char c : v)
        if (!is_digit(c)) return false;
    return true;
}

int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// RFC 6533 utf-8-addr-xtext / unitext: xtext plus "\x{HEX}" escapes and raw UTF-8.
std::optional<std::string> decode_utf8_xtext(std::string_view v) {
    std::string out;
    for (size_t i = 0; i < v.size();) {
        unsigned char c = static_cast<unsigned char>(v[i]);
        if (c == '\\' && i + 2 < v.size() && v[i + 1] == 'x' && v[i + 2] == '{') {
            size_t j = i + 3;
            uint32_t cp = 0;
            size_t digits = 0;
            while (j < v.size() && hexval(static_cast<unsigned char>(v[j])) >= 0 && digits < 6) {
                cp = cp * 16 + static_cast<uint32_t>(hexval(static_cast<unsigned char>(v[j])));
                ++j;
                ++digits;
            }
            if (!digits || j >= v.size() || v[j] != '}' || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return std::nullopt;
            utf8_append(out, cp);
            i = j + 1;
        } else if (c == '+') {
            if (i + 2 >= v.size()) return std::nullopt;
            int h = hexval(static_cast<unsigned char>(v[i + 1])), l = hexval(static_cast<unsigned char>(v[i + 2]));
            if (h < 0 || l < 0) return std::nullopt;
            out += static_cast<char>(h * 16 + l);
            i += 3;
        } else if (c >= 0x80) {
            size_t n = utf8_sequence_length(v, i);
            if (!n) return std::nullopt;
            out.append(v.substr(i, n));
            i += n;
        } else if (c < 33 || c > 126 || c == '=') {
            return std::nullopt;
        } else {
            out += static_cast<char>(c);
            ++i;
        }
    }
    return out;
}

std::optional<addr_error> check_mail_param(esmtp_param& p) {
    const std::string& k = p.key;
    auto need_value = [&]() -> std::optional<addr_error> {
        if (!p.has_value) return param_error(k + " parameter needs a value");
        return std::nullopt;
    };
    if (k == "SIZE") {
        if (auto e = need_value()) return e;
        if (!all_digits(p.value, 20)) return param_error("bad SIZE parameter");
    } else if (k == "BODY") {
        if (auto e = need_value()) return e;
        if (!iequals(p.value, "7BIT") && !iequals(p.value, "8BITMIME") && !iequals(p.value, "BINARYMIME"))
            return param_error("bad BODY parameter");
    } else if (k == "RET") {
        if (auto e = need_value()) return e;
        if (!iequals(p.value, "FULL") && !iequals(p.value, "HDRS")) return param_error("bad RET parameter");
    } else if (k == "ENVID") {
        if (auto e = need_value()) return e;
        auto d = xtext_decode(p.value);
        if (!d || p.value.size() > 100) return param_error("bad ENVID parameter");
        p.decoded = *d;
    } else if (k == "AUTH") {
        if (auto e = need_value()) return e;
        if (p.value == "<>") {
            p.decoded.clear();
        } else {
            auto d = xtext_decode(p.value);
            if (!d) return param_error("bad AUTH parameter");
            p.decoded = *d;
        }
    } else if (k == "SMTPUTF8" || k == "REQUIRETLS") {
        if (p.has_value) return param_error(k + " parameter takes no value");
    }
    return std::nullopt;
}

std::optional<addr_error> check_rcpt_param(esmtp_param& p) {
    const std::string& k = p.key;
    if (k == "NOTIFY") {
        if (!p.has_value) return param_error("NOTIFY parameter needs a value");
        auto items = split_char(p.value, ',');
        bool never = false, other = false;
        for (const auto& it : items) {
            if (iequals(it, "NEVER")) never = true;
            else if (iequals(it, "SUCCESS") || iequals(it, "FAILURE") || iequals(it, "DELAY")) other = true;
            else return param_error("bad NOTIFY parameter");
        }
        if (never && (other || items.size() > 1)) return param_error("bad NOTIFY parameter");
    } else if (k == "ORCPT") {
        if (!p.has_value) return param_error("ORCPT parameter needs a value");
        size_t semi = p.value.find(';');
        if (semi == std::string::npos || !is_keyword(std::string_view(p.value).substr(0, semi)) ||
            semi + 1 >= p.value.size())
            return param_error("bad ORCPT parameter");
        std::string_view type = std::string_view(p.value).substr(0, semi);
        std::string_view addr = std::string_view(p.value).substr(semi + 1);
        auto d = iequals(type, "utf-8") ? decode_utf8_xtext(addr) : xtext_decode(addr);
        if (!d) return param_error("bad ORCPT parameter");
        p.decoded = *d;
    }
    return std::nullopt;
}

addr_result<smtp_command_arg> parse_command_arg(std::string_view arg, addr_role role, const path_options& opt) {
    auto pp = parse_path_prefix(arg, role, opt);
    if (!pp) return pp.error();
    smtp_command_arg out;
    out.path = std::move(pp->path);
    std::string_view rest = arg.substr(pp->consumed);
    if (!rest.empty() && rest[0] != ' ' && rest[0] != '\t') return make_error(role, "bad address syntax");
    auto params = parse_esmtp_params(rest, opt.smtputf8, opt.max_params);
    if (!params) return params.error();
    out.params = std::move(*params);
    for (auto& p : out.params) {
        auto err = role == addr_role::sender ? check_mail_param(p) : check_rcpt_param(p);
        if (err) return *err;
    }
    return out;
}

}  // namespace

std::string smtp_path::address() const {
    if (null) return "";
    if (domain.empty()) return local;
    return local + "@" + domain;
}

std::string smtp_path::external() const {
    if (null) return "";
    if (domain.empty()) return quote_local(local);
    return quote_local(local) + "@" + domain;
}

const esmtp_param* smtp_command_arg::param(std::string_view key) const {
    for (const auto& p : params)
        if (iequals(p.key, key)) return &p;
    return nullptr;
}

addr_result<smtp_command_arg> parse_mail_arg(std::string_view arg, const path_options& opt) {
    return parse_command_arg(arg, addr_role::sender, opt);
}

addr_result<smtp_command_arg> parse_rcpt_arg(std::string_view arg, const path_options& opt) {
    return parse_command_arg(arg, addr_role::recipient, opt);
}

addr_result<smtp_path> parse_smtp_path(std::string_view s, addr_role role, const path_options& opt) {
    auto pp = parse_path_prefix(s, role, opt);
    if (!pp) return pp.error();
    std::string_view rest = s.substr(pp->consumed);
    for (char c : rest)
        if (c != ' ' && c != '\t') return make_error(role, "bad address syntax");
    return std::move(pp->path);
}

addr_result<std::vector<esmtp_param>> parse_esmtp_params(std::string_view s, bool smtputf8, size_t max_params) {
    std::vector<esmtp_param> out;
    size_t i = 0;
    for (;;) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
        if (i >= s.size()) break;
        size_t j = i;
        while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
        std::string_view tok = s.substr(i, j - i);
        i = j;
        if (out.size() >= max_params) return param_error("too many parameters");
        esmtp_param p;
        size_t eq = tok.find('=');
        std::string_view key = tok.substr(0, eq);
        if (!is_keyword(key)) return param_error("bad parameter syntax");
        p.key = to_upper(key);
        if (eq != std::string_view::npos) {
            std::string_view v = tok.substr(eq + 1);
            if (v.empty()) return param_error("bad parameter syntax");
            for (size_t k = 0; k < v.size();) {
                unsigned char c = static_cast<unsigned char>(v[k]);
                if (c >= 0x80) {
                    size_t n = smtputf8 ? utf8_sequence_length(v, k) : 0;
                    if (!n) return param_error("bad parameter syntax");
                    k += n;
                } else if (c < 33 || c > 126 || c == '=') {
                    return param_error("bad parameter syntax");
                } else {
                    ++k;
                }
            }
            p.value = std::string(v);
            p.has_value = true;
        }
        p.decoded = p.value;
        for (const auto& q : out)
            if (q.key == p.key) return param_error("duplicate " + p.key + " parameter");
        out.push_back(std::move(p));
    }
    return out;
}

// ---------------------------------------------------------------------------

bool valid_domain(std::string_view d, bool utf8) {
    if (d.empty() || d.size() > 255) return false;
    bool all_numeric = true;
    size_t i = 0;
    while (i <= d.size()) {
        size_t j = i;
        bool numeric = true;
        while (j < d.size() && d[j] != '.') {
            unsigned char c = static_cast<unsigned char>(d[j]);
            if (c >= 0x80) {
                size_t n = utf8 ? utf8_sequence_length(d, j) : 0;
                if (!n) return false;
                j += n;
                numeric = false;
                continue;
            }
            if (!is_alpha(c) && !is_digit(c) && c != '-') return false;
            if (!is_digit(c)) numeric = false;
            ++j;
        }
        size_t len = j - i;
        if (len == 0 || len > 63) return false;
        if (d[i] == '-' || d[j - 1] == '-') return false;
        if (!numeric) all_numeric = false;
        if (j == d.size()) break;
        i = j + 1;
    }
    return !all_numeric;
}

bool valid_address_literal(std::string_view s) {
    if (s.size() < 3 || s.front() != '[' || s.back() != ']') return false;
    std::string_view in = s.substr(1, s.size() - 2);
    if (istarts_with(in, "IPv6:")) {
        std::string a(in.substr(5));
        if (a.empty() || a.size() > 45) return false;
        for (unsigned char c : a)
            if (hexval(c) < 0 && c != ':' && c != '.') return false;
        unsigned char buf[16];
        return inet_pton(AF_INET6, a.c_str(), buf) == 1;
    }
    // IPv4: four Snum of 1-3 digits, each <= 255.
    int parts = 0;
    size_t i = 0;
    while (i < in.size()) {
        size_t j = i;
        int v = 0;
        while (j < in.size() && is_digit(static_cast<unsigned char>(in[j])) && j - i < 3) {
            v = v * 10 + (in[j] - '0');
            ++j;
        }
        if (j == i || v > 255) return false;
        ++parts;
        if (j == in.size()) break;
        if (in[j] != '.' || parts == 4) return false;
        i = j + 1;
        if (i == in.size()) return false;
    }
    return parts == 4;
}

bool valid_helo_hostname(std::string_view s) {
    if (!s.empty() && s.front() == '[') return valid_address_literal(s);
    return valid_domain(s, false);
}

bool is_fqdn(std::string_view domain) {
    return domain.find('.') != std::string_view::npos && valid_domain(domain, true);
}

bool is_fqdn_helo(std::string_view helo) {
    if (!helo.empty() && helo.front() == '[') return valid_address_literal(helo);
    return helo.find('.') != std::string_view::npos && valid_domain(helo, false);
}

bool is_dot_atom(std::string_view local, bool utf8) {
    if (local.empty()) return false;
    bool prev_dot = true;  // a leading dot is as bad as a double one
    for (size_t i = 0; i < local.size();) {
        unsigned char c = static_cast<unsigned char>(local[i]);
        if (c == '.') {
            if (prev_dot) return false;
            prev_dot = true;
            ++i;
            continue;
        }
        if (c >= 0x80) {
            size_t n = utf8 ? utf8_sequence_length(local, i) : 0;
            if (!n) return false;
            i += n;
        } else {
            if (!is_atext(c)) return false;
            ++i;
        }
        prev_dot = false;
    }
    return !prev_dot;
}

std::string quote_local(std::string_view local) {
    if (is_dot_atom(local, true)) return std::string(local);
    std::string out = "\"";
    for (char c : local) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

std::pair<std::string, std::string> split_address(std::string_view address) {
    size_t at = address.rfind('@');
    if (at == std::string_view::npos) return {std::string(address), ""};
    return {std::string(address.substr(0, at)), std::string(address.substr(at + 1))};
}

std::string lowercase_domain(std::string_view domain) {
    std::string out(domain);
    for (auto& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

unsigned routing_chars(std::string_view local) {
    unsigned r = 0;
    for (char c : local) {
        if (c == '%') r |= route_percent;
        else if (c == '!') r |= route_bang;
        else if (c == '@') r |= route_at;
    }
    return r;
}

}  // namespace tern
