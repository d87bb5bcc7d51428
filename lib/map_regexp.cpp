// map_regexp.cpp - the regexp: table type, in Postfix's regexp_table(5)
// syntax: "[!]/pattern/flags result", first match wins, POSIX extended
// regular expressions (regcomp with REG_EXTENDED), $1..$9 in the result.
// SECURITY: the patterns come from the administrator; lookup keys come
// from clients and are only matched, never compiled.
#include <algorithm>
#include <memory>
#include <regex.h>

#include "lib/map_types.hpp"
#include "lib/strutil.hpp"

namespace tern::detail {
namespace {

// A compiled pattern; regfree() only after a successful regcomp().
class compiled_regex {
public:
    compiled_regex() = default;
    compiled_regex(const compiled_regex&) = delete;
    compiled_regex& operator=(const compiled_regex&) = delete;
    ~compiled_regex() {
        if (_ok) ::regfree(&_re);
    }
    // "" on success, else regerror's text
    std::string compile(const std::string& pattern, int flags) {
        int rc = ::regcomp(&_re, pattern.c_str(), flags);
        if (rc == 0) {
            _ok = true;
            return "";
        }
        char buf[256];
        ::regerror(rc, &_re, buf, sizeof buf);
        return buf;
    }
    const regex_t* get() const { return &_re; }
    size_t nsub() const { return _re.re_nsub; }

private:
    regex_t _re{};
    bool _ok = false;
};

struct rule {
    std::unique_ptr<compiled_regex> re;
    bool negate = false;
    size_t nsub = 0;
    // result template: literal pieces and subexpression numbers (-1: literal)
    std::vector<std::pair<int, std::string>> parts;
    std::string pattern;  // as written, for listing
    std::string result;   // as written
};

// Parse one line into r; an error text on failure.
std::string parse_rule(std::string_view text, rule& r) {
    size_t i = 0;
    if (text[i] == '!') {
        r.negate = true;
        ++i;
    }
    if (i >= text.size() || text[i] == ' ' || text[i] == '\t' || text[i] == '\\')
        return "expected /pattern/flags result";
    char delim = text[i++];
    std::string pattern;
    bool closed = false;
    for (; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
            // keep the escape unless it only protects the delimiter
            if (text[i + 1] != delim) pattern += '\\';
            pattern += text[++i];
            continue;
        }
        if (text[i] == delim) {
            closed = true;
            ++i;
            break;
        }
        pattern += text[i];
    }
    if (!closed) return std::string("missing closing '") + delim + "' after the pattern";
    if (pattern.empty()) return "empty pattern";
    bool icase = true, newline = false, substitute = true;
    for (; i < text.size() && text[i] != ' ' && text[i] != '\t'; ++i) {
        switch (text[i]) {
        case 'i': icase = !icase; break;
        case 'm': newline = !newline; break;
        case 'x': substitute = !substitute; break;
        default: return std::string("unknown flag '") + text[i] + "' (known: i, m, x)";
        }
    }
    r.pattern = std::string(text.substr(0, i));
    std::string_view result = trim(text.substr(i));
    if (result.empty()) return "expected a result after the pattern";
    r.result = std::string(result);

    r.re = std::make_unique<compiled_regex>();
    int flags = REG_EXTENDED | (icase ? REG_ICASE : 0) | (newline ? REG_NEWLINE : 0);
    std::string why = r.re->compile(pattern, flags);
    if (!why.empty()) return "bad regular expression /" + printable(pattern, 60) + "/: " + why;
    r.nsub = r.re->nsub();

    // result template
    std::string lit;
    auto push_lit = [&] {
        if (!lit.empty()) r.parts.emplace_back(-1, std::move(lit));
        lit.clear();
    };
    for (size_t j = 0; j < result.size(); ++j) {
        char c = result[j];
        if (!substitute || c != '$') {
            lit += c;
            continue;
        }
        if (j + 1 >= result.size()) return "'$' at the end of the result (write $$ for a dollar sign)";
        char d = result[j + 1];
        if (d == '$') {
            lit += '$';
            ++j;
            continue;
        }
        size_t k = j + 1;
        char close = 0;
        if (d == '{') close = '}';
        if (d == '(') close = ')';
        if (close) ++k;
        size_t start = k;
        while (k < result.size() && result[k] >= '0' && result[k] <= '9' && k - start < 3) ++k;
        if (k == start) return "'$' must be followed by a subexpression number or '$'";
        int n = std::stoi(std::string(result.substr(start, k - start)));
        if (close) {
            if (k >= result.size() || result[k] != close) return std::string("missing '") + close + "' after $" + d;
            ++k;
        }
        if (r.negate) return "$" + std::to_string(n) + " in the result of a negated pattern";
        if (n < 1 || static_cast<size_t>(n) > r.nsub)
            return "$" + std::to_string(n) + " out of range: the pattern has " + std::to_string(r.nsub) +
                   " subexpression(s)";
        push_lit();
        r.parts.emplace_back(n, std::string());
        j = k - 1;
    }
    push_lit();
    return "";
}

class regexp_table : public lookup_table {
public:
    regexp_table(std::string name, const map_options& opts) : lookup_table("regexp", std::move(name), opts) {
        watch_file(this->name());
    }

protected:
    bool load(std::vector<config_error>& errors, db::file_stamp& stamp) override {
        size_t before = errors.size();
        std::vector<rule> fresh;
        bool full = false;
        line_reader reader(
            name(), options().line_length,
            [&](int line, std::string_view text) {
                if (full) return;
                if (text == "endif" || text.substr(0, 3) == "if " || text.substr(0, 3) == "if\t") {
                    errors.push_back({name(), line, "if/endif is not supported in regexp: tables"});
                    return;
                }
                if (fresh.size() >= options().regexps) {
                    errors.push_back({name(), line, "more than " + std::to_string(options().regexps) +
                                                        " patterns (regexp_table_limit)"});
                    full = true;
                    return;
                }
                rule r;
                std::string why = parse_rule(text, r);
                if (!why.empty()) {
                    errors.push_back({name(), line, why});
                    return;
                }
                fresh.push_back(std::move(r));
            },
            errors);
        std::string err;
        if (!read_file_pieces(name(), [&](std::string_view p) { reader.feed(p); }, err, &stamp)) {
            errors.push_back({"", 0, err});
            return false;
        }
        reader.finish();
        if (errors.size() != before) return false;
        _rules.swap(fresh);
        size_t most = 0;
        for (const auto& r : _rules) most = std::max(most, r.nsub);
        _match.assign(most + 1, regmatch_t{});
        return true;
    }

    lookup_result find(std::string_view key) override {
        if (key.empty() || key.find('\0') != std::string_view::npos) return lookup_result::miss();
        std::string k(key);
        regmatch_t* m = _match.data();
        for (const auto& r : _rules) {
            size_t n = r.nsub + 1;
            bool hit = ::regexec(r.re->get(), k.c_str(), n, m, 0) == 0;
            if (hit == r.negate) continue;
            std::string out;
            for (const auto& [group, text] : r.parts) {
                if (group < 0) {
                    out += text;
                } else if (static_cast<size_t>(group) < n && m[group].rm_so >= 0) {
                    out.append(k, static_cast<size_t>(m[group].rm_so),
                               static_cast<size_t>(m[group].rm_eo - m[group].rm_so));
                }
            }
            return lookup_result::hit(std::move(out));
        }
        return lookup_result::miss();
    }

    bool list(const visitor& fn, std::string&) override {
        for (const auto& r : _rules)
            if (!fn(r.pattern, r.result)) break;
        return true;
    }

private:
    std::vector<rule> _rules;
    std::vector<regmatch_t> _match;  // room for the most subexpressions of any rule
};

}  // namespace

std::unique_ptr<lookup_table> make_regexp_table(const std::string& name, const map_options& opts,
                                                std::vector<config_error>& errors) {
    auto t = std::make_unique<regexp_table>(name, opts);
    t->open(errors);
    return t;
}

}  // namespace tern::detail
