// cleanup.cpp - see cleanup.hpp.
// SECURITY: header bytes are untrusted; every scan is bounded by the view.
#include "lib/cleanup.hpp"

#include <cstring>

#include "lib/mime.hpp"
#include "lib/strutil.hpp"

namespace tern {

namespace {

// A header field line: field-name (printable ASCII but ':'), optional
// white space (obsolete syntax), then ':'.
bool is_field_line(std::string_view line) {
    size_t i = 0;
    while (i < line.size()) {
        unsigned char c = static_cast<unsigned char>(line[i]);
        if (c == ':') break;
        if (c <= 32 || c >= 127) break;
        ++i;
    }
    if (i == 0) return false;
    size_t j = i;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    return j < line.size() && line[j] == ':';
}

// Client text inside a Received comment: printable, no parentheses games
// that could end the comment early, bounded.
std::string comment_safe(std::string_view s, size_t max = 255) {
    std::string out;
    for (char c : s.substr(0, max)) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u <= 32 || u == 127 || c == '(' || c == ')' || c == '\\')
            out += '?';
        else
            out += c;
    }
    return out;
}

}  // namespace

std::optional<header_end> find_header_end(std::string_view buf, size_t* pos) {
    size_t p = *pos;
    while (p < buf.size()) {
        const void* lf = std::memchr(buf.data() + p, '\n', buf.size() - p);
        if (!lf) break;
        size_t e = static_cast<size_t>(static_cast<const char*>(lf) - buf.data());
        std::string_view line = buf.substr(p, e - p);
        if (line.empty()) {
            *pos = e + 1;
            return header_end{e + 1, p, true};
        }
        bool continuation = (line[0] == ' ' || line[0] == '\t') && p > 0;
        if (!continuation && !is_field_line(line)) {
            *pos = p;
            return header_end{p, p, false};
        }
        p = e + 1;
    }
    *pos = p;
    return std::nullopt;
}

header_facts scan_header(std::string_view header, size_t max_size) {
    header_facts f;
    header_limits lim;
    lim.max_size = max_size;
    lim.max_fields = 100000;
    auto h = parse_header(header, lim);
    for (const auto& fld : h.fields) {
        if (fld.malformed) continue;
        std::string_view n = fld.name;
        if (iequals(n, "Received")) ++f.received;
        else if (iequals(n, "Message-ID")) {
            f.message_id = true;
            if (f.message_id_value.empty()) f.message_id_value = printable(fld.value(), 200);
        } else if (iequals(n, "Date")) f.date = true;
        else if (iequals(n, "From")) f.from = true;
        else if (iequals(n, "Sender")) f.sender = true;
        if (istarts_with(n, "Resent-")) f.resent = true;
    }
    return f;
}

std::string rfc5322_date(std::time_t t) {
    struct tm tm;
    ::localtime_r(&t, &tm);
    static const char* days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld (%s)", days[tm.tm_wday % 7], tm.tm_mday,
                  months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
                  off % 60, tm.tm_zone ? tm.tm_zone : "UTC");
    return buf;
}

std::string make_message_id(std::string_view queue_id, std::string_view host, std::time_t t) {
    struct tm tm;
    ::gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
    return "<" + std::string(stamp) + "." + std::string(queue_id) + "@" + std::string(host) + ">";
}

std::string smtp_with_protocol(bool esmtp, bool tls, bool auth, bool utf8) {
    if (!esmtp) return "SMTP";
    std::string p = utf8 ? "UTF8SMTP" : "ESMTP";
    if (tls) p += 'S';
    if (auth) p += 'A';
    return p;
}

std::string make_received(const received_info& r) {
    std::string h = "Received:";
    if (r.uid >= 0 && r.client_addr.empty()) {
        // local submission (pickup)
        h += " by " + r.by_host + " (" + r.mail_name + ", from userid " + std::to_string(r.uid) + ")\n";
        h += "\tid " + r.queue_id;
    } else {
        std::string helo = r.helo.empty() ? r.client_name : comment_safe(r.helo);
        std::string addr = r.client_addr.find(':') != std::string::npos ? "IPv6:" + r.client_addr : r.client_addr;
        h += " from " + helo + " (" + comment_safe(r.client_name) + " [" + addr + "])\n";
        if (!r.tls.empty()) h += "\t(using " + printable(r.tls, 400) + ")\n";
        if (!r.auth_user.empty()) h += "\t(Authenticated sender: " + comment_safe(r.auth_user) + ")\n";
        h += "\tby " + r.by_host + " (" + r.mail_name + ") with " + r.protocol + " id " + r.queue_id;
    }
    if (!r.for_rcpt.empty()) h += "\n\tfor <" + comment_safe(r.for_rcpt) + ">";
    h += "; " + rfc5322_date(r.when) + "\n";
    return h;
}

}  // namespace tern
