// parser.cpp - see parser.hpp. The framer keeps one buffer per command and
// never reserves room for an announced literal: bytes are stored as they
// arrive, after the announced size passed the limits.
#include "imapd/parser.hpp"

#include <algorithm>

#include "lib/strutil.hpp"

namespace tern::imap {

bool is_atom_char(unsigned char c) {
    if (c <= 0x20 || c >= 0x7f) return false;
    switch (c) {
    case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
        return false;
    default:
        return true;
    }
}

bool valid_tag(std::string_view tag) {
    if (tag.empty() || tag.size() > 64) return false;
    for (unsigned char c : tag)
        if (c == '+' || (!is_atom_char(c) && c != ']')) return false;
    return true;
}

// ---------------------------------------------------------------- framer

namespace {
// "{123}" or "{123+}" (also "~{123}") at the end of a line without its line end.
bool literal_marker(std::string_view line, uint64_t& n, bool& sync, bool& too_big) {
    too_big = false;
    if (line.empty() || line.back() != '}') return false;
    size_t j = line.size() - 1;
    sync = true;
    if (j > 0 && line[j - 1] == '+') {
        sync = false;
        --j;
    }
    size_t digits_end = j;
    while (j > 0 && line[j - 1] >= '0' && line[j - 1] <= '9') --j;
    if (j == digits_end || j == 0 || line[j - 1] != '{') return false;
    std::string_view digits = line.substr(j, digits_end - j);
    if (digits.size() > 19) {
        too_big = true;
        n = UINT64_MAX;
        return true;
    }
    n = 0;
    for (char c : digits) n = n * 10 + uint64_t(c - '0');
    return true;
}
}  // namespace

framer::result framer::feed(std::string_view in, size_t& used) {
    used = 0;
    while (used < in.size()) {
        if (_left > 0) {
            size_t n = size_t(std::min<uint64_t>(_left, in.size() - used));
            _buf.append(in.substr(used, n));
            used += n;
            _left -= n;
            if (_left == 0) _line_start = _buf.size();
            continue;
        }
        std::string_view rest = in.substr(used);
        size_t nl = rest.find('\n');
        size_t take = nl == std::string_view::npos ? rest.size() : nl + 1;
        if (_buf.size() - _line_start + take > _lim.line_limit || _buf.size() + take > _lim.command_limit) {
            used += take;
            return result::line_too_long;
        }
        _buf.append(rest.substr(0, take));
        used += take;
        if (nl == std::string_view::npos) return result::need_more;
        std::string_view line(_buf.data() + _line_start, _buf.size() - _line_start);
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        uint64_t n = 0;
        bool sync = true, too_big = false;
        if (!literal_marker(line, n, sync, too_big)) {
            _line_start = _buf.size();
            return result::complete;
        }
        _announced = n;
        _announced_sync = sync;
        if (too_big || n > _lim.literal_limit || _buf.size() + n > _lim.command_limit) return result::literal_too_big;
        _left = n;
        _line_start = _buf.size();
        if (sync) return result::continuation;
    }
    return result::need_more;
}

std::string framer::take() {
    std::string out;
    out.swap(_buf);
    reset();
    return out;
}

void framer::reset() {
    _buf.clear();
    _line_start = 0;
    _left = 0;
}

std::string framer::tag() const {
    size_t sp = _buf.find(' ');
    if (sp == std::string::npos) return "";
    std::string t = _buf.substr(0, sp);
    return valid_tag(t) ? t : "";
}

// ---------------------------------------------------------------- parser

bool arg::is_nil() const { return type == kind::atom && iequals(text, "NIL"); }
bool arg::is(std::string_view word) const { return type == kind::atom && iequals(text, word); }

namespace {

class parser {
public:
    parser(std::string& s, size_t end, const parser_limits& lim) : _s(s), _end(end), _lim(lim) {}

    bool items(std::vector<arg>& out, size_t depth, bool in_list) {
        for (;;) {
            if (_i >= _end) {
                if (in_list) return fail("missing ')'");
                return true;
            }
            if (_s[_i] == ')') {
                if (!in_list) return fail("unexpected ')'");
                ++_i;
                return true;
            }
            if (++_count > _lim.max_args) return fail("too many arguments");
            arg a;
            if (!token(a, depth)) return false;
            out.push_back(std::move(a));
            if (_i >= _end) continue;
            if (_s[_i] == ' ') {
                while (_i < _end && _s[_i] == ' ') ++_i;  // tolerate doubled spaces
                continue;
            }
            if (_s[_i] == ')') continue;
            return fail("missing space after argument");
        }
    }

    std::string error;
    size_t _i = 0;

private:
    bool fail(std::string why) {
        error = std::move(why);
        return false;
    }

    bool token(arg& a, size_t depth) {
        unsigned char c = static_cast<unsigned char>(_s[_i]);
        if (c == '(') {
            if (depth + 1 > _lim.max_depth) return fail("lists nested too deeply");
            ++_i;
            a.type = arg::kind::list;
            return items(a.items, depth + 1, true);
        }
        if (c == '"') return quoted(a);
        if (c == '{') return literal(a);
        if (c == '~' && _i + 1 < _end && _s[_i + 1] == '{') return fail("literal8 is not supported");
        return atom(a);
    }

    bool quoted(arg& a) {
        size_t start = ++_i, w = start;
        while (_i < _end) {
            char c = _s[_i];
            if (c == '"') {
                a.type = arg::kind::quoted;
                a.text = std::string_view(_s.data() + start, w - start);
                ++_i;
                return true;
            }
            if (c == '\r' || c == '\n' || c == '\0') return fail("line break or NUL in quoted string");
            if (c == '\\') {
                if (_i + 1 >= _end || (_s[_i + 1] != '"' && _s[_i + 1] != '\\'))
                    return fail("bad escape in quoted string");
                c = _s[++_i];
            }
            _s[w++] = c;
            ++_i;
        }
        return fail("unterminated quoted string");
    }

    bool literal(arg& a) {
        ++_i;
        uint64_t n = 0;
        size_t digits = 0;
        while (_i < _end && _s[_i] >= '0' && _s[_i] <= '9') {
            if (++digits > 19) return fail("literal size too large");
            n = n * 10 + uint64_t(_s[_i] - '0');
            ++_i;
        }
        if (digits == 0) return fail("bad literal size");
        if (_i < _end && _s[_i] == '+') ++_i;
        if (_i >= _end || _s[_i] != '}') return fail("bad literal");
        ++_i;
        if (_i < _s.size() && _s[_i] == '\r') ++_i;
        if (_i >= _s.size() || _s[_i] != '\n') return fail("literal not followed by a line end");
        ++_i;
        if (n > _end - std::min(_i, _end)) return fail("literal runs past the command");
        a.type = arg::kind::literal;
        a.text = std::string_view(_s.data() + _i, size_t(n));
        _i += size_t(n);
        return true;
    }

    bool atom(arg& a) {
        size_t start = _i;
        int brackets = 0;
        bool in_quote = false;
        while (_i < _end) {
            unsigned char c = static_cast<unsigned char>(_s[_i]);
            if (c == '\r' || c == '\n' || c == 0 || c == 0x7f || (c < 0x20 && c != '\t'))
                return fail("control character in command");
            if (c == '\t') return fail("control character in command");
            if (brackets > 0) {
                // BODY[HEADER.FIELDS (A B)]: anything but controls up to the matching ']'
                if (in_quote) {
                    if (c == '\\' && _i + 1 < _end) ++_i;
                    else if (c == '"') in_quote = false;
                } else if (c == '"') {
                    in_quote = true;
                } else if (c == '[') {
                    ++brackets;
                } else if (c == ']') {
                    --brackets;
                }
                ++_i;
                continue;
            }
            if (c == ' ' || c == '(' || c == ')' || c == '"' || c == '{') break;
            if (c == '[') ++brackets;
            ++_i;
        }
        if (brackets > 0) return fail("missing ']'");
        if (_i == start) return fail("unexpected character");
        a.type = arg::kind::atom;
        a.text = std::string_view(_s.data() + start, _i - start);
        return true;
    }

    std::string& _s;
    size_t _end;
    const parser_limits& _lim;
    size_t _count = 0;
};

}  // namespace

bool parse_command(std::string bytes, command& cmd, parse_error& err, const parser_limits& lim) {
    cmd = command{};
    err = parse_error{};
    cmd.raw = std::make_unique<std::string>(std::move(bytes));
    std::string& s = *cmd.raw;
    size_t end = s.size();
    if (end > 0 && s[end - 1] == '\n') {
        --end;
        if (end > 0 && s[end - 1] == '\r') --end;
    }
    size_t sp = s.find(' ');
    size_t tag_end = std::min(sp, end);
    std::string_view tag(s.data(), tag_end);
    if (tag.empty()) {
        err.reason = "Empty command line";
        return false;
    }
    if (!valid_tag(tag)) {
        err.reason = "Invalid tag";
        return false;
    }
    cmd.tag = std::string(tag);
    err.tag = cmd.tag;
    if (sp == std::string::npos || sp >= end) {
        err.reason = "Missing command";
        return false;
    }
    size_t i = sp + 1;
    auto word = [&](std::string& out) {
        size_t st = i;
        while (i < end && ((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                           (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '.' || s[i] == '_'))
            ++i;
        out = to_upper(std::string_view(s.data() + st, i - st));
        return !out.empty() && out.size() <= 32 && (i == end || s[i] == ' ');
    };
    if (!word(cmd.name)) {
        err.reason = "Invalid command name";
        return false;
    }
    if (cmd.name == "UID") {
        if (i >= end) {
            err.reason = "UID needs a command";
            return false;
        }
        ++i;
        cmd.uid = true;
        if (!word(cmd.name)) {
            err.reason = "Invalid command name after UID";
            return false;
        }
    }
    if (i < end) {
        ++i;  // the space after the name
        parser p(s, end, lim);
        p._i = i;
        if (!p.items(cmd.args, 0, false)) {
            err.reason = p.error;
            return false;
        }
    }
    return true;
}

}  // namespace tern::imap
