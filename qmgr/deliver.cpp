// deliver.cpp - the qmgr's side of the delivery protocol (see
// docs/internal-protocols.md): one request per scheduler entry to
// private/<agent>, one result per recipient back. An agent that cannot be
// reached (not running, restarting after a crash) pauses its transport and
// the entry is tried again; an entry whose agent died under it
// max_agent_crashes times is deferred instead, so one poisonous message
// cannot stall a transport. A request that times out defers its recipients.
#include <cerrno>
#include <ctime>

#include "lib/log.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"
#include "qmgr/bounce.hpp"
#include "qmgr/manager.hpp"

namespace tern::qmgr {

namespace {

const char* body_name(body_type b) {
    switch (b) {
    case body_type::seven_bit: return "7BIT";
    case body_type::eight_bit_mime: return "8BITMIME";
    case body_type::binary_mime: return "BINARYMIME";
    default: return "";
    }
}

std::string notify_name(uint8_t n) {
    if (n & dsn_notify::never) return "NEVER";
    std::vector<std::string> v;
    if (n & dsn_notify::success) v.push_back("SUCCESS");
    if (n & dsn_notify::failure) v.push_back("FAILURE");
    if (n & dsn_notify::delay) v.push_back("DELAY");
    return join(v, ",");
}

// "2.0.0" .. "5.7.999": class, subject, detail.
bool valid_dsn(const std::string& s) {
    if (s.size() < 5 || s.size() > 11) return false;
    if (s[0] != '2' && s[0] != '4' && s[0] != '5') return false;
    if (s[1] != '.') return false;
    auto parts = split_char(s, '.');
    if (parts.size() != 3) return false;
    for (size_t i = 1; i < 3; ++i) {
        if (parts[i].empty() || parts[i].size() > 3) return false;
        for (char c : parts[i])
            if (c < '0' || c > '9') return false;
    }
    return true;
}

}  // namespace

void manager::dispatch() {
    if (_stopped) return;
    for (auto& e : _sched.start(now_ms())) send(std::move(e));
    take_dead();
}

void manager::send(entry e) {
    auto mit = _messages.find(e.msg);
    if (mit == _messages.end()) {
        _sched.finished(e, feedback::neutral, now_ms());
        return;
    }
    message& m = *mit->second;
    const auto& env = m.qf->info().env;
    const transport_settings* ts = _sched.transport(e.transport);
    std::string agent = ts && !ts->agent.empty() ? ts->agent : agent_for(e.transport);

    attr_list req;
    req.add("request", "deliver");
    req.add("queue_id", m.id);
    req.add("queue_file", std::string(queue_names::active) + "/" + m.id);
    req.add("transport", agent);
    req.add("nexthop", e.nexthop);
    req.add("sender", env.sender);
    if (!env.envid.empty()) req.add("envid", env.envid);
    if (env.ret == dsn_ret::full) req.add("ret", "FULL");
    else if (env.ret == dsn_ret::hdrs) req.add("ret", "HDRS");
    if (const char* b = body_name(env.body); *b) req.add("body", b);
    req.add("smtputf8", env.smtputf8 ? "yes" : "no");
    req.add("rcpt_count", std::to_string(e.rcpts.size()));
    for (size_t k = 0; k < e.rcpts.size(); ++k) {
        const auto& r = env.recipients[e.rcpts[k]];
        std::string p = "rcpt." + std::to_string(k) + ".";
        req.add(p + "addr", r.address);
        req.add(p + "orcpt", r.orcpt);
        req.add(p + "notify", notify_name(r.notify));
        req.add(p + "id", std::to_string(e.rcpts[k]));
    }
    uint64_t ticket = _next_ticket++;
    auto& rs = _requests[ticket];
    rs.ticket = ticket;
    rs.e = e;
    rs.req = ipc_async(_srv.loop, _srv.socket_path("private/" + agent), req,
                       std::chrono::seconds(_s.delivery_timeout),
                       [this, ticket](std::optional<attr_list> reply, const std::string& err) {
                           on_reply(ticket, std::move(reply), err);
                       });
}

void manager::on_reply(uint64_t ticket, std::optional<attr_list> reply, const std::string& err) {
    auto it = _requests.find(ticket);
    if (it == _requests.end()) return;
    entry e = std::move(it->second.e);
    // never destroy a request inside its own callback
    if (it->second.req) _srv.loop.defer_delete(std::move(it->second.req));
    _requests.erase(it);
    int64_t now = now_ms();
    auto mit = _messages.find(e.msg);
    if (mit == _messages.end()) {
        _sched.finished(e, feedback::neutral, now);
        schedule_pump();
        return;
    }
    message& m = *mit->second;
    const transport_settings* ts = _sched.transport(e.transport);
    std::string agent = "private/" + (ts && !ts->agent.empty() ? ts->agent : agent_for(e.transport));

    if (!reply) {
        if (err == "timeout") {
            std::string why = "delivery agent " + agent + " did not answer within " +
                              std::to_string(_s.delivery_timeout) + "s";
            log::warn("%s: %s", m.id.c_str(), why.c_str());
            _sched.finished(e, feedback::failure, now, why, "4.4.7");
            apply_results(m, e, nullptr, "4.4.7", why);
        } else {
            int& crashes = m.crashes[e.rcpts];
            ++crashes;
            std::string why = "delivery agent " + agent + " failed: " + err;
            if (crashes >= _s.max_agent_crashes) {
                log::warn("%s: %s (%d times); deferring", m.id.c_str(), why.c_str(), crashes);
                _sched.finished(e, feedback::neutral, now);
                apply_results(m, e, nullptr, "4.3.0", why);
            } else {
                log::warn("%s: %s; trying again", m.id.c_str(), why.c_str());
                _sched.requeue(e, now, why);
            }
        }
        schedule_pump();
        return;
    }
    std::string status = reply->get("status");
    if (status == "done") {
        std::vector<std::string> codes;
        std::string first_reason, first_code;
        for (size_t k = 0; k < e.rcpts.size(); ++k) {
            std::string p = "rcpt." + std::to_string(k) + ".";
            std::string c = reply->get(p + "dsn");
            codes.push_back(c);
            if (first_reason.empty() && !c.empty() && c[0] == '4') {
                first_reason = reply->get(p + "text");
                first_code = c;
            }
        }
        m.crashes.erase(e.rcpts);
        _sched.finished(e, classify_feedback(codes), now, first_reason, first_code.empty() ? "4.4.1" : first_code);
        apply_results(m, e, &*reply, "", "");
    } else {
        std::string why = reply->get("reason", status.empty() ? "malformed reply" : "request failed");
        why = agent + ": " + why;
        log::warn("%s: %s", m.id.c_str(), why.c_str());
        _sched.finished(e, feedback::failure, now, why, "4.3.0");
        apply_results(m, e, nullptr, "4.3.0", why);
    }
    schedule_pump();
}

void manager::take_dead() {
    for (auto& d : _sched.take_deferred()) {
        auto mit = _messages.find(d.e.msg);
        if (mit == _messages.end()) continue;
        apply_results(*mit->second, d.e, nullptr, d.status, d.reason);
    }
}

void manager::apply_results(message& m, const entry& e, const attr_list* reply, const std::string& fail_status,
                            const std::string& fail_text) {
    const auto& info = m.qf->info();
    const auto& env = info.env;
    std::time_t now = std::time(nullptr);
    double delay = static_cast<double>(now) - static_cast<double>(env.arrival_us) / 1e6;
    if (delay < 0) delay = 0;
    std::string relay = e.transport == "none" ? "none"
                        : (e.transport == "local" || e.transport == "virtual")
                            ? agent_for(e.transport)
                            : e.transport + "[" + e.nexthop + "]";

    struct decision {
        uint32_t idx;
        rcpt_status st;
    };
    std::vector<decision> ds;
    ds.reserve(e.rcpts.size());
    for (size_t k = 0; k < e.rcpts.size(); ++k) {
        uint32_t i = e.rcpts[k];
        pass_result r;
        if (reply) {
            std::string p = "rcpt." + std::to_string(k) + ".";
            r.status = reply->get(p + "dsn");
            r.action = reply->get(p + "action");
            r.text = reply->get(p + "text");
            r.mta = reply->get(p + "mta");
            r.diag = reply->get(p + "diag");
            if (!valid_dsn(r.status)) {
                r = {};
                r.status = "4.3.0";
                r.text = "the delivery agent gave no valid result for this recipient";
            }
        } else if (e.transport == "none") {
            r = m.results[i];
        } else {
            r.status = fail_status.empty() ? "4.3.0" : fail_status;
            r.text = fail_text;
        }
        // the action must agree with the status class
        char cls = r.status[0];
        if (cls == '2') {
            if (r.action != "relayed" && r.action != "expanded") r.action = "delivered";
        } else if (cls == '5') {
            r.action = "failed";
        } else {
            r.action = "deferred";
        }
        r.have = true;
        m.results[i] = r;

        const auto& rc = env.recipients[i];
        rcpt_status st = final_status(m, i, cls);
        if (cls == '5' && st == rcpt_status::done && !env.sender.empty() &&
            to_lower(env.sender) == to_lower(_s.double_bounce))
            log::info("%s: to=<%s>: undeliverable postmaster notice dropped (double bounce): %s", m.id.c_str(),
                      rc.address.c_str(), printable(r.text, 500).c_str());
        ds.push_back({i, st});

        const char* word = cls == '2' ? "sent" : cls == '5' ? "bounced" : "deferred";
        std::string orig;
        if (!rc.orcpt.empty()) {
            auto semi = rc.orcpt.find(';');
            std::string o = semi == std::string::npos ? rc.orcpt : rc.orcpt.substr(semi + 1);
            if (to_lower(o) != to_lower(rc.address)) orig = ", orig_to=<" + printable(o, 300) + ">";
        }
        log::info("%s: to=<%s>%s, relay=%s, delay=%.2f, dsn=%s, status=%s (%s)", m.id.c_str(), rc.address.c_str(),
                  orig.c_str(), relay.c_str(), delay, r.status.c_str(), word, printable(r.text, 500).c_str());
        if (cls == '2') ++_count.delivered;
        else if (cls == '5') ++_count.bounced;
        else ++_count.deferred;
    }

    // The last entry of a message that leaves nothing to do needs no
    // writes: removing the file (with a directory fsync) records it all.
    bool complete = m.outstanding == 1;
    if (complete) {
        std::vector<rcpt_status> after(env.recipients.size());
        for (size_t j = 0; j < after.size(); ++j) after[j] = env.recipients[j].status;
        for (auto& d : ds) after[d.idx] = d.st;
        for (auto s : after)
            if (s != rcpt_status::done) {
                complete = false;
                break;
            }
    }
    bool final_written = false;
    if (complete) m.complete = true;
    else {
        std::string err;
        for (auto& d : ds) {
            const auto& r = m.results[d.idx];
            bool ok = true;
            if (d.st != rcpt_status::done) {
                rcpt_result rr;
                rr.index = d.idx;
                rr.time = now;
                rr.action = r.action == "delivered"  ? rcpt_action::delivered
                            : r.action == "relayed"  ? rcpt_action::relayed
                            : r.action == "expanded" ? rcpt_action::expanded
                            : r.action == "failed"   ? rcpt_action::failed
                                                     : rcpt_action::delayed;
                rr.status = r.status;
                rr.reason = r.text;
                if (!r.mta.empty()) rr.remote_mta = r.mta.find(';') == std::string::npos ? "dns; " + r.mta : r.mta;
                rr.diagnostic = r.diag;
                ok = m.qf->add_result(rr, err, false);
            }
            if (ok && d.st != rcpt_status::pending) {
                ok = m.qf->set_status(d.idx, d.st, err, false);
                final_written = true;
            }
            if (!ok) {
                log::error("%s: cannot record result: %s", m.id.c_str(), err.c_str());
                m.io_error = true;
                break;
            }
        }
    }
    record(m, e, final_written);
}

}  // namespace tern::qmgr
