// mbox_format.cpp - see mbox_format.hpp.
#include "lib/mbox_format.hpp"

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <ctime>

#include "lib/mailbox.hpp"
#include "lib/strutil.hpp"

namespace tern::mailbox::mbox {
namespace {

constexpr std::string_view from_sp = "From ";
constexpr size_t max_header_value = 4096;

// Could s (the start of a line) still grow into ">*From "? Is it one already?
bool may_be_from(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && s[i] == '>') i++;
    std::string_view rest = s.substr(i);
    return rest.size() <= from_sp.size() && from_sp.substr(0, rest.size()) == rest;
}
bool is_from(std::string_view s) {
    size_t i = 0;
    while (i < s.size() && s[i] == '>') i++;
    return s.substr(i).starts_with(from_sp);
}

// Our flag headers, hidden from readers and replaced on rewrite.
bool is_flag_header(std::string_view line) {
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) return false;
    std::string_view name = line.substr(0, colon);
    for (std::string_view h : {"Status", "X-Status", "X-Keywords", "X-UID", "X-IMAP", "X-IMAPbase"})
        if (iequals(name, h)) return true;
    return false;
}

struct line_iter {
    std::string_view s;
    size_t pos = 0;
    // Next line including its '\n' (the last one may lack it).
    bool next(std::string_view& line) {
        if (pos >= s.size()) return false;
        size_t nl = s.find('\n', pos);
        size_t end = nl == std::string_view::npos ? s.size() : nl + 1;
        line = s.substr(pos, end - pos);
        pos = end;
        return true;
    }
};

// The content between the From_ line and the separator blank line.
std::string_view content_of(std::string_view raw, std::string_view* from = nullptr) {
    size_t nl = raw.find('\n');
    if (from) *from = nl == std::string_view::npos ? raw : raw.substr(0, nl + 1);
    std::string_view c = nl == std::string_view::npos ? std::string_view() : raw.substr(nl + 1);
    if (c.ends_with("\n\n") || c == "\n") c.remove_suffix(1);
    return c;
}

// Walk the presented content: sink gets pieces; header values of ours go to hv.
template <class Sink>
void walk(std::string_view raw, Sink&& sink, std::vector<std::pair<std::string, std::string>>* hv) {
    std::string_view content = content_of(raw);
    line_iter it{content};
    std::string_view line;
    bool in_headers = true, skipping = false;
    std::string* cur_value = nullptr;
    while (it.next(line)) {
        if (in_headers) {
            if (line == "\n") {
                in_headers = false;
            } else if ((line[0] == ' ' || line[0] == '\t') && skipping) {
                // Our headers are short; a huge foreign one is cut, not copied whole.
                if (cur_value && cur_value->size() < max_header_value)
                    cur_value->append(line.substr(0, std::min(line.size() - (line.ends_with('\n') ? 1 : 0),
                                                              max_header_value - cur_value->size())));
                continue;
            } else if (line[0] != ' ' && line[0] != '\t') {
                skipping = is_flag_header(line);
                if (skipping) {
                    if (hv) {
                        size_t colon = line.find(':');
                        std::string_view v = line.substr(colon + 1);
                        if (v.ends_with('\n')) v.remove_suffix(1);
                        v = v.substr(0, max_header_value);
                        hv->emplace_back(std::string(line.substr(0, colon)), std::string(v));
                        cur_value = &hv->back().second;
                    }
                    continue;
                }
            }
        }
        if (line[0] == '>' && is_from(line))
            sink(line.substr(1));
        else
            sink(line);
    }
}

uint32_t flags_from_headers(const std::vector<std::pair<std::string, std::string>>& hv, bool& old,
                            std::vector<std::string>& keywords) {
    uint32_t fl = 0;
    for (auto& [name, value] : hv) {
        if (iequals(name, "Status")) {
            for (char c : value) {
                if (c == 'R') fl |= flag::seen;
                if (c == 'O') old = true;
            }
        } else if (iequals(name, "X-Status")) {
            for (char c : value) {
                if (c == 'A') fl |= flag::answered;
                if (c == 'F') fl |= flag::flagged;
                if (c == 'T') fl |= flag::draft;
                if (c == 'D') fl |= flag::deleted;
            }
        } else if (iequals(name, "X-Keywords")) {
            for (auto& k : split_any(value, " ,\t"))
                if (valid_keyword(k)) keywords.push_back(k);
        }
    }
    return fl;
}

}  // namespace

void quoter::feed(std::string_view in, std::string& out) {
    size_t i = 0;
    while (i < in.size()) {
        if (!_line_start) {
            // Copy up to and including the next newline.
            size_t nl = in.find('\n', i);
            size_t end = nl == std::string_view::npos ? in.size() : nl + 1;
            out.append(in.substr(i, end - i));
            _last_nl = in[end - 1] == '\n';
            if (nl != std::string_view::npos) _line_start = true;
            i = end;
            continue;
        }
        char c = in[i++];
        _held += c;
        if (c == '\n' || !may_be_from(_held)) {
            out += _held;
            _last_nl = c == '\n';
            _line_start = c == '\n';
            _held.clear();
        } else if (is_from(_held)) {
            out += '>';
            out += _held;
            _last_nl = false;
            _line_start = false;
            _held.clear();
        }
    }
}

void quoter::finish(std::string& out) {
    if (!_held.empty()) {
        out += _held;
        _last_nl = false;
        _held.clear();
    }
    if (!_last_nl) out += '\n';
    _last_nl = true;
    _line_start = true;
}

std::string quote(std::string_view in) {
    quoter q;
    std::string out;
    out.reserve(in.size() + 16);
    q.feed(in, out);
    if (!in.empty() && in.back() != '\n') q.finish(out);
    return out;
}

std::string unquote(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    line_iter it{in};
    std::string_view line;
    while (it.next(line)) out.append(line[0] == '>' && is_from(line) ? line.substr(1) : line);
    return out;
}

std::string from_line(std::string_view sender, int64_t when) {
    std::string s = "From ";
    if (sender.empty()) {
        s += "MAILER-DAEMON";
    } else {
        for (unsigned char c : sender) s += (c <= ' ' || c == 0x7f) ? '_' : char(c);
    }
    time_t t = static_cast<time_t>(when);
    struct tm tm;
    ::gmtime_r(&t, &tm);
    char buf[64];
    ::strftime(buf, sizeof buf, " %a %b %e %H:%M:%S %Y\n", &tm);
    return s + buf;
}

int64_t parse_from_date(std::string_view line) {
    static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (line.ends_with('\n')) line.remove_suffix(1);
    auto t = split_any(line, " \t");
    for (size_t i = 1; i + 3 < t.size(); i++) {
        bool day = false;
        for (auto d : days) day = day || t[i] == d;
        int mon = -1;
        for (int m = 0; m < 12; m++)
            if (t[i + 1] == months[m]) mon = m;
        if (!day || mon < 0) continue;
        auto mday = parse_u64(t[i + 2]);
        int hh = 0, mm = 0, ss = 0;
        if (!mday || std::sscanf(t[i + 3].c_str(), "%d:%d:%d", &hh, &mm, &ss) < 2) continue;
        for (size_t j = i + 4; j < t.size() && j <= i + 5; j++) {
            auto y = parse_u64(t[j]);
            if (!y || t[j].size() != 4) continue;
            struct tm tm{};
            tm.tm_year = int(*y) - 1900;
            tm.tm_mon = mon;
            tm.tm_mday = int(*mday);
            tm.tm_hour = hh;
            tm.tm_min = mm;
            tm.tm_sec = ss;
            return int64_t(::timegm(&tm));
        }
    }
    return 0;
}

std::vector<uint64_t> split(std::string_view data, uint64_t from) {
    std::vector<uint64_t> starts;
    if (from >= data.size() || !data.substr(from).starts_with(from_sp)) return starts;
    starts.push_back(from);
    size_t pos = from;
    for (;;) {
        size_t p = data.find("\n\nFrom ", pos);
        if (p == std::string_view::npos) break;
        starts.push_back(p + 2);
        pos = p + 1;
    }
    return starts;
}

info analyze(std::string_view raw) {
    info in;
    std::vector<std::pair<std::string, std::string>> hv;
    uint64_t hash = 1469598103934665603ull;
    bool prev_cr = false;
    walk(
        raw,
        [&](std::string_view piece) {
            for (size_t i = 0; i < piece.size(); i++) {
                char c = piece[i];
                if (in.size < 1024) hash = (hash ^ uint8_t(c)) * 1099511628211ull;
                in.size++;
                in.wire_size += (c == '\n' && !prev_cr) ? 2 : 1;
                prev_cr = c == '\r';
            }
        },
        &hv);
    in.fp = (hash ^ in.size) * 1099511628211ull;
    in.flags = flags_from_headers(hv, in.old, in.keywords);
    std::string_view from;
    content_of(raw, &from);
    in.date = parse_from_date(from);
    return in;
}

std::string present(std::string_view raw) {
    std::string out;
    out.reserve(raw.size());
    walk(raw, [&](std::string_view piece) { out.append(piece); }, nullptr);
    return out;
}

std::string rewrite(std::string_view raw, uint32_t flags, const std::vector<std::string>& keywords, bool old) {
    std::string_view from;
    std::string_view content = content_of(raw, &from);
    std::string ours;
    if ((flags & flag::seen) || old) {
        ours += "Status: ";
        if (flags & flag::seen) ours += 'R';
        if (old) ours += 'O';
        ours += '\n';
    }
    if (flags & (flag::answered | flag::flagged | flag::draft | flag::deleted)) {
        ours += "X-Status: ";
        if (flags & flag::answered) ours += 'A';
        if (flags & flag::flagged) ours += 'F';
        if (flags & flag::draft) ours += 'T';
        if (flags & flag::deleted) ours += 'D';
        ours += '\n';
    }
    if (!keywords.empty()) ours += "X-Keywords: " + join(keywords, " ") + "\n";

    std::string out(from);
    if (!out.ends_with('\n')) out += '\n';
    out.reserve(raw.size() + ours.size() + 2);
    line_iter it{content};
    std::string_view line;
    bool in_headers = true, skipping = false;
    while (it.next(line)) {
        if (in_headers) {
            if (line == "\n") {
                out += ours;
                in_headers = false;
            } else if (line[0] == ' ' || line[0] == '\t') {
                if (skipping) continue;
            } else {
                skipping = is_flag_header(line);
                if (skipping) continue;
            }
        }
        out.append(line);
    }
    if (in_headers) {
        if (!out.ends_with('\n')) out += '\n';
        out += ours;
    }
    if (!out.ends_with('\n')) out += '\n';
    out += '\n';
    return out;
}

}  // namespace tern::mailbox::mbox
