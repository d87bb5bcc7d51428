// config.cpp - see config.hpp. Logical lines follow Postfix: a line starting
// with white space continues the previous one; lines whose first non-blank
// character is '#' are comments, and so are empty lines.
#include "lib/config.hpp"

#include <cctype>
#include <unistd.h>

#include "lib/fd.hpp"
#include "lib/strutil.hpp"

namespace tern {

std::string config_error::str() const {
    if (file.empty()) return reason;
    if (line > 0) return file + ":" + std::to_string(line) + ": " + reason;
    return file + ": " + reason;
}

static bool valid_name(std::string_view n) {
    if (n.empty()) return false;
    for (char c : n)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
    return true;
}

bool config::load(const std::string& config_dir, std::vector<config_error>& errors) {
    _config_dir = config_dir;
    std::string path = config_dir + "/main.cf";
    auto text = read_file(path, 4u << 20);
    if (!text) {
        errors.push_back({path, 0, "cannot read: " + errno_text()});
        return false;
    }
    size_t before = errors.size();
    parse(*text, path, errors);
    return errors.size() == before;
}

void config::parse(std::string_view text, const std::string& file, std::vector<config_error>& errors) {
    // Collect logical lines with the number of their first physical line.
    std::string logical;
    int logical_line = 0;
    int lineno = 0;
    auto flush = [&] {
        if (logical.empty()) return;
        auto eq = logical.find('=');
        if (eq == std::string::npos) {
            errors.push_back({file, logical_line, "missing '=' after parameter name: \"" + printable(logical, 60) + "\""});
        } else {
            std::string name(trim(std::string_view(logical).substr(0, eq)));
            std::string value(trim(std::string_view(logical).substr(eq + 1)));
            if (!valid_name(name))
                errors.push_back({file, logical_line, "bad parameter name \"" + printable(name, 60) + "\""});
            else
                set(name, value, file + ":" + std::to_string(logical_line));
        }
        logical.clear();
    };
    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        ++lineno;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        auto t = trim(line);
        if (t.empty() || t[0] == '#') {
            // comments and blank lines are skipped, even inside a continuation
        } else if (std::isspace(static_cast<unsigned char>(line[0]))) {
            if (logical.empty())
                errors.push_back({file, lineno, "continuation line without a parameter before it"});
            else {
                logical += ' ';
                logical += t;
            }
        } else {
            flush();
            logical = std::string(t);
            logical_line = lineno;
        }
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    flush();
}

void config::set(const std::string& name, const std::string& value, const std::string& origin) {
    auto it = _values.find(name);
    if (it == _values.end()) {
        _values.emplace(name, entry{value, origin});
        _order.push_back(name);
    } else {
        it->second = entry{value, origin};
    }
}

bool config::is_set(std::string_view name) const { return _values.find(name) != _values.end(); }

std::vector<std::string> config::explicit_names() const { return _order; }

std::optional<std::string> config::raw(std::string_view name) const {
    if (auto it = _values.find(name); it != _values.end()) return it->second.value;
    if (name == "config_directory" && !_config_dir.empty()) return _config_dir;
    if (auto d = find_param(name)) {
        if (d->default_value[0] == '!') return dynamic_default(name);
        return std::string(d->default_value);
    }
    return std::nullopt;
}

std::string config::dynamic_default(std::string_view name) const {
    if (name == "myhostname") return system_hostname();
    if (name == "mydomain") {
        std::string host = get("myhostname");
        auto dot = host.find('.');
        if (dot == std::string::npos || dot + 1 >= host.size()) return "localdomain";
        return host.substr(dot + 1);
    }
    return "";
}

std::string config::get(std::string_view name) const {
    auto r = raw(name);
    if (!r) return "";
    return expand(*r);
}

// Expansion is bounded in depth (a loop) and in total work: every byte
// produced at any level counts, so values that double at every level
// (a = $b$b, b = $c$c, ...) cost at most the budget, never exponential time.
static constexpr size_t kExpansionBudget = 1u << 20;

std::string config::expand(std::string_view value) const {
    size_t budget = kExpansionBudget;
    return expand_depth(value, 0, budget);
}

std::string config::expand_depth(std::string_view v, int depth, size_t& budget) const {
    if (depth > 32) return "";  // a loop; validate() reports it
    std::string out;
    for (size_t i = 0; i < v.size(); ++i) {
        if (budget == 0) return out;
        --budget;
        if (v[i] != '$') {
            out += v[i];
            continue;
        }
        if (i + 1 >= v.size()) {
            out += '$';
            break;
        }
        char c = v[i + 1];
        if (c == '$') {
            out += '$';
            ++i;
            continue;
        }
        if (c == '{' || c == '(') {
            char close = c == '{' ? '}' : ')';
            // find matching close, allowing nesting
            size_t j = i + 2;
            int level = 1;
            while (j < v.size() && level > 0) {
                if (v[j] == c) ++level;
                else if (v[j] == close) --level;
                if (level > 0) ++j;
            }
            if (j >= v.size()) {  // unterminated: keep literally
                out.append(v.substr(i));
                break;
            }
            std::string_view inner = v.substr(i + 2, j - (i + 2));
            size_t k = 0;
            while (k < inner.size() && (std::isalnum(static_cast<unsigned char>(inner[k])) || inner[k] == '_')) ++k;
            std::string name(inner.substr(0, k));
            std::string val = expand_depth(raw(name).value_or(""), depth + 1, budget);
            if (k < inner.size() && (inner[k] == '?' || inner[k] == ':')) {
                bool nonempty = !val.empty();
                std::string_view alt = inner.substr(k + 1);
                // Postfix: ${name?text} gives text when $name is non-empty,
                // ${name:text} gives text when it is empty; otherwise nothing.
                if ((inner[k] == '?') == nonempty) out += expand_depth(alt, depth + 1, budget);
            } else {
                out += val;
            }
            i = j;
            continue;
        }
        size_t k = i + 1;
        while (k < v.size() && (std::isalnum(static_cast<unsigned char>(v[k])) || v[k] == '_')) ++k;
        if (k == i + 1) {
            out += '$';
            continue;
        }
        std::string name(v.substr(i + 1, k - i - 1));
        out += expand_depth(raw(name).value_or(""), depth + 1, budget);
        i = k - 1;
    }
    return out;
}

std::optional<bool> parse_bool(std::string_view v) {
    if (iequals(v, "yes") || iequals(v, "true") || iequals(v, "on") || v == "1") return true;
    if (iequals(v, "no") || iequals(v, "false") || iequals(v, "off") || v == "0") return false;
    return std::nullopt;
}

std::optional<int64_t> parse_time(std::string_view v, char default_unit) {
    v = trim(v);
    if (v.empty()) return std::nullopt;
    char unit = default_unit;
    char last = static_cast<char>(std::tolower(static_cast<unsigned char>(v.back())));
    if (std::isalpha(static_cast<unsigned char>(last))) {
        unit = last;
        v.remove_suffix(1);
    }
    auto n = parse_i64(v);
    if (!n || *n < 0) return std::nullopt;
    int64_t mult;
    switch (unit) {
    case 's': mult = 1; break;
    case 'm': mult = 60; break;
    case 'h': mult = 3600; break;
    case 'd': mult = 86400; break;
    case 'w': mult = 7 * 86400; break;
    default: return std::nullopt;
    }
    if (*n > INT64_MAX / mult) return std::nullopt;
    return *n * mult;
}

std::optional<uint64_t> parse_size(std::string_view v) {
    v = trim(v);
    if (v.empty()) return std::nullopt;
    uint64_t mult = 1;
    char last = static_cast<char>(std::tolower(static_cast<unsigned char>(v.back())));
    if (last == 'k' || last == 'm' || last == 'g') {
        mult = last == 'k' ? 1024ull : last == 'm' ? 1024ull * 1024 : 1024ull * 1024 * 1024;
        v.remove_suffix(1);
    }
    auto n = parse_u64(v);
    if (!n || *n > UINT64_MAX / mult) return std::nullopt;
    return *n * mult;
}

bool config::get_bool(std::string_view name) const { return parse_bool(trim(get(name))).value_or(false); }

int64_t config::get_int(std::string_view name) const { return parse_i64(trim(get(name))).value_or(0); }

int64_t config::get_time(std::string_view name) const {
    auto d = find_param(name);
    return parse_time(get(name), d ? d->time_unit : 's').value_or(0);
}

uint64_t config::get_size(std::string_view name) const { return parse_size(get(name)).value_or(0); }

std::vector<std::string> config::get_list(std::string_view name) const { return split_list(get(name)); }

void config::validate(std::vector<config_error>& errors) const {
    for (const auto& name : _order) {
        const auto& e = _values.find(name)->second;
        auto d = find_param(name);
        if (!d) continue;
        // split origin "file:line" back
        config_error err;
        auto colon = e.origin.rfind(':');
        if (colon != std::string::npos && parse_i64(e.origin.substr(colon + 1))) {
            err.file = e.origin.substr(0, colon);
            err.line = static_cast<int>(*parse_i64(e.origin.substr(colon + 1)));
        } else {
            err.file = e.origin;
        }
        std::string v = expand(e.value);
        std::string why;
        switch (d->type) {
        case param_type::boolean:
            if (!parse_bool(trim(v))) why = "expected yes or no";
            break;
        case param_type::integer: {
            auto n = parse_i64(trim(v));
            if (!n) why = "expected an integer";
            else if (*n < d->min || *n > d->max)
                why = "out of range " + std::to_string(d->min) + ".." + std::to_string(d->max);
            break;
        }
        case param_type::time: {
            auto n = parse_time(v, d->time_unit);
            if (!n) why = "expected a time such as 30s, 5m, 2h, 1d or 1w";
            else if (*n < d->min || *n > d->max)
                why = "out of range " + std::to_string(d->min) + "s.." + std::to_string(d->max) + "s";
            break;
        }
        case param_type::size: {
            auto n = parse_size(v);
            if (!n) why = "expected a size in bytes (optionally with k, m or g)";
            else if (static_cast<int64_t>(*n) < d->min || (d->max > 0 && *n > static_cast<uint64_t>(d->max)))
                why = "out of range";
            break;
        }
        default: break;
        }
        if (!why.empty()) {
            err.reason = name + " = " + printable(e.value, 80) + ": " + why;
            errors.push_back(err);
        }
    }
}

std::vector<config_error> config::unknown_names() const {
    std::vector<config_error> out;
    for (const auto& name : _order) {
        if (find_param(name)) continue;
        // A user-defined parameter is fine when some other value refers to it.
        bool referenced = false;
        for (const auto& [other, e] : _values) {
            if (other == name) continue;
            const auto& v = e.value;
            for (size_t p = v.find(name); p != std::string::npos; p = v.find(name, p + 1)) {
                if (p > 0 && (v[p - 1] == '$' || ((v[p - 1] == '{' || v[p - 1] == '(') && p > 1 && v[p - 2] == '$'))) {
                    referenced = true;
                    break;
                }
            }
            if (referenced) break;
        }
        if (referenced) continue;
        const auto& e = _values.find(name)->second;
        config_error err;
        auto colon = e.origin.rfind(':');
        if (colon != std::string::npos && parse_i64(e.origin.substr(colon + 1))) {
            err.file = e.origin.substr(0, colon);
            err.line = static_cast<int>(*parse_i64(e.origin.substr(colon + 1)));
        } else {
            err.file = e.origin;
        }
        err.reason = "unknown parameter \"" + name + "\"";
        out.push_back(err);
    }
    return out;
}

std::string system_hostname() {
    char buf[256];
    if (::gethostname(buf, sizeof buf) != 0) return "localhost";
    buf[sizeof buf - 1] = 0;
    std::string h(buf);
    if (h.find('.') == std::string::npos) {
        // try /etc/hosts style FQDN without blocking on DNS: use "domain" or
        // "search" from resolv.conf when present
        if (auto rc = read_file("/etc/resolv.conf", 65536)) {
            for (auto& line : split_char(*rc, '\n')) {
                auto f = split_list(line);
                if (f.size() >= 2 && (f[0] == "domain" || f[0] == "search")) return h + "." + f[1];
            }
        }
    }
    return h;
}

}  // namespace tern
