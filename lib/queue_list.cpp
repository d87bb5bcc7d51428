// queue_list.cpp - see queue_list.hpp.
#include "lib/queue_list.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <fcntl.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "lib/fd.hpp"
#include "lib/queue_dir.hpp"

namespace tern {
namespace {

// Control characters become '?': a queue file never holds them, but a
// listing must not pass terminal escapes on even if one did.
std::string printable_text(std::string_view s) {
    std::string o(s);
    for (auto& c : o) {
        unsigned char u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) c = '?';
    }
    return o;
}

std::string shown_sender(const envelope& env) {
    return env.sender.empty() ? std::string("MAILER-DAEMON") : printable_text(env.sender);
}

// The text mailq shows for a recipient still to deliver: its last delay reason.
const std::string* delay_reason(const recipient& r) {
    if (r.last && r.last->action == rcpt_action::delayed && !r.last->reason.empty()) return &r.last->reason;
    return nullptr;
}

unique_fd open_for_listing(const std::string& path) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME));
    if (!fd && errno == EPERM) fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    return fd;
}

// Recipients in listing order: those with a reason first, grouped by
// reason in order of first appearance, then those without one.
std::vector<const recipient*> listing_order(const envelope& env) {
    std::vector<const recipient*> out, plain;
    std::vector<const std::string*> reasons;
    for (const auto& r : env.recipients) {
        if (r.status != rcpt_status::pending) continue;
        const std::string* why = delay_reason(r);
        if (!why) {
            plain.push_back(&r);
            continue;
        }
        bool known = false;
        for (auto* k : reasons) known = known || *k == *why;
        if (!known) reasons.push_back(why);
    }
    for (auto* why : reasons)
        for (const auto& r : env.recipients)
            if (r.status == rcpt_status::pending && delay_reason(r) && *delay_reason(r) == *why) out.push_back(&r);
    out.insert(out.end(), plain.begin(), plain.end());
    return out;
}

}  // namespace

std::string dsn_notify_text(uint8_t n) {
    if (n & dsn_notify::never) return "NEVER";
    std::string s;
    auto add = [&](uint8_t bit, const char* name) {
        if (!(n & bit)) return;
        if (!s.empty()) s += ',';
        s += name;
    };
    add(dsn_notify::success, "SUCCESS");
    add(dsn_notify::failure, "FAILURE");
    add(dsn_notify::delay, "DELAY");
    return s;
}

std::string json_quote(std::string_view s) {
    std::string o = "\"";
    auto u_escape = [&](unsigned v) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", v);
        o += b;
    };
    for (size_t i = 0; i < s.size(); ++i) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c == '"') o += "\\\"";
        else if (c == '\\') o += "\\\\";
        else if (c == '\n') o += "\\n";
        else if (c == '\r') o += "\\r";
        else if (c == '\t') o += "\\t";
        else if (c < 0x20 || c == 0x7f) u_escape(c);
        else if (c < 0x80) o += static_cast<char>(c);
        else {
            // pass a well-formed UTF-8 sequence through, escape a stray byte
            size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
            bool ok = len > 0 && i + len <= s.size();
            for (size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
            if (ok && len == 3) {
                unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
                ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 >= 0xa0);  // overlong, surrogates
            }
            if (ok && len == 4) {
                unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
                ok = !(c == 0xf0 && c1 < 0x90) && !(c == 0xf4 && c1 >= 0x90);
            }
            if (ok) {
                o.append(s.substr(i, len));
                i += len - 1;
            } else {
                u_escape(c);
            }
        }
    }
    o += '"';
    return o;
}

namespace {

struct walk_slot {
    bool ok = false, vanished = false;
    queue_file_info info;
    std::string err;
};

void read_slot(const queue_dir::entry& e, walk_slot& s) {
    unique_fd fd = open_for_listing(e.path);
    if (!fd) {
        s.vanished = errno == ENOENT;  // moved on since the directory was read
        s.err = "open: " + errno_text();
        return;
    }
    s.ok = read_queue_file(fd.get(), s.info, s.err);
}

}  // namespace

void queue_walk(const queue_dir& q, const queue_walk_fn& fn, const std::function<void(const std::string&)>& warn) {
    // Files are read by a few threads at once: with a cold cache the disk
    // then serves many small reads in parallel (several times faster);
    // results are handed to fn in order, one chunk at a time.
    constexpr size_t chunk = 2048, threads = 8, inline_below = 64;
    for (auto queue : listing_queues) {
        auto entries = q.list(queue);
        for (size_t base = 0; base < entries.size(); base += chunk) {
            size_t n = std::min(chunk, entries.size() - base);
            std::vector<walk_slot> slots(n);
            if (n < inline_below) {
                for (size_t i = 0; i < n; ++i) read_slot(entries[base + i], slots[i]);
            } else {
                std::atomic<size_t> next{0};
                auto work = [&] {
                    for (size_t i; (i = next.fetch_add(1)) < n;) read_slot(entries[base + i], slots[i]);
                };
                std::vector<std::thread> pool;
                for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
                work();
                for (auto& t : pool) t.join();
            }
            for (size_t i = 0; i < n; ++i) {
                auto& s = slots[i];
                const std::string& id = entries[base + i].id;
                if (!s.ok) {
                    if (!s.vanished && warn) warn(id + ": " + std::string(queue) + " queue: " + s.err);
                    continue;
                }
                if (!fn(queue, id, s.info)) return;
            }
        }
    }
}

std::string mailq_heading() {
    char b[128];
    std::snprintf(b, sizeof b, "%-11s %7s %-20s %s\n", "-Queue ID-", "--Size--", "----Arrival Time----",
                  "-Sender/Recipient-------");
    return b;
}

std::string mailq_entry(std::string_view queue, const std::string& id, const queue_file_info& info) {
    std::string id_status = id;
    if (queue == queue_names::active) id_status += '*';
    else if (queue == queue_names::hold) id_status += '!';
    if (info.sched.flags & sched_flags::forced_expire) id_status += '#';
    time_t t = static_cast<time_t>(info.env.arrival_us / 1000000);
    struct tm tm;
    char when[64] = "";
    if (!::localtime_r(&t, &tm) || !::asctime_r(&tm, when)) std::snprintf(when, sizeof when, "%20s", "");
    std::string sender = shown_sender(info.env);
    std::string o;
    std::vector<char> line(id_status.size() + sender.size() + 64);
    std::snprintf(line.data(), line.size(), "%-11s %7llu %20.20s ", id_status.c_str(),
                  static_cast<unsigned long long>(info.message_size()), when);
    o += line.data();
    o += sender;
    o += '\n';
    std::string saved;
    for (const recipient* r : listing_order(info.env)) {
        const std::string* why = delay_reason(*r);
        std::string reason = why ? printable_text(*why) : std::string();
        if (reason != saved) {
            saved = reason;
            std::string show = saved.empty() ? std::string("reason unavailable") : saved;
            if (show.size() < 76) o.append(76 - show.size(), ' ');
            o += '(' + show + ")\n";
        }
        o.append(41, ' ');
        o += printable_text(r->address);
        o += '\n';
    }
    return o;
}

std::string mailq_summary(uint64_t messages, uint64_t total_size) {
    char b[128];
    std::snprintf(b, sizeof b, "\n-- %llu Kbytes in %llu Request%s.\n",
                  static_cast<unsigned long long>(total_size / 1024), static_cast<unsigned long long>(messages),
                  messages == 1 ? "" : "s");
    return b;
}

std::string queue_json_entry(std::string_view queue, const std::string& id, const queue_file_info& info) {
    const envelope& e = info.env;
    std::string o = "{\"queue_name\": " + json_quote(queue) + ", \"queue_id\": " + json_quote(id) +
                    ", \"arrival_time\": " + std::to_string(e.arrival_us / 1000000) +
                    ", \"message_size\": " + std::to_string(info.message_size()) + ", \"forced_expire\": " +
                    ((info.sched.flags & sched_flags::forced_expire) ? "true" : "false") +
                    ", \"sender\": " + json_quote(shown_sender(e)) + ", \"recipients\": [";
    bool first = true;
    for (const auto& r : e.recipients) {
        if (r.status != rcpt_status::pending) continue;
        if (!first) o += ", ";
        first = false;
        o += "{\"address\": " + json_quote(r.address);
        if (!r.orcpt.empty()) o += ", \"orcpt\": " + json_quote(r.orcpt);
        if (r.notify) o += ", \"notify\": " + json_quote(dsn_notify_text(r.notify));
        if (const std::string* why = delay_reason(r)) o += ", \"delay_reason\": " + json_quote(*why);
        o += "}";
    }
    o += "]";
    if (!e.envid.empty()) o += ", \"envid\": " + json_quote(e.envid);
    if (e.ret != dsn_ret::unspecified) o += std::string(", \"ret\": ") + (e.ret == dsn_ret::full ? "\"FULL\"" : "\"HDRS\"");
    static const char* const bodies[] = {"", "7BIT", "8BITMIME", "BINARYMIME"};
    if (e.body != body_type::unspecified) o += std::string(", \"body_type\": \"") + bodies[static_cast<int>(e.body)] + "\"";
    if (e.smtputf8) o += ", \"smtputf8\": true";
    if (e.by.mode) {
        o += ", \"deliver_by\": {\"deadline\": " + std::to_string(e.by.deadline) +
             ", \"seconds\": " + std::to_string(e.by.seconds) + ", \"mode\": \"" + e.by.mode + "\", \"trace\": " +
             (e.by.trace ? "true" : "false") + "}";
    }
    if (!e.client_address.empty()) o += ", \"client_address\": " + json_quote(e.client_address);
    if (!e.client_name.empty()) o += ", \"client_name\": " + json_quote(e.client_name);
    if (!e.helo.empty()) o += ", \"helo\": " + json_quote(e.helo);
    if (!e.auth_user.empty()) o += ", \"auth_user\": " + json_quote(e.auth_user);
    if (info.sched.attempts) o += ", \"attempts\": " + std::to_string(info.sched.attempts);
    if (info.sched.next_try) o += ", \"next_attempt\": " + std::to_string(info.sched.next_try);
    o += "}\n";
    return o;
}

}  // namespace tern
