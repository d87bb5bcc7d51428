// finish.cpp - what happens to a message when every entry of its pass is
// done: expiry (maximal_queue_lifetime, bounce_queue_lifetime, DELIVERBY
// R, postsuper -f), delay warnings (delay_warning_time, DELIVERBY N),
// notices, then removal or deferral.
//
// Crash safety of notices: a recipient's final result is recorded first
// (status failed or success_notify, with its result record, fdatasync).
// The notice is then written as a new queue file and committed (fsync,
// rename into incoming/, directory fsync); only after that are those
// statuses flipped to done. A crash in between sends the notice again on
// the next pass; no notice is ever lost. A notice to the null sender
// cannot exist: a failed notice (null sender) goes to the postmaster with
// double_bounce_sender as its sender, and a failure of such a postmaster
// notice is dropped with a log line, so nothing loops.
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <random>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/queue_writer.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"
#include "qmgr/bounce.hpp"
#include "qmgr/manager.hpp"

namespace tern::qmgr {

namespace {
// DELIVERBY: the writer stores arrival + by-time; derive it if only the by-time is there.
int64_t deliver_by_deadline(const envelope& env) {
    if (env.by.deadline > 0) return env.by.deadline;
    if (env.by.mode == 'R' || env.by.mode == 'N') return env.arrival_us / 1000000 + env.by.seconds;
    return 0;
}
}  // namespace

rcpt_status manager::final_status(const message& m, uint32_t i, char cls) const {
    const auto& env = m.qf->info().env;
    const auto& rc = env.recipients[i];
    bool dbl = !env.sender.empty() && to_lower(env.sender) == to_lower(_s.double_bounce);
    if (cls == '2')
        return (!env.sender.empty() && !dbl && wants_success_notice(rc.notify)) ? rcpt_status::success_notify
                                                                              : rcpt_status::done;
    if (cls == '5') {
        if (dbl) return rcpt_status::done;
        if (env.sender.empty()) return rcpt_status::failed;
        return wants_failure_notice(rc.notify) ? rcpt_status::failed : rcpt_status::done;
    }
    return rcpt_status::pending;
}

void manager::record(message& m, const entry&, bool final_written) {
    uint64_t h = m.handle;
    if (final_written && !m.io_error) {
        // durable before the entry counts as done
        int fd = m.qf->fd();
        auto rc = std::make_shared<int>(0);
        _workers->submit([fd, rc] { *rc = ::fdatasync(fd) == 0 ? 0 : errno; },
                         [this, h, rc] {
                             if (*rc != 0) {
                                 auto it = _messages.find(h);
                                 if (it != _messages.end()) {
                                     log::error("%s: fdatasync: %s", it->second->id.c_str(), errno_text(*rc).c_str());
                                     it->second->io_error = true;
                                 }
                             }
                             entry_done(h);
                         });
        return;
    }
    // finish() must not run inside the caller's stack
    _srv.loop.post([this, h] { entry_done(h); });
}

void manager::entry_done(uint64_t handle) {
    if (_stopped) return;
    auto it = _messages.find(handle);
    if (it == _messages.end()) return;
    message& m = *it->second;
    if (m.outstanding > 0) --m.outstanding;
    if (m.outstanding == 0) finish(m);
}

void manager::finish(message& m) {
    if (m.finishing) return;
    m.finishing = true;
    const auto& info = m.qf->info();
    const auto& env = info.env;
    if (m.io_error) {
        log::error("%s: left in active/ after a write error; it is tried again later", m.id.c_str());
        _rescan_active = true;
        uint64_t h = m.handle;
        _srv.loop.post([this, h] { forget(h); });
        return;
    }
    if (m.complete) {
        remove_message(m);
        return;
    }
    std::time_t now = std::time(nullptr);
    int64_t arrival = env.arrival_us / 1000000;
    std::vector<uint32_t> pending;
    for (uint32_t i = 0; i < env.recipients.size(); ++i)
        if (env.recipients[i].status == rcpt_status::pending) pending.push_back(i);

    int64_t by_deadline = deliver_by_deadline(env);

    // expiry
    if (!pending.empty()) {
        int64_t lifetime = env.sender.empty() ? _s.bounce_lifetime : _s.queue_lifetime;
        bool forced = info.sched.flags & sched_flags::forced_expire;
        bool by_expired = by_deadline > 0 && env.by.mode == 'R' && now >= by_deadline;
        if (forced || by_expired || now - arrival >= lifetime) {
            std::string why = by_expired ? "delivery time limit (DELIVERBY) expired"
                              : forced   ? "message returned by the administrator"
                                         : "message expired after " + std::to_string((now - arrival + 3599) / 3600) +
                                             " hours in the queue";
            std::string err;
            for (uint32_t i : pending) {
                pass_result r = m.results[i];
                if (!r.have && env.recipients[i].last) {
                    const auto& l = *env.recipients[i].last;
                    r.status = l.status;
                    r.text = l.reason;
                    r.mta = l.remote_mta;
                    r.diag = l.diagnostic;
                }
                std::string code = by_expired ? "5.4.7"
                                   : (r.status.size() >= 5 && r.status[0] == '4') ? "5" + r.status.substr(1)
                                                                                  : "5.4.7";
                r.status = code;
                r.action = "failed";
                r.text = r.text.empty() ? why : why + "; last error: " + r.text;
                r.have = true;
                m.results[i] = r;
                rcpt_status st = final_status(m, i, '5');
                log::info("%s: to=<%s>, relay=none, dsn=%s, status=expired (%s)", m.id.c_str(),
                          env.recipients[i].address.c_str(), code.c_str(), printable(r.text, 500).c_str());
                ++_count.bounced;
                rcpt_result rr;
                rr.index = i;
                rr.time = now;
                rr.action = rcpt_action::failed;
                rr.status = code;
                rr.reason = r.text;
                rr.remote_mta = r.mta;
                rr.diagnostic = r.diag;
                if ((st != rcpt_status::done && !m.qf->add_result(rr, err, false)) ||
                    !m.qf->set_status(i, st, err, false)) {
                    log::error("%s: cannot record expiry: %s", m.id.c_str(), err.c_str());
                    m.io_error = true;
                    m.finishing = false;
                    finish(m);
                    return;
                }
            }
            pending.clear();
        }
    }

    // delay warning, once per message
    bool dbl = !env.sender.empty() && to_lower(env.sender) == to_lower(_s.double_bounce);
    if (!pending.empty() && !env.sender.empty() && !dbl && !(info.sched.flags & sched_flags::delay_warned)) {
        bool by_notify = by_deadline > 0 && env.by.mode == 'N' && now >= by_deadline;
        bool late = _s.delay_warning > 0 && now - arrival >= _s.delay_warning;
        if (late || by_notify) {
            for (uint32_t i : pending)
                if (wants_delay_notice(env.recipients[i].notify, true)) m.delay_rcpts.push_back(i);
            m.delay_warned = true;
        }
    }

    bool owed = false;
    for (const auto& r : env.recipients)
        if (r.status == rcpt_status::failed || r.status == rcpt_status::success_notify) owed = true;
    if (owed || !m.delay_rcpts.empty()) {
        queue_notices(m);
        return;
    }
    finish_after_notices(m.handle);
}

void manager::queue_notices(message& m) {
    const auto& env = m.qf->info().env;
    std::vector<uint32_t> failed, success;
    for (uint32_t i = 0; i < env.recipients.size(); ++i) {
        if (env.recipients[i].status == rcpt_status::failed) failed.push_back(i);
        else if (env.recipients[i].status == rcpt_status::success_notify) success.push_back(i);
    }
    m.notices_pending = 0;
    m.notice_failed = false;
    m.noticed.clear();
    bool ok = true;
    if (!failed.empty())
        ok = queue_one_notice(m, static_cast<int>(env.sender.empty() ? dsn_kind::postmaster_copy : dsn_kind::failure),
                              failed) && ok;
    if (!success.empty()) ok = queue_one_notice(m, static_cast<int>(dsn_kind::success), success) && ok;
    if (!m.delay_rcpts.empty()) ok = queue_one_notice(m, static_cast<int>(dsn_kind::delay), m.delay_rcpts) && ok;
    if (!ok) m.notice_failed = true;
    if (m.notices_pending == 0) notices_done(m.handle);
}

bool manager::queue_one_notice(message& m, int kind_i, const std::vector<uint32_t>& rcpts) {
    auto kind = static_cast<dsn_kind>(kind_i);
    const auto& info = m.qf->info();
    const auto& env = info.env;
    std::string err;
    auto w = queue_writer::create(_q, err);
    if (!w) {
        log::error("%s: cannot create a notice: %s", m.id.c_str(), err.c_str());
        return false;
    }
    std::string to = kind == dsn_kind::postmaster_copy ? _s.notice_recipient : env.sender;

    dsn_input in;
    in.kind = kind;
    in.reporting_mta = _s.myhostname;
    in.from = "MAILER-DAEMON@" + _s.myhostname;
    in.to = to;
    in.message_id = w->id() + "@" + _s.myhostname;
    in.queue_id = m.id;
    in.original_sender = env.sender;
    in.envid = env.envid;
    in.arrival = env.arrival_us / 1000000;
    in.now = std::time(nullptr);
    in.will_retry_until = in.arrival + (env.sender.empty() ? _s.bounce_lifetime : _s.queue_lifetime);
    in.smtputf8 = env.smtputf8;
    bool failure_kind = kind == dsn_kind::failure || kind == dsn_kind::postmaster_copy;
    in.return_full = failure_kind ? env.ret != dsn_ret::hdrs : env.ret == dsn_ret::full;
    std::string headers, full;
    if (!read_file_range(m.qf->fd(), info.message_offset, info.header_length, headers, err)) {
        log::error("%s: cannot read the message for a notice: %s", m.id.c_str(), err.c_str());
        return false;
    }
    if (in.return_full) {
        if (info.message_length > _s.bounce_size_limit) {
            in.too_large = true;
        } else if (!m.qf->read_message(full, err)) {
            log::error("%s: cannot read the message for a notice: %s", m.id.c_str(), err.c_str());
            return false;
        }
    }
    in.original_headers = headers;
    in.original_message = full;
    static std::mt19937_64 rng{std::random_device{}()};
    char b[40];
    std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(rng()));
    in.boundary = w->id() + "." + b + "/" + _s.myhostname;
    for (uint32_t i : rcpts) {
        const auto& rc = env.recipients[i];
        dsn_recipient d;
        d.address = rc.address;
        d.orcpt = rc.orcpt;
        const pass_result& r = m.results[i];
        if (r.have) {
            d.action = r.action;
            d.status = r.status;
            d.reason = r.text;
            d.remote_mta = r.mta;
            d.diagnostic = r.diag;
            d.last_attempt = in.now;
        } else if (rc.last) {
            d.action = rcpt_action_name(rc.last->action);
            d.status = rc.last->status;
            d.reason = rc.last->reason;
            d.remote_mta = rc.last->remote_mta;
            d.diagnostic = rc.last->diagnostic;
            d.last_attempt = rc.last->time;
        }
        if (kind == dsn_kind::delay) d.action = "delayed";
        else if (failure_kind) d.action = "failed";
        else if (d.action != "relayed" && d.action != "expanded") d.action = "delivered";
        if (d.status.empty()) d.status = failure_kind ? "5.0.0" : kind == dsn_kind::delay ? "4.0.0" : "2.0.0";
        in.rcpts.push_back(std::move(d));
    }
    auto msg = compose_dsn(in);

    auto& nenv = w->env();
    nenv.sender = kind == dsn_kind::postmaster_copy ? _s.double_bounce : "";
    recipient nr;
    nr.address = to;
    nenv.recipients.push_back(nr);
    nenv.body = msg.eight_bit ? body_type::eight_bit_mime : body_type::seven_bit;
    nenv.smtputf8 = env.smtputf8;
    nenv.protocol = "qmgr";
    if (!w->write(msg.text)) {
        log::error("%s: cannot write a notice: %s", m.id.c_str(), w->error().c_str());
        return false;
    }
    if (kind != dsn_kind::delay)
        for (uint32_t i : rcpts) m.noticed.push_back(i);
    ++m.notices_pending;
    uint64_t h = m.handle;
    std::string what = kind == dsn_kind::failure           ? "sender non-delivery notification"
                       : kind == dsn_kind::postmaster_copy ? "postmaster non-delivery notification"
                       : kind == dsn_kind::delay           ? "sender delay notification"
                                                           : "sender delivery status notification";
    std::string id = m.id;
    _committer->commit(std::move(w), [this, h, what, id](const commit_result& res) {
        auto it = _messages.find(h);
        if (res.ok) {
            log::info("%s: %s: %s", id.c_str(), what.c_str(), res.id.c_str());
            ++_count.notices;
            wakeup();
        } else {
            log::error("%s: cannot queue the %s: %s", id.c_str(), what.c_str(), res.error.c_str());
        }
        if (it == _messages.end()) return;
        message& mm = *it->second;
        if (!res.ok) mm.notice_failed = true;
        if (mm.notices_pending > 0 && --mm.notices_pending == 0) notices_done(h);
    });
    return true;
}

void manager::notices_done(uint64_t handle) {
    auto it = _messages.find(handle);
    if (it == _messages.end()) return;
    message& m = *it->second;
    if (m.notice_failed) {
        // statuses stay as they are: the notices are tried again next pass
        finish_after_notices(handle);
        return;
    }
    std::string err;
    bool wrote = false;
    for (uint32_t i : m.noticed) {
        if (!m.qf->set_status(i, rcpt_status::done, err, false)) {
            log::error("%s: %s", m.id.c_str(), err.c_str());
            m.io_error = true;
            break;
        }
        wrote = true;
    }
    if (!wrote || m.io_error) {
        finish_after_notices(handle);
        return;
    }
    int fd = m.qf->fd();
    auto rc = std::make_shared<int>(0);
    _workers->submit([fd, rc] { *rc = ::fdatasync(fd) == 0 ? 0 : errno; },
                     [this, handle, rc] {
                         auto it2 = _messages.find(handle);
                         if (it2 == _messages.end()) return;
                         if (*rc != 0) {
                             log::error("%s: fdatasync: %s", it2->second->id.c_str(), errno_text(*rc).c_str());
                             it2->second->io_error = true;
                         }
                         finish_after_notices(handle);
                     });
}

void manager::finish_after_notices(uint64_t handle) {
    auto it = _messages.find(handle);
    if (it == _messages.end()) return;
    message& m = *it->second;
    if (m.io_error) {
        log::error("%s: left in active/ after a write error; it is tried again later", m.id.c_str());
        _rescan_active = true;
        _srv.loop.post([this, handle] { forget(handle); });
        return;
    }
    bool left = false;
    for (const auto& r : m.qf->info().env.recipients)
        if (r.status != rcpt_status::done) left = true;
    if (left) defer_message(m);
    else remove_message(m);
}

void manager::defer_message(message& m) {
    const auto& info = m.qf->info();
    schedule sc = info.sched_damaged ? schedule{} : info.sched;
    sc.attempts += 1;
    std::time_t now = std::time(nullptr);
    bool pending = false;
    for (const auto& r : info.env.recipients)
        if (r.status == rcpt_status::pending) pending = true;
    // only notices left to send: try again soon
    int64_t wait = pending ? backoff_seconds(sc.attempts, _s.min_backoff, _s.max_backoff) : _s.min_backoff;
    sc.next_try = now + wait;
    if (m.delay_warned) sc.flags |= sched_flags::delay_warned;
    // a DELIVERBY deadline still to come is not slept through
    int64_t by = deliver_by_deadline(info.env);
    bool by_pending = info.env.by.mode == 'R' || !(sc.flags & sched_flags::delay_warned);
    if (pending && by_pending && by > now && sc.next_try > by) {
        sc.next_try = by;
        wait = by - now;
    }
    std::string err;
    uint64_t h = m.handle;
    if (!m.qf->set_schedule(sc, err, false)) {
        log::error("%s: %s", m.id.c_str(), err.c_str());
        m.io_error = true;
        finish_after_notices(h);
        return;
    }
    int fd = m.qf->fd();
    auto rc = std::make_shared<int>(0);
    _workers->submit([fd, rc] { *rc = ::fdatasync(fd) == 0 ? 0 : errno; },
                     [this, h, rc, wait] {
                         auto it = _messages.find(h);
                         if (it == _messages.end()) return;
                         message& mm = *it->second;
                         if (*rc != 0) {
                             log::error("%s: fdatasync: %s", mm.id.c_str(), errno_text(*rc).c_str());
                             mm.io_error = true;
                             finish_after_notices(h);
                             return;
                         }
                         std::string e2;
                         if (!_q.move_path(mm.qf->path(), mm.id, queue_names::deferred, e2, false)) {
                             if (errno == ENOENT) {
                                 log::info("%s: deleted by the administrator", mm.id.c_str());
                             } else {
                                 log::error("%s: cannot move to deferred/: %s", mm.id.c_str(), e2.c_str());
                                 _rescan_active = true;
                             }
                         } else {
                             log::debug("%s: deferred for %llds", mm.id.c_str(), static_cast<long long>(wait));
                         }
                         forget(h);
                     });
}

void manager::remove_message(message& m) {
    if (::unlink(m.qf->path().c_str()) != 0) {
        if (errno == ENOENT) log::info("%s: deleted by the administrator", m.id.c_str());
        else log::error("%s: cannot remove %s: %s", m.id.c_str(), m.qf->path().c_str(), errno_text().c_str());
    } else {
        log::info("%s: removed", m.id.c_str());
    }
    ++_count.removed;
    _removed.push_back(m.handle);
    flush_removals();
}

void manager::flush_removals() {
    if (_removal_sync_running || _removed.empty() || _stopped) return;
    _removal_sync_running = true;
    auto batch = std::make_shared<std::vector<uint64_t>>(std::move(_removed));
    _removed.clear();
    std::string dir = _q.dir(queue_names::active);
    _workers->submit([dir] { fsync_dir(dir); },
                     [this, batch] {
                         // the removals are durable: only now are the messages forgotten
                         for (uint64_t h : *batch) forget(h);
                         _removal_sync_running = false;
                         flush_removals();
                     });
}

void manager::forget(uint64_t handle) {
    auto it = _messages.find(handle);
    if (it == _messages.end()) return;
    message& m = *it->second;
    _rcpts_in_memory -= std::min(_rcpts_in_memory, m.rcpt_load);
    _by_id.erase(m.id);
    _messages.erase(it);
    schedule_pump();
}

}  // namespace tern::qmgr
