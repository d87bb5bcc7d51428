// addr_list.cpp - RFC 5322 address lists (To, Cc, Bcc, From, Sender,
// Reply-To...) into mailboxes and group markers, for sendmail -t, cleanup and
// imapd's ENVELOPE. Obsolete forms (RFC 5322 section 4.4) are read leniently.
// SECURITY: parses untrusted header text. One tokenising pass into a flat
// vector of small tokens (offsets, no copies), then one pass over the tokens;
// no recursion (comment nesting is a counter), bounded by address_list_limits.
#include "lib/addr.hpp"

#include "lib/mime.hpp"

namespace tern {

namespace {

enum class tk : unsigned char { atom, qstring, dliteral, special, comment };

struct token {
    tk type;
    char ch;           // the character of a special
    bool ws_before;    // white space or a comment came before it
    size_t begin, end; // raw extent in the input
};

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

bool is_special(char c) {
    switch (c) {
    case '(': case ')': case '<': case '>': case '[': case ']': case ':': case ';':
    case '@': case '\\': case ',': case '.': case '"':
        return true;
    default:
        return false;
    }
}

class lexer {
public:
    lexer(std::string_view s, const address_list_limits& lim, bool& bad) : _s(s), _lim(lim), _bad(bad) {}

    std::vector<token> run() {
        std::vector<token> out;
        bool ws = false;
        size_t i = 0;
        while (i < _s.size()) {
            char c = _s[i];
            if (is_ws(c)) {
                ws = true;
                ++i;
                continue;
            }
            size_t b = i;
            if (c == '(') {
                i = skip_comment(i);
                out.push_back({tk::comment, 0, ws, b, i});
                ws = true;
                continue;
            }
            if (c == '"') {
                i = skip_delimited(i, '"');
                out.push_back({tk::qstring, 0, ws, b, i});
            } else if (c == '[') {
                i = skip_delimited(i, ']');
                out.push_back({tk::dliteral, 0, ws, b, i});
            } else if (is_special(c)) {
                out.push_back({tk::special, c, ws, b, i + 1});
                ++i;
            } else {
                while (i < _s.size() && !is_ws(_s[i]) && !is_special(_s[i])) {
                    unsigned char u = static_cast<unsigned char>(_s[i]);
                    if (u < 0x20 || u == 0x7f) _bad = true;  // kept in the atom; flagged
                    ++i;
                }
                out.push_back({tk::atom, 0, ws, b, i});
            }
            ws = false;
        }
        return out;
    }

private:
    // From '(' to just past its matching ')'; nesting is counted, not recursed.
    size_t skip_comment(size_t i) {
        size_t depth = 0;
        while (i < _s.size()) {
            char c = _s[i];
            if (c == '\\') {
                i += 2;
                continue;
            }
            if (c == '(') {
                if (++depth > _lim.max_comment_depth) _bad = true;
            } else if (c == ')') {
                if (--depth == 0) return i + 1;
            }
            ++i;
        }
        _bad = true;  // unterminated
        return _s.size();
    }

    // From the opening quote or bracket to just past the closing one.
    size_t skip_delimited(size_t i, char close) {
        ++i;
        while (i < _s.size()) {
            if (_s[i] == '\\') {
                i += 2;
                continue;
            }
            if (_s[i] == close) return i + 1;
            ++i;
        }
        _bad = true;
        return _s.size();
    }

    std::string_view _s;
    const address_list_limits& _lim;
    bool& _bad;
};

class parser {
public:
    parser(std::string_view s, const address_list_limits& lim, address_list& out)
        : _s(s), _lim(lim), _out(out) {}

    void run() {
        _t = lexer(_s, _lim, _out.bad_syntax).run();
        size_t i = 0;
        const size_t n = _t.size();
        while (i < n && !_stop) {
            const token& t = _t[i];
            if (is_sp(t, ',') || t.type == tk::comment) {
                ++i;
                continue;
            }
            if (is_sp(t, ';')) {
                if (_in_group) end_group();
                else _out.bad_syntax = true;
                ++i;
                continue;
            }
            // Collect up to the token that decides what this element is.
            size_t j = i;
            while (j < n && !is_sp(_t[j], ',') && !is_sp(_t[j], ';') && !is_sp(_t[j], ':') && !is_sp(_t[j], '<'))
                ++j;
            if (j < n && is_sp(_t[j], ':')) {
                if (_in_group) {  // groups do not nest: close the open one
                    _out.bad_syntax = true;
                    end_group();
                }
                mail_address g;
                g.type = mail_address::kind::group_start;
                g.display_raw = phrase(i, j);
                g.display = decode_rfc2047(g.display_raw);
                _out.items.push_back(std::move(g));
                _in_group = true;
                i = j + 1;
                continue;
            }
            if (j < n && is_sp(_t[j], '<')) {
                mail_address a;
                a.display_raw = phrase(i, j);
                size_t ab = j + 1;
                while (ab < n && is_sp(_t[ab], '<')) {  // "<<a@b>>"
                    _out.bad_syntax = true;
                    ++ab;
                }
                size_t k = angle_end(ab);
                angle_addr(ab, k, a);
                i = k;
                if (i < n && is_sp(_t[i], '>')) ++i;
                // Anything but comments before the next separator is junk.
                while (i < n && !is_sp(_t[i], ',') && !is_sp(_t[i], ';')) {
                    if (_t[i].type != tk::comment) _out.bad_syntax = true;
                    ++i;
                }
                emit(std::move(a));
                continue;
            }
            // A bare addr-spec; an RFC 822 style "(Real Name)" comment names it.
            mail_address a;
            addr_spec(i, j, a);
            for (size_t k = i; k < j; ++k)
                if (_t[k].type == tk::comment) a.display_raw = comment_text(_t[k]);
            if (!a.local.empty() || !a.domain.empty()) emit(std::move(a));
            i = j;
        }
        if (_in_group) {
            if (!_stop) _out.bad_syntax = true;
            end_group();
        }
    }

private:
    static bool is_sp(const token& t, char c) { return t.type == tk::special && t.ch == c; }

    std::string_view raw(const token& t) const { return _s.substr(t.begin, t.end - t.begin); }

    // Quoted string or domain literal content: quoted-pairs resolved, line breaks dropped.
    std::string unquote(const token& t) const {
        std::string out;
        size_t b = t.begin + 1, e = t.end;
        char close = t.type == tk::qstring ? '"' : ']';
        if (e > b && _s[e - 1] == close) --e;
        for (size_t i = b; i < e; ++i) {
            char c = _s[i];
            if (c == '\\' && i + 1 < e) {
                out += _s[++i];
            } else if (c != '\r' && c != '\n') {
                out += c;
            }
        }
        return out;
    }

    std::string comment_text(const token& t) const {
        std::string out;
        size_t b = t.begin + 1, e = t.end;
        if (e > b && _s[e - 1] == ')') --e;
        bool ws = false;
        for (size_t i = b; i < e; ++i) {
            char c = _s[i];
            if (c == '\\' && i + 1 < e) c = _s[++i];
            else if (is_ws(c)) {
                ws = true;
                continue;
            }
            if (ws && !out.empty()) out += ' ';
            ws = false;
            out += c;
        }
        return out;
    }

    std::string text(const token& t) const {
        switch (t.type) {
        case tk::qstring: return unquote(t);
        case tk::dliteral: {
            std::string out = "[";
            for (char c : unquote(t))
                if (!is_ws(c)) out += c;
            if (_s[t.end - 1] == ']' && t.end - t.begin >= 2) out += ']';  // unterminated: not added
            return out;
        }
        case tk::special: return std::string(1, t.ch);
        default: return std::string(raw(t));
        }
    }

    // Display name: words joined by one space where the input had space.
    std::string phrase(size_t b, size_t e) const {
        std::string out;
        bool gap = false;
        for (size_t i = b; i < e; ++i) {
            const token& t = _t[i];
            if (t.type == tk::comment) {
                gap = true;
                continue;
            }
            if (t.type == tk::special && t.ch != '.') _out.bad_syntax = true;
            if (!out.empty() && (t.ws_before || gap)) out += ' ';
            gap = false;
            out += text(t);
        }
        return out;
    }

    // Index of the '>' closing an angle address opened just before b, or
    // where an unclosed one is cut off (the next separator outside a route).
    size_t angle_end(size_t b) const {
        bool route = false;
        size_t first = b;
        while (first < _t.size() && _t[first].type == tk::comment) ++first;
        if (first < _t.size() && is_sp(_t[first], '@')) route = true;
        for (size_t k = b; k < _t.size(); ++k) {
            const token& t = _t[k];
            if (is_sp(t, '>')) return k;
            if (route && is_sp(t, ':')) route = false;
            else if ((!route && is_sp(t, ',')) || is_sp(t, ';') || is_sp(t, '<')) {
                _out.bad_syntax = true;
                return k;
            }
        }
        _out.bad_syntax = true;
        return _t.size();
    }

    void angle_addr(size_t b, size_t e, mail_address& a) const {
        size_t i = b;
        while (i < e && _t[i].type == tk::comment) ++i;
        if (i < e && is_sp(_t[i], '@')) {
            size_t colon = i;
            while (colon < e && !is_sp(_t[colon], ':')) ++colon;
            if (colon < e) {
                for (size_t k = i; k < colon; ++k)
                    if (_t[k].type != tk::comment) a.route += text(_t[k]);
                i = colon + 1;
            } else {
                _out.bad_syntax = true;
            }
        }
        addr_spec(i, e, a);
    }

    void addr_spec(size_t b, size_t e, mail_address& a) const {
        size_t at = e;
        for (size_t k = b; k < e; ++k)
            if (is_sp(_t[k], '@')) at = k;
        a.local = local_part(b, at);
        if (at < e) {
            a.domain = domain(at + 1, e);
            if (a.domain.empty()) _out.bad_syntax = true;
        }
        if (a.local.empty() && (at < e || b < e)) {
            bool only_comments = true;
            for (size_t k = b; k < e; ++k)
                if (_t[k].type != tk::comment) only_comments = false;
            if (!only_comments) _out.bad_syntax = true;
        }
    }

    std::string local_part(size_t b, size_t e) const {
        std::string out;
        bool prev_word = false;
        for (size_t k = b; k < e; ++k) {
            const token& t = _t[k];
            if (t.type == tk::comment) continue;
            bool word = t.type == tk::atom || t.type == tk::qstring;
            if (!word && !is_sp(t, '.')) _out.bad_syntax = true;
            if (word && prev_word) {  // "John Doe" with no dot: not a local part
                _out.bad_syntax = true;
                out += ' ';
            }
            out += text(t);
            prev_word = word;
        }
        return out;
    }

    std::string domain(size_t b, size_t e) const {
        std::string out;
        for (size_t k = b; k < e; ++k) {
            const token& t = _t[k];
            if (t.type == tk::comment) continue;
            if (t.type != tk::atom && t.type != tk::dliteral && !is_sp(t, '.')) _out.bad_syntax = true;
            out += text(t);
        }
        return out;
    }

    void emit(mail_address a) {
        if (_count >= _lim.max_addresses) {
            _out.truncated = true;
            _stop = true;
            return;
        }
        a.display = decode_rfc2047(a.display_raw);
        _out.items.push_back(std::move(a));
        ++_count;
    }

    void end_group() {
        mail_address g;
        g.type = mail_address::kind::group_end;
        _out.items.push_back(std::move(g));
        _in_group = false;
    }

    std::string_view _s;
    const address_list_limits& _lim;
    address_list& _out;
    std::vector<token> _t;
    bool _in_group = false;
    bool _stop = false;
    size_t _count = 0;
};

}  // namespace

std::string mail_address::address() const {
    if (domain.empty()) return local;
    return local + "@" + domain;
}

size_t address_list::mailbox_count() const {
    size_t n = 0;
    for (const auto& a : items)
        if (a.type == mail_address::kind::mailbox) ++n;
    return n;
}

address_list parse_address_list(std::string_view value, const address_list_limits& lim) {
    address_list out;
    if (value.size() > lim.max_length) {
        value = value.substr(0, lim.max_length);
        out.truncated = true;
    }
    parser(value, lim, out).run();
    return out;
}

}  // namespace tern
