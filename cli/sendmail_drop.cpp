// sendmail_drop.cpp - writing a submission into maildrop/ as a queue file
// (lib/queue_writer, target maildrop: written as .ID, fsynced, renamed to
// ID), then a fire-and-forget wake-up for pickup on public/pickup.
// SECURITY: runs with the submitting user's privileges (plus the
// setgid_group in system mode); pickup treats what it finds as untrusted.
#include <cerrno>

#include "cli/sendmail.hpp"
#include "lib/addr.hpp"
#include "lib/attr.hpp"
#include "lib/ipc.hpp"
#include "lib/queue_dir.hpp"
#include "lib/queue_writer.hpp"
#include "lib/strutil.hpp"

namespace tern::sendmail {

std::string qualify_address(const config& cfg, const std::string& addr) {
    if (addr.empty() || addr == "<>") return "";
    auto [local, domain] = split_address(addr);
    if (domain.empty()) return local + "@" + to_lower(cfg.get("myorigin"));
    return local + "@" + lowercase_domain(domain);
}

int drop_message(const config& cfg, const submission& sub, std::string& id, std::string& err) {
    uint64_t limit = cfg.get_size("message_size_limit");
    if (limit && sub.message.size() > limit) {
        err = "message file too big (more than " + std::to_string(limit) + " bytes)";
        return ex_dataerr;
    }
    if (sub.recipients.empty()) {
        err = "no recipient addresses";
        return ex_usage;
    }
    queue_dir q = queue_dir::from_config(cfg);
    auto w = queue_writer::create(q, err, queue_writer::target::maildrop);
    if (!w) {
        // the directory is missing or not ours to write: a configuration or permission problem
        return errno == EACCES || errno == EPERM ? ex_noperm : ex_cantcreat;
    }
    envelope& env = w->env();
    env.sender = sub.sender;
    env.recipients = sub.recipients;
    env.protocol = "local";
    env.body = sub.body;
    env.smtputf8 = sub.smtputf8;
    env.envid = sub.envid;
    env.ret = sub.ret;
    if (!sub.full_name.empty()) env.attributes.emplace_back("full_name", printable(sub.full_name, 200));
    if (!w->write(sub.message) || !w->commit(err)) {
        if (err.empty()) err = w->error();
        return w->out_of_space() ? ex_tempfail : ex_cantcreat;
    }
    id = w->id();
    // wake pickup when tern runs; otherwise it finds the file at start
    attr_list req;
    req.add("request", "wakeup");
    ipc_notify(q.root() + "/public/pickup", req, 500);
    return ex_ok;
}

}  // namespace tern::sendmail
