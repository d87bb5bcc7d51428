// format.cpp - see format.hpp.
#include "imapd/format.hpp"

#include <cstdio>

#include "lib/mailbox.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

namespace {
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int month_of(std::string_view s) {
    if (s.size() < 3) return -1;
    for (int i = 0; i < 12; i++)
        if (iequals(s.substr(0, 3), kMonths[i])) return i + 1;
    return -1;
}

bool digits(std::string_view s, size_t n_min, size_t n_max, int64_t& out) {
    if (s.size() < n_min || s.size() > n_max) return false;
    out = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        out = out * 10 + (c - '0');
    }
    return true;
}

unsigned days_in_month(int64_t y, unsigned m) {
    static const unsigned d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return d[m - 1];
}
}  // namespace

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
    // proleptic Gregorian calendar, eras of 400 years
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = unsigned(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + int64_t(doe) - 719468;
}

void append_string(std::string& out, std::string_view s) {
    bool literal = s.size() > 1024;
    for (unsigned char c : s)
        if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) {
            literal = true;
            break;
        }
    if (literal) {
        out += '{';
        out += std::to_string(s.size());
        out += "}\r\n";
        out.append(s);
        return;
    }
    out += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
}

std::string imap_string(std::string_view s) {
    std::string out;
    append_string(out, s);
    return out;
}

void append_nstring(std::string& out, const std::optional<std::string_view>& s) {
    if (!s) {
        out += "NIL";
        return;
    }
    append_string(out, *s);
}

std::string mailbox_name(std::string_view name) { return imap_string(name); }

std::string flag_list(uint32_t flags, uint32_t keywords, const std::vector<std::string>& names, bool recent) {
    std::string out = "(";
    for (auto& f : mailbox::system_flag_names(flags & mailbox::flag::imap_mask)) {
        if (out.size() > 1) out += ' ';
        out += f;
    }
    for (size_t i = 0; i < names.size() && i < 32; i++)
        if (keywords & (1u << i)) {
            if (out.size() > 1) out += ' ';
            out += names[i];
        }
    if (recent) {
        if (out.size() > 1) out += ' ';
        out += "\\Recent";
    }
    out += ')';
    return out;
}

std::string format_internal_date(int64_t t) {
    time_t tt = time_t(t);
    struct tm tm {};
    localtime_r(&tt, &tm);
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld", tm.tm_mday, kMonths[tm.tm_mon],
                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
    return buf;
}

int64_t local_day(int64_t t) {
    time_t tt = time_t(t);
    struct tm tm {};
    localtime_r(&tt, &tm);
    return days_from_civil(tm.tm_year + 1900, unsigned(tm.tm_mon + 1), unsigned(tm.tm_mday));
}

std::optional<int64_t> parse_search_date(std::string_view s) {
    // date-day "-" date-month "-" date-year, day 1 or 2 digits
    auto p1 = s.find('-');
    if (p1 == std::string_view::npos) return std::nullopt;
    auto p2 = s.find('-', p1 + 1);
    if (p2 == std::string_view::npos) return std::nullopt;
    int64_t d, y;
    if (!digits(s.substr(0, p1), 1, 2, d) || !digits(s.substr(p2 + 1), 4, 4, y)) return std::nullopt;
    std::string_view mon = s.substr(p1 + 1, p2 - p1 - 1);
    int m = mon.size() == 3 ? month_of(mon) : -1;
    if (m < 0 || d < 1 || d > days_in_month(y, unsigned(m))) return std::nullopt;
    return days_from_civil(y, unsigned(m), unsigned(d));
}

std::optional<int64_t> parse_date_time(std::string_view s) {
    // "dd-Mon-yyyy hh:mm:ss +zzzz" with dd possibly " d"
    if (s.size() != 26) return std::nullopt;
    std::string day(s.substr(0, 2));
    if (day[0] == ' ') day = day.substr(1);
    int64_t d, y, hh, mm, ss, z;
    if (!digits(day, 1, 2, d) || s[2] != '-' || s[6] != '-' || !digits(s.substr(7, 4), 4, 4, y) || s[11] != ' ' ||
        !digits(s.substr(12, 2), 2, 2, hh) || s[14] != ':' || !digits(s.substr(15, 2), 2, 2, mm) || s[17] != ':' ||
        !digits(s.substr(18, 2), 2, 2, ss) || s[20] != ' ' || (s[21] != '+' && s[21] != '-') ||
        !digits(s.substr(22, 4), 4, 4, z))
        return std::nullopt;
    int m = month_of(s.substr(3, 3));
    if (m < 0 || d < 1 || d > days_in_month(y, unsigned(m)) || hh > 23 || mm > 59 || ss > 60) return std::nullopt;
    int64_t zone = (z / 100) * 3600 + (z % 100) * 60;
    if (z % 100 > 59) return std::nullopt;
    if (s[21] == '-') zone = -zone;
    return days_from_civil(y, unsigned(m), unsigned(d)) * 86400 + hh * 3600 + mm * 60 + ss - zone;
}

std::optional<int64_t> parse_rfc5322_date(std::string_view s, int64_t* day_out) {
    // tokens separated by white space and commas; comments dropped
    std::vector<std::string_view> tok;
    std::string clean;
    int depth = 0;
    for (char c : s) {
        if (c == '(') depth++;
        else if (c == ')' && depth > 0) depth--;
        else if (depth == 0) clean += (c == ',' || c == '\t' || c == '\r' || c == '\n') ? ' ' : c;
        if (clean.size() > 200) break;
    }
    std::string_view v(clean);
    size_t i = 0;
    while (i < v.size() && tok.size() < 12) {
        while (i < v.size() && v[i] == ' ') ++i;
        size_t st = i;
        while (i < v.size() && v[i] != ' ') ++i;
        if (i > st) tok.push_back(v.substr(st, i - st));
    }
    size_t k = 0;
    if (k < tok.size() && !tok[k].empty() && !(tok[k][0] >= '0' && tok[k][0] <= '9')) ++k;  // weekday
    if (tok.size() < k + 4) return std::nullopt;
    int64_t d, y;
    int m;
    // "12 Jan 2020" or the odd "12-Jan-2020"
    if (tok[k].find('-') != std::string_view::npos) {
        auto dd = parse_search_date(tok[k]);
        if (!dd) return std::nullopt;
        // reuse: recover y/m/d is unnecessary, compute directly below
        int64_t t = *dd * 86400;
        if (day_out) *day_out = *dd;
        return t;
    }
    if (!digits(tok[k], 1, 2, d)) return std::nullopt;
    m = month_of(tok[k + 1]);
    if (m < 0 || tok[k + 1].size() < 3) return std::nullopt;
    if (!digits(tok[k + 2], 2, 4, y)) return std::nullopt;
    if (tok[k + 2].size() == 2) y += y < 50 ? 2000 : 1900;
    else if (tok[k + 2].size() == 3) y += 1900;
    if (d < 1 || d > days_in_month(y, unsigned(m))) return std::nullopt;
    int64_t hh = 0, mm = 0, ss = 0;
    std::string_view t = tok[k + 3];
    auto c1 = t.find(':');
    if (c1 == std::string_view::npos || !digits(t.substr(0, c1), 1, 2, hh)) return std::nullopt;
    auto c2 = t.find(':', c1 + 1);
    if (c2 == std::string_view::npos) {
        if (!digits(t.substr(c1 + 1), 2, 2, mm)) return std::nullopt;
    } else if (!digits(t.substr(c1 + 1, c2 - c1 - 1), 2, 2, mm) || !digits(t.substr(c2 + 1), 2, 2, ss)) {
        return std::nullopt;
    }
    if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
    int64_t zone = 0;
    if (tok.size() > k + 4) {
        std::string_view z = tok[k + 4];
        int64_t zv;
        if ((z[0] == '+' || z[0] == '-') && digits(z.substr(1), 4, 4, zv) && zv % 100 < 60) {
            zone = (zv / 100) * 3600 + (zv % 100) * 60;
            if (z[0] == '-') zone = -zone;
        } else {
            static const struct {
                const char* name;
                int hours;
            } zones[] = {{"UT", 0}, {"GMT", 0}, {"Z", 0}, {"EST", -5}, {"EDT", -4}, {"CST", -6},
                         {"CDT", -5}, {"MST", -7}, {"MDT", -6}, {"PST", -8}, {"PDT", -7}};
            for (auto& zz : zones)
                if (iequals(z, zz.name)) zone = int64_t(zz.hours) * 3600;
        }
    }
    int64_t days = days_from_civil(y, unsigned(m), unsigned(d));
    if (day_out) *day_out = days;
    return days * 86400 + hh * 3600 + mm * 60 + ss - zone;
}

std::string to_crlf(std::string_view lf) {
    // a chunk at a time (memchr), not a byte at a time: FETCH of whole
    // messages spends most of its time here
    size_t extra = 0;
    for (size_t i = 0; (i = lf.find('\n', i)) != std::string_view::npos; ++i)
        if (i == 0 || lf[i - 1] != '\r') ++extra;
    std::string out;
    out.reserve(lf.size() + extra);
    size_t from = 0;
    for (size_t i = 0; (i = lf.find('\n', i)) != std::string_view::npos; ++i) {
        if (i > 0 && lf[i - 1] == '\r') continue;
        out.append(lf.data() + from, i - from);
        out += "\r\n";
        from = i + 1;
    }
    out.append(lf.data() + from, lf.size() - from);
    return out;
}

std::string crlf_to_lf(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t from = 0;
    for (size_t i = 0; (i = s.find('\r', i)) != std::string_view::npos; ++i) {
        if (i + 1 < s.size() && s[i + 1] == '\n') {
            out.append(s.data() + from, i - from);
            from = i + 1;  // the LF is copied with the next chunk
        }
    }
    out.append(s.data() + from, s.size() - from);
    return out;
}

}  // namespace tern::imap
