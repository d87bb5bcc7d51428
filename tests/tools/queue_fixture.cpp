// queue_fixture.cpp - test helper: writes queue files with given envelopes
// through the real queue writer, so the integration tests of postqueue and
// postsuper need no running tern. Not installed (check_PROGRAMS).
//
// usage: queue_fixture QUEUE_DIRECTORY [QUEUE] [-n COUNT] < spec
// Creates the queue tree if needed, writes COUNT (default 1) messages into
// QUEUE (default incoming) and prints their IDs, one per line. The spec has
// one directive per line:
//   sender ADDR | sender <>            null sender when absent
//   rcpt ADDR [orcpt=T;A] [notify=SUCCESS,DELAY|NEVER] [status=pending|done|failed|notify]
//   envid X | ret FULL|HDRS | body 7BIT|8BITMIME|BINARYMIME | smtputf8
//   by SECONDS R|N [T] | client ADDR [NAME] | helo NAME | auth USER | attr NAME VALUE
//   arrival UNIX_SECONDS
//   defer INDEX STATUS REASON...            a "delayed" result for recipient INDEX (from 0)
//   result INDEX ACTION STATUS REASON...    ACTION: delayed failed delivered relayed expanded
//   schedule NEXT_TRY ATTEMPTS | expire     retry state, forced-expire flag
//   size BYTES                              a generated message of about that size
//   data                                    the rest of the input is the message
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "lib/queue_dir.hpp"
#include "lib/queue_file.hpp"
#include "lib/queue_writer.hpp"
#include "lib/strutil.hpp"

using namespace tern;

namespace {

[[noreturn]] void die(const std::string& why) {
    std::fprintf(stderr, "queue_fixture: %s\n", why.c_str());
    std::exit(1);
}

uint8_t parse_notify(const std::string& v) {
    uint8_t n = 0;
    for (const auto& w : split_char(v, ',')) {
        if (w == "SUCCESS") n |= dsn_notify::success;
        else if (w == "FAILURE") n |= dsn_notify::failure;
        else if (w == "DELAY") n |= dsn_notify::delay;
        else if (w == "NEVER") n |= dsn_notify::never;
        else die("bad notify " + w);
    }
    return n;
}

rcpt_action parse_action(const std::string& a) {
    if (a == "delayed") return rcpt_action::delayed;
    if (a == "failed") return rcpt_action::failed;
    if (a == "delivered") return rcpt_action::delivered;
    if (a == "relayed") return rcpt_action::relayed;
    if (a == "expanded") return rcpt_action::expanded;
    die("bad action " + a);
}

std::string rest_of(std::istringstream& in) {
    std::string r;
    std::getline(in, r);
    return std::string(trim(r));
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> pos;
    long count = 1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-n" && i + 1 < argc) count = std::atol(argv[++i]);
        else pos.push_back(a);
    }
    if (pos.empty() || pos.size() > 2 || count < 1) die("usage: queue_fixture QUEUE_DIRECTORY [QUEUE] [-n COUNT] < spec");
    std::string queue = pos.size() > 1 ? pos[1] : "incoming";
    queue_dir q(pos[0], 1);
    std::string err;
    if (!create_queue_tree(q, {}, err)) die(err);

    envelope env;
    std::vector<rcpt_result> results;
    std::optional<schedule> sched;
    bool expire = false;
    int64_t arrival = 0;
    std::string message = "Subject: test\n\nhello\n";
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string key;
        if (!(in >> key) || key[0] == '#') continue;
        if (key == "sender") {
            in >> env.sender;
            if (env.sender == "<>") env.sender.clear();
        } else if (key == "rcpt") {
            recipient r;
            in >> r.address;
            std::string opt;
            while (in >> opt) {
                if (opt.rfind("orcpt=", 0) == 0) r.orcpt = opt.substr(6);
                else if (opt.rfind("notify=", 0) == 0) r.notify = parse_notify(opt.substr(7));
                else if (opt == "status=pending") r.status = rcpt_status::pending;
                else if (opt == "status=done") r.status = rcpt_status::done;
                else if (opt == "status=failed") r.status = rcpt_status::failed;
                else if (opt == "status=notify") r.status = rcpt_status::success_notify;
                else die("bad rcpt option " + opt);
            }
            env.recipients.push_back(r);
        } else if (key == "envid") {
            in >> env.envid;
        } else if (key == "ret") {
            std::string v;
            in >> v;
            env.ret = v == "FULL" ? dsn_ret::full : v == "HDRS" ? dsn_ret::hdrs : (die("bad ret"), dsn_ret::full);
        } else if (key == "body") {
            std::string v;
            in >> v;
            env.body = v == "7BIT" ? body_type::seven_bit : v == "8BITMIME" ? body_type::eight_bit_mime
                     : v == "BINARYMIME" ? body_type::binary_mime : (die("bad body"), body_type::seven_bit);
        } else if (key == "smtputf8") {
            env.smtputf8 = true;
        } else if (key == "by") {
            std::string mode, trace;
            in >> env.by.seconds >> mode >> trace;
            env.by.mode = mode.empty() ? 'R' : mode[0];
            env.by.trace = trace == "T";
        } else if (key == "client") {
            in >> env.client_address >> env.client_name;
        } else if (key == "helo") {
            in >> env.helo;
        } else if (key == "auth") {
            in >> env.auth_user;
        } else if (key == "attr") {
            std::string n;
            in >> n;
            env.attributes.emplace_back(n, rest_of(in));
        } else if (key == "arrival") {
            in >> arrival;
        } else if (key == "defer" || key == "result") {
            rcpt_result r;
            std::string action = "delayed";
            in >> r.index;
            if (key == "result") in >> action;
            r.action = parse_action(action);
            in >> r.status;
            r.reason = rest_of(in);
            r.time = 1700000000;
            results.push_back(r);
        } else if (key == "schedule") {
            schedule s;
            in >> s.next_try >> s.attempts;
            sched = s;
        } else if (key == "expire") {
            expire = true;
        } else if (key == "size") {
            size_t n = 0;
            in >> n;
            message = "Subject: sized\n\n";
            while (message.size() < n) message += std::string(71, 'x') + "\n";
        } else if (key == "data") {
            std::ostringstream rest;
            rest << std::cin.rdbuf();
            message = rest.str();
            break;
        } else {
            die("unknown directive " + key);
        }
    }

    for (long i = 0; i < count; ++i) {
        auto w = queue_writer::create(q, err);
        if (!w) die(err);
        int64_t id_time = w->env().arrival_us;
        w->env() = env;
        w->env().arrival_us = arrival ? arrival * 1000000 : id_time;
        if (!w->write(message)) die(w->error());
        std::string id = w->id();
        if (!w->commit(err, false)) die(err);
        if (!results.empty() || sched || expire) {
            queue_file::open_status st;
            auto f = queue_file::open(q, "incoming", id, true, st, err);
            if (!f) die(err);
            for (const auto& r : results)
                if (!f->add_result(r, err, false)) die(err);
            schedule s = sched.value_or(schedule{});
            if (expire) s.flags |= sched_flags::forced_expire;
            if (!f->set_schedule(s, err, false)) die(err);
        }
        if (queue != "incoming" && !q.move(id, "incoming", queue, err, false)) die(err);
        std::printf("%s\n", id.c_str());
    }
    return 0;
}
