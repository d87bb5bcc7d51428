// pickup.cpp - see pickup.hpp.
// SECURITY: maildrop files are untrusted local input; lib/queue_file's
// reader bounds-checks them, and only the fields listed in pickup.hpp are
// carried over.
#include "pickup/pickup.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.hpp"
#include "lib/fd.hpp"
#include "lib/log.hpp"
#include "lib/queue_file.hpp"
#include "lib/queue_writer.hpp"
#include "lib/strutil.hpp"

namespace tern::pickup {

namespace {

void to_corrupt(const queue_dir& q, const std::string& id, const std::string& why) {
    std::string err;
    log::warn("%s: maildrop file refused: %s; moved to corrupt/", id.c_str(), why.c_str());
    if (!q.move(id, queue_names::maildrop, queue_names::corrupt, err)) {
        log::warn("%s: cannot move to corrupt/: %s; removing it", id.c_str(), err.c_str());
        q.remove(queue_names::maildrop, id, err);
    }
}

// RFC 5322 display name: plain words as they are, anything else quoted.
std::string display_name(const std::string& name) {
    bool plain = !name.empty();
    for (unsigned char c : name)
        if (!(std::isalnum(c) || c == ' ' || c >= 0x80 || std::strchr("!#$%&'*+-/=?^_`{|}~", c))) plain = false;
    if (plain) return name;
    std::string q = "\"";
    for (char c : name) {
        if (c == '"' || c == '\\') q += '\\';
        if (c == '\r' || c == '\n') c = ' ';
        q += c;
    }
    return q + "\"";
}

}  // namespace

settings load_settings(const config& cfg) {
    settings s;
    s.myhostname = cfg.get("myhostname");
    s.myorigin = cfg.get("myorigin");
    s.mail_name = cfg.get("mail_name");
    s.message_size_limit = cfg.get_size("message_size_limit");
    s.header_size_limit = cfg.get_size("header_size_limit");
    s.hopcount_limit = static_cast<int>(cfg.get_int("hopcount_limit"));
    return s;
}

bool pickup_file(const queue_dir& q, const settings& s, const std::string& id, bool& queued) {
    queued = false;
    std::string path = q.path(queue_names::maildrop, id);
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) {
        if (errno != ENOENT) log::warn("%s: cannot open %s: %s", id.c_str(), path.c_str(), errno_text().c_str());
        return false;
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        to_corrupt(q, id, "not a regular file");
        return true;
    }
    queue_file_info info;
    std::string err;
    read_options ro;
    ro.log = false;
    if (!read_queue_file(fd.get(), info, err, ro)) {
        to_corrupt(q, id, err);
        return true;
    }
    if (s.message_size_limit && info.message_size() > s.message_size_limit) {
        to_corrupt(q, id, "message larger than message_size_limit");
        return true;
    }
    if (info.env.recipients.empty()) {
        to_corrupt(q, id, "no recipients");
        return true;
    }
    std::string msg;
    if (!read_file_range(fd.get(), info.message_offset, info.message_length, msg, err)) {
        to_corrupt(q, id, err);
        return true;
    }

    size_t pos = 0;
    auto he = find_header_end(msg, &pos);
    header_end end = he ? *he : header_end{msg.size(), msg.size(), false};
    if (end.header_size > s.header_size_limit) {
        to_corrupt(q, id, "message header larger than header_size_limit");
        return true;
    }
    std::string_view fields = std::string_view(msg).substr(0, end.header_size);
    header_facts facts = scan_header(fields, static_cast<size_t>(s.header_size_limit));
    if (static_cast<int>(facts.received) + 1 > s.hopcount_limit) {
        to_corrupt(q, id, "too many hops (Received headers)");
        return true;
    }

    auto w = queue_writer::create(q, err);
    if (!w) {
        log::warn("%s: cannot create a queue file: %s (will retry)", id.c_str(), err.c_str());
        return false;
    }
    envelope& env = w->env();
    const envelope& in = info.env;
    env.sender = in.sender;
    for (const auto& r : in.recipients) {
        recipient copy;
        copy.address = r.address;
        copy.orcpt = r.orcpt;
        copy.notify = r.notify;
        env.recipients.push_back(std::move(copy));
    }
    env.protocol = "local";
    env.body = in.body;
    env.smtputf8 = in.smtputf8;
    env.envid = in.envid;
    env.ret = in.ret;
    env.by = in.by;
    env.attributes.emplace_back("uid", std::to_string(st.st_uid));
    std::string full_name;
    if (const std::string* fn = in.attribute("full_name")) {
        full_name = printable(*fn, 200);
        env.attributes.emplace_back("full_name", full_name);
    }

    std::time_t now = std::time(nullptr);
    received_info r;
    r.uid = static_cast<long>(st.st_uid);
    r.by_host = s.myhostname;
    r.mail_name = s.mail_name;
    r.queue_id = w->id();
    if (env.recipients.size() == 1) r.for_rcpt = env.recipients.front().address;
    r.when = now;
    std::string prefix = make_received(r);
    std::string add;
    if (!facts.from && !env.sender.empty())
        add += "From: " + (full_name.empty() ? env.sender : display_name(full_name) + " <" + env.sender + ">") + "\n";
    if (!facts.date) add += "Date: " + rfc5322_date(now) + "\n";
    std::string message_id = facts.message_id_value;
    if (!facts.message_id) {
        message_id = make_message_id(w->id(), s.myhostname, now);
        add += "Message-ID: " + message_id + "\n";
    }
    bool ok = w->write(prefix) && w->write(fields) && w->write(add) &&
              w->write(std::string_view(msg).substr(end.header_size));
    uint64_t size = w->message_size();
    std::string new_id = w->id();
    if (!ok || !w->commit(err)) {
        log::warn("%s: cannot queue the message: %s (will retry)", id.c_str(), err.empty() ? w->error().c_str() : err.c_str());
        return false;
    }
    queued = true;
    log::info("%s: uid=%lu from=<%s> (maildrop %s)", new_id.c_str(), static_cast<unsigned long>(st.st_uid),
              env.sender.c_str(), id.c_str());
    if (!message_id.empty()) log::info("%s: message-id=%s", new_id.c_str(), message_id.c_str());
    log::info("%s: from=<%s>, size=%llu, nrcpt=%zu (queued)", new_id.c_str(), env.sender.c_str(),
              static_cast<unsigned long long>(size), env.recipients.size());
    if (::unlink(path.c_str()) != 0 && errno != ENOENT)
        log::warn("%s: cannot remove %s: %s (it may be queued twice)", id.c_str(), path.c_str(), errno_text().c_str());
    return true;
}

size_t scan_maildrop(const queue_dir& q, const settings& s) {
    size_t queued_total = 0;
    for (const auto& e : q.list(queue_names::maildrop)) {
        bool queued = false;
        pickup_file(q, s, e.id, queued);
        if (queued) ++queued_total;
    }
    return queued_total;
}

}  // namespace tern::pickup
