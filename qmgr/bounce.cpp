// bounce.cpp - see bounce.hpp. The layout of a notice:
//
//   header (From, To, Subject, Date, Message-ID, Auto-Submitted, MIME)
//   multipart/report; report-type=delivery-status
//     1. text/plain: what happened, one paragraph per recipient
//     2. message/delivery-status (or message/global-delivery-status):
//        per-message fields, then one block per recipient
//     3. message/rfc822 (whole original) or text/rfc822-headers
//        (message/global, message/global-headers for SMTPUTF8 mail)
#include "qmgr/bounce.hpp"

#include <ctime>

namespace tern::qmgr {
namespace {

// One line, printable except for 8-bit bytes (UTF-8 addresses and texts).
std::string one_line(std::string_view s, size_t max = 4000) {
    std::string out;
    out.reserve(std::min(s.size(), max));
    for (unsigned char c : s) {
        if (out.size() >= max) break;
        if (c == '\r' || c == '\n' || c == '\t') out += ' ';
        else if (c < 0x20 || c == 0x7f) out += '?';
        else out += static_cast<char>(c);
    }
    return out;
}

bool has_8bit(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return true;
    return false;
}

std::string angle(std::string_view addr) { return "<" + one_line(addr, 1000) + ">"; }

// "rfc822;addr" -> "rfc822; addr"; a bare address gets the rfc822 type.
std::string typed_address(std::string_view v, bool utf8) {
    auto semi = v.find(';');
    if (semi == std::string_view::npos)
        return std::string(utf8 && has_8bit(v) ? "utf-8" : "rfc822") + "; " + one_line(v, 1000);
    std::string type(v.substr(0, semi));
    std::string_view rest = v.substr(semi + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    return one_line(type, 40) + "; " + one_line(rest, 1000);
}

const char* subject_of(dsn_kind k) {
    switch (k) {
    case dsn_kind::failure: return "Undelivered Mail Returned to Sender";
    case dsn_kind::delay: return "Delayed Mail (delivery is still being attempted)";
    case dsn_kind::success: return "Successful Mail Delivery Report";
    case dsn_kind::postmaster_copy: return "Postmaster Copy: Undelivered Mail";
    }
    return "Delivery Status Notification";
}

std::string action_words(std::string_view action) {
    if (action == "delivered") return "delivered";
    if (action == "relayed") return "relayed to a system that does not send delivery reports";
    if (action == "expanded") return "delivered to an alias or mailing list, which forwarded it";
    if (action == "delayed") return "not yet delivered";
    return "not delivered";
}

std::string explanation(const dsn_input& in) {
    std::string host = one_line(in.reporting_mta, 255);
    std::string t = "This is the mail delivery system at " + host + ".\n\n";
    switch (in.kind) {
    case dsn_kind::failure:
        t += "Your message could not be delivered to one or more recipients and\n"
             "has been given up on. The reasons are listed below.\n\n"
             "To find out more, contact the postmaster of " + host + " and\n"
             "include this report. The delivery system's own report follows.\n";
        break;
    case dsn_kind::delay:
        t += "Your message has not been delivered to one or more recipients yet.\n"
             "This is only a warning: delivery is still being attempted and you do\n"
             "not need to send the message again.\n";
        if (in.will_retry_until > 0)
            t += "\nDelivery will be attempted until " + rfc5322_date(in.will_retry_until) + ".\n";
        break;
    case dsn_kind::success:
        t += "As you asked, this report confirms how your message was handed on.\n";
        break;
    case dsn_kind::postmaster_copy:
        t += "A delivery status notice (or postmaster notice) could not be delivered.\n"
             "It is returned to you, the postmaster, and will not be retried.\n";
        if (!in.original_sender.empty()) t += "Envelope sender: " + angle(in.original_sender) + "\n";
        break;
    }
    if (in.too_large)
        t += "\nThe message was too large to be returned in full; only its headers\nare attached.\n";
    t += "\n";
    for (const auto& r : in.rcpts) {
        std::string line = angle(r.address);
        if (!r.orcpt.empty()) {
            auto semi = r.orcpt.find(';');
            std::string o = semi == std::string::npos ? r.orcpt : r.orcpt.substr(semi + 1);
            if (o != r.address) line += " (originally " + angle(o) + ")";
        }
        line += ": " + action_words(r.action);
        if (!r.reason.empty()) line += ": " + one_line(r.reason);
        t += line + "\n";
    }
    return t;
}

std::string status_part(const dsn_input& in) {
    std::string s;
    s += fold_field("Reporting-MTA", "dns; " + one_line(in.reporting_mta, 255));
    if (!in.queue_id.empty()) s += fold_field("X-Tern-Queue-ID", in.queue_id);
    if (!in.original_sender.empty()) s += fold_field("X-Tern-Sender", "rfc822; " + one_line(in.original_sender, 1000));
    if (!in.envid.empty()) s += fold_field("Original-Envelope-Id", one_line(in.envid, 1000));
    if (in.arrival > 0) s += fold_field("Arrival-Date", rfc5322_date(in.arrival));
    for (const auto& r : in.rcpts) {
        s += "\n";
        s += fold_field("Final-Recipient", typed_address(r.address, in.smtputf8));
        if (!r.orcpt.empty()) s += fold_field("Original-Recipient", typed_address(r.orcpt, in.smtputf8));
        s += fold_field("Action", r.action);
        s += fold_field("Status", r.status.empty() ? (r.action == "failed" ? "5.0.0" : r.action == "delayed" ? "4.0.0" : "2.0.0")
                                                    : r.status);
        if (!r.remote_mta.empty()) {
            auto semi = r.remote_mta.find(';');
            s += fold_field("Remote-MTA", semi == std::string::npos ? "dns; " + r.remote_mta : r.remote_mta);
        }
        if (!r.diagnostic.empty()) s += fold_field("Diagnostic-Code", r.diagnostic);
        else if (!r.reason.empty() && (r.action == "failed" || r.action == "delayed"))
            s += fold_field("Diagnostic-Code", "X-Tern; " + r.reason);
        if (r.last_attempt > 0) s += fold_field("Last-Attempt-Date", rfc5322_date(r.last_attempt));
        if (in.kind == dsn_kind::delay && in.will_retry_until > 0)
            s += fold_field("Will-Retry-Until", rfc5322_date(in.will_retry_until));
    }
    return s;
}

}  // namespace

std::string rfc5322_date(int64_t unix_seconds) {
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    struct tm tm {};
    ::localtime_r(&t, &tm);
    static const char* const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    long off = tm.tm_gmtoff / 60;
    char sign = off < 0 ? '-' : '+';
    if (off < 0) off = -off;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7], tm.tm_mday,
                  months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60,
                  off % 60);
    return buf;
}

std::string fold_field(std::string_view name, std::string_view value) {
    std::string v = one_line(value);
    std::string out(name);
    out += ":";
    size_t col = out.size();
    size_t i = 0;
    // words are split at spaces; a word longer than a line stays whole
    bool first = true;
    while (i < v.size()) {
        while (i < v.size() && v[i] == ' ') ++i;
        if (i >= v.size()) break;
        size_t j = v.find(' ', i);
        if (j == std::string::npos) j = v.size();
        std::string_view word(v.data() + i, j - i);
        if (!first && col + 1 + word.size() > 78) {
            out += "\n ";
            col = 1;
        } else {
            out += ' ';
            ++col;
        }
        out += word;
        col += word.size();
        first = false;
        i = j;
    }
    out += "\n";
    return out;
}

dsn_message compose_dsn(const dsn_input& in) {
    dsn_message m;
    const std::string& b = in.boundary;
    std::string body = "This is a MIME-formatted delivery status notification.\n\n";
    body += "--" + b + "\n";
    body += "Content-Description: Notification\n";
    std::string text = explanation(in);
    body += "Content-Type: text/plain; charset=utf-8\n";
    body += has_8bit(text) ? "Content-Transfer-Encoding: 8bit\n\n" : "Content-Transfer-Encoding: 7bit\n\n";
    body += text;
    body += "\n--" + b + "\n";
    body += "Content-Description: Delivery report\n";
    body += in.smtputf8 ? "Content-Type: message/global-delivery-status\n" : "Content-Type: message/delivery-status\n";
    body += "\n";
    body += status_part(in);

    bool full = in.return_full && !in.too_large;
    std::string_view original = full ? in.original_message : in.original_headers;
    // text/rfc822-headers holds just the header lines, no trailing empty line
    if (!full) {
        while (original.size() >= 2 && original.substr(original.size() - 2) == "\n\n") original.remove_suffix(1);
    }
    if (!original.empty()) {
        body += "\n--" + b + "\n";
        if (full) {
            body += "Content-Description: Undelivered message\n";
            body += in.smtputf8 ? "Content-Type: message/global\n" : "Content-Type: message/rfc822\n";
        } else {
            body += "Content-Description: Headers of the undelivered message\n";
            body += in.smtputf8 ? "Content-Type: message/global-headers\n" : "Content-Type: text/rfc822-headers\n";
        }
        body += has_8bit(original) ? "Content-Transfer-Encoding: 8bit\n\n" : "\n";
        body.append(original.data(), original.size());
        if (body.back() != '\n') body += '\n';
    }
    body += "\n--" + b + "--\n";

    bool eight = has_8bit(body);
    std::string h;
    h += fold_field("From", "Mail Delivery System <" + one_line(in.from, 1000) + ">");
    h += fold_field("To", angle(in.to));
    h += fold_field("Subject", subject_of(in.kind));
    h += fold_field("Date", rfc5322_date(in.now));
    h += fold_field("Message-ID", angle(in.message_id));
    h += "Auto-Submitted: auto-replied\n";
    h += "MIME-Version: 1.0\n";
    h += "Content-Type: multipart/report; report-type=delivery-status;\n";
    h += "\tboundary=\"" + b + "\"\n";
    h += eight ? "Content-Transfer-Encoding: 8bit\n" : "Content-Transfer-Encoding: 7bit\n";
    h += "\n";

    m.text = h + body;
    m.eight_bit = eight || has_8bit(h);
    return m;
}

bool wants_failure_notice(uint8_t notify) {
    if (notify & notify_bits::never) return false;
    return notify == 0 || (notify & notify_bits::failure);
}

bool wants_delay_notice(uint8_t notify, bool delay_warnings_enabled) {
    if (notify & notify_bits::never) return false;
    if (notify == 0) return delay_warnings_enabled;
    return (notify & notify_bits::delay) != 0;
}

bool wants_success_notice(uint8_t notify) {
    return (notify & notify_bits::success) && !(notify & notify_bits::never);
}

}  // namespace tern::qmgr
