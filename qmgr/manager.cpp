// manager.cpp - the qmgr's life cycle, queue scans, loading and flush
// requests. See manager.hpp for the whole; deliver.cpp and finish.cpp hold
// the other parts.
//
// Scans walk a directory a bounded number of entries per loop turn. active/
// is walked once at start-up (and again when a file there was locked by a
// qmgr that is still draining). incoming/ is walked whenever a wake-up
// came; deferred/ every queue_run_delay (and at once after a flush),
// taking the files whose next-try time (read from the schedule in the file
// header, one small read per file) has come. Loading stops while the active set is full
// (qmgr_message_active_limit messages or qmgr_message_recipient_limit
// recipients); the scans then wait where they are.
#include "qmgr/manager.hpp"

#include <cerrno>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"

namespace tern::qmgr {

namespace {
constexpr size_t kLoadsPerTurn = 100;
constexpr size_t kEntriesPerTurn = 2000;
}  // namespace

manager::manager(server& srv, settings s, router r, std::map<std::string, transport_settings> transports,
                 transport_settings other_transport)
    : _srv(srv),
      _s(std::move(s)),
      _router(std::move(r)),
      _q(srv.chrooted ? "/" : srv.cfg.get("queue_directory"), static_cast<int>(srv.cfg.get_int("hash_queue_depth"))),
      _other_transport(std::move(other_transport)) {
    for (auto& [name, t] : transports) _sched.set_transport(name, t);
    _workers = std::make_unique<worker_pool>(srv.loop, std::max(1u, _s.sync_threads));
    queue_committer::options copt;
    copt.threads = 2;
    _committer = std::make_unique<queue_committer>(srv.loop, copt);
    _pump_timer = std::make_unique<timer>(srv.loop, [this] { pump(); });
    _deferred_timer = std::make_unique<timer>(srv.loop, [this] {
        _deferred_wanted = true;
        pump();
    });
    _retry_timer = std::make_unique<timer>(srv.loop, [this] {
        // files were locked by someone else (a draining qmgr, postsuper)
        _retry_locked = false;
        _active_scan.start(_q.dir(queue_names::active), 0);
        _incoming_wanted = true;
        _deferred_wanted = true;
        pump();
    });
}

manager::~manager() { stop(); }

int64_t manager::now_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

void manager::start() {
    // temporary files of writers that died (nobody holds them locked)
    std::vector<std::string> purged;
    purge_queue_temp_files(_q, 3600, &purged);
    for (const auto& p : purged) log::info("removed abandoned temporary file %s", p.c_str());
    _active_scan.start(_q.dir(queue_names::active), 0);
    _incoming_wanted = true;
    _deferred_wanted = true;
    log::info("queue manager started: active limit %zu messages, %zu recipients", _s.active_limit, _s.recipient_limit);
    schedule_pump();
}

void manager::stop() {
    if (_stopped) return;
    _stopped = true;
    // cancel requests: their callbacks never run
    _requests.clear();
    _pump_timer.reset();
    _deferred_timer.reset();
    _retry_timer.reset();
    _committer.reset();
    _workers.reset();
    _messages.clear();
    _by_id.clear();
}

void manager::wakeup() {
    _incoming_wanted = true;
    schedule_pump();
}

void manager::timer_scan() {
    _incoming_wanted = true;
    _deferred_wanted = true;
    _sched.expire(now_ms());
    schedule_pump();
}

void manager::schedule_pump() {
    if (_pump_posted || _stopped) return;
    _pump_posted = true;
    _srv.loop.post([this] { pump(); });
}

bool manager::room() const {
    return _messages.size() < _s.active_limit && _rcpts_in_memory < _s.recipient_limit;
}

bool manager::next_candidate(std::string& id, std::string& queue, std::string& path, size_t& examined) {
    if (_postponed) {
        if (!_messages.empty() && _rcpts_in_memory + _postponed->rcpts > _s.recipient_limit) return false;
        id = _postponed->id;
        queue = _postponed->queue;
        path = _postponed->path;
        _postponed.reset();
        return true;
    }
    // what a previous qmgr left in active/ comes first
    while (_active_scan.running() && examined < kEntriesPerTurn) {
        ++examined;
        auto it = _active_scan.next();
        if (!it) break;
        if (_by_id.count(it->id)) continue;
        id = it->id;
        queue = std::string(queue_names::active);
        path = it->path;
        return true;
    }
    if (_active_scan.running()) return false;  // budget used up

    for (int round = 0; round < 2 && examined < kEntriesPerTurn; ++round) {
        bool deferred_turn = _prefer_deferred;
        _prefer_deferred = !_prefer_deferred;
        if (!deferred_turn) {
            if (!_incoming_scan.running() && _incoming_wanted) {
                _incoming_wanted = false;
                _incoming_scan.start(_q.dir(queue_names::incoming), 0);
            }
            while (_incoming_scan.running() && examined < kEntriesPerTurn) {
                ++examined;
                auto it = _incoming_scan.next();
                if (!it) break;
                if (_by_id.count(it->id)) continue;
                id = it->id;
                queue = std::string(queue_names::incoming);
                path = it->path;
                return true;
            }
        } else {
            if (!_deferred_scan.running() && _deferred_wanted) {
                _deferred_wanted = false;
                if (_rescan_active) {
                    _rescan_active = false;
                    _active_scan.start(_q.dir(queue_names::active), 0);
                }
                _last_deferred_pass = now_ms();
                _deferred_scan.start(_q.dir(queue_names::deferred), 2);
            }
            std::time_t now = std::time(nullptr);
            while (_deferred_scan.running() && examined < kEntriesPerTurn) {
                ++examined;
                auto it = _deferred_scan.next();
                if (!it) {
                    _deferred_all = false;  // the flush pass is over
                    break;
                }
                if (_by_id.count(it->id)) continue;
                if (!_deferred_all) {
                    auto next = read_next_try(it->path);
                    if (!next || *next > now) continue;
                }
                id = it->id;
                queue = std::string(queue_names::deferred);
                path = it->path;
                return true;
            }
        }
    }
    return false;
}

void manager::pump() {
    _pump_posted = false;
    if (_stopped) return;
    take_dead();
    size_t loads = 0, examined = 0;
    bool more = false;
    while (!_draining && room()) {
        if (loads >= kLoadsPerTurn || examined >= kEntriesPerTurn) {
            more = true;
            break;
        }
        std::string id, queue, path;
        if (!next_candidate(id, queue, path, examined)) {
            more = examined >= kEntriesPerTurn;
            break;
        }
        load(id, queue, path);
        ++loads;
    }
    if (!_draining && !_site.empty()) run_site_scan();
    dispatch();
    arm_timers();
    if (more) schedule_pump();
}

void manager::arm_timers() {
    if (_stopped) return;
    int64_t now = now_ms();
    // transport pauses
    if (auto w = _sched.next_wakeup(now)) _pump_timer->start(std::chrono::milliseconds(std::max<int64_t>(1, *w - now)));
    // the next pass over deferred/
    if (!_deferred_timer->pending() && !_deferred_scan.running()) {
        int64_t next = _last_deferred_pass + _s.queue_run_delay * 1000;
        _deferred_timer->start(std::chrono::milliseconds(std::max<int64_t>(10, next - now)));
    }
    if (_retry_locked && !_retry_timer->pending()) _retry_timer->start(std::chrono::seconds(2));
}

void manager::load(const std::string& id, const std::string& queue, const std::string& path) {
    queue_file::open_status st;
    std::string err;
    read_options opt;
    opt.log = true;
    auto qf = queue_file::open(_q, queue, id, false, st, err, opt);
    switch (st) {
    case queue_file::open_status::ok: break;
    case queue_file::open_status::not_found: return;  // taken by someone else meanwhile
    case queue_file::open_status::locked:
        _retry_locked = true;
        return;
    case queue_file::open_status::corrupt: {
        log::warn("%s: damaged queue file, moved to corrupt/: %s", id.c_str(), err.c_str());
        std::string e2;
        if (!_q.move_path(path, id, queue_names::corrupt, e2, false))
            log::error("%s: cannot move to corrupt/: %s", id.c_str(), e2.c_str());
        return;
    }
    case queue_file::open_status::error:
        log::warn("%s: %s", id.c_str(), err.c_str());
        return;
    }
    const auto& info = qf->info();
    size_t pending = info.pending_count();
    if (!_messages.empty() && _rcpts_in_memory + pending > _s.recipient_limit) {
        _postponed = postponed_file{id, queue, qf->path(), pending};
        return;  // closing the file releases the lock
    }
    if (queue != queue_names::active) {
        // no fsync: if the rename is lost in a crash, the file is still
        // whole in its old queue and is taken up from there
        if (!_q.move_path(qf->path(), id, queue_names::active, err, false)) {
            log::warn("%s: cannot move to active/: %s", id.c_str(), err.c_str());
            return;
        }
        qf->moved_to(queue_names::active, _q.path(queue_names::active, id));
    }
    auto m = std::make_unique<message>();
    m->handle = _next_handle++;
    m->id = id;
    m->results.resize(info.env.recipients.size());
    m->rcpt_load = pending;
    m->qf = std::move(qf);
    _rcpts_in_memory += pending;
    message& ref = *m;
    _by_id[id] = m->handle;
    _messages.emplace(m->handle, std::move(m));
    ++_count.loaded;
    log::info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", id.c_str(), info.env.sender.c_str(),
              static_cast<unsigned long long>(info.message_size()), info.env.recipients.size());
    route_message(ref);
}

void manager::route_message(message& m) {
    const auto& env = m.qf->info().env;
    std::map<std::pair<std::string, std::string>, std::vector<uint32_t>> groups;
    bool immediate = false;
    for (uint32_t i = 0; i < env.recipients.size(); ++i) {
        const auto& r = env.recipients[i];
        if (r.status != rcpt_status::pending) continue;
        route rt = _router.resolve(r.address);
        pass_result pr;
        switch (rt.what) {
        case route::kind::deliver:
            if (!_sched.has_transport(rt.transport)) {
                auto t = _other_transport;
                t.agent = agent_for(rt.transport);
                _sched.set_transport(rt.transport, t);
            }
            groups[{rt.transport, rt.nexthop}].push_back(i);
            continue;
        case route::kind::error:
            pr = {rt.status, "failed", rt.text, "", "", true};
            break;
        case route::kind::discard:
            pr = {"2.0.0", "delivered", rt.text, "", "", true};
            break;
        case route::kind::defer:
            pr = {rt.status, "deferred", rt.text, "", "", true};
            break;
        }
        m.results[i] = pr;
        immediate = true;
    }
    int64_t now = now_ms();
    for (auto& [key, rcpts] : groups) {
        size_t n = _sched.enqueue(m.handle, key.first, key.second, std::move(rcpts), now);
        m.outstanding += n;
    }
    if (immediate) {
        // one pseudo-entry records the results decided here (last: it may
        // finish the message)
        entry e;
        e.msg = m.handle;
        for (uint32_t i = 0; i < env.recipients.size(); ++i)
            if (m.results[i].have) e.rcpts.push_back(i);
        e.transport = "none";
        ++m.outstanding;
        apply_results(m, e, nullptr, "", "");
        return;
    }
    if (m.outstanding == 0) {
        uint64_t h = m.handle;
        _srv.loop.post([this, h] {
            auto it = _messages.find(h);
            if (it != _messages.end() && it->second->outstanding == 0) finish(*it->second);
        });
    }
}

std::string manager::flush(const std::string& queue_id, const std::string& site) {
    if (!queue_id.empty()) {
        if (!valid_queue_id(queue_id)) return "bad queue ID: " + printable(queue_id, 40);
        if (_by_id.count(queue_id)) return "";  // being delivered now
        if (_q.locate(queue_names::deferred, queue_id)) {
            std::string err = make_due(queue_id);
            if (!err.empty()) return err;
            _deferred_wanted = true;
            _sched.unthrottle_all();
            schedule_pump();
            return "";
        }
        if (_q.locate(queue_names::incoming, queue_id) || _q.locate(queue_names::active, queue_id)) {
            wakeup();
            return "";
        }
        if (_q.locate(queue_names::hold, queue_id)) return queue_id + ": message is on hold";
        return queue_id + ": no such message in the queue";
    }
    if (!site.empty()) {
        std::string s = to_lower(trim(site));
        while (!s.empty() && (s.front() == '@' || s.front() == '#')) s.erase(0, 1);
        if (s.empty() || s.find('/') != std::string::npos) return "bad site name";
        _site = s;
        _site_scan.start(_q.dir(queue_names::deferred), 2);
        _sched.unthrottle_all();
        log::info("flush of deferred mail for %s requested", s.c_str());
        schedule_pump();
        return "";
    }
    log::info("flush of the whole queue requested");
    _sched.unthrottle_all();
    _deferred_all = true;
    _deferred_scan.start(_q.dir(queue_names::deferred), 2);
    _last_deferred_pass = now_ms();
    _incoming_wanted = true;
    schedule_pump();
    return "";
}

std::string manager::make_due(const std::string& id) {
    queue_file::open_status st;
    std::string err;
    read_options opt;
    opt.log = false;
    auto qf = queue_file::open(_q, queue_names::deferred, id, true, st, err, opt);
    if (!qf) return st == queue_file::open_status::not_found ? "" : err;
    schedule sc = qf->info().sched_damaged ? schedule{} : qf->info().sched;
    sc.next_try = 0;
    if (!qf->set_schedule(sc, err, true)) return err;
    return "";
}

void manager::run_site_scan() {
    // mark the deferred files with a pending recipient at the site as due now
    size_t examined = 0;
    bool marked = false;
    while (_site_scan.running() && examined < kEntriesPerTurn / 4) {
        ++examined;
        auto it = _site_scan.next();
        if (!it) break;
        unique_fd fd(::open(it->path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (!fd) continue;
        queue_file_info info;
        std::string err;
        read_options opt;
        opt.log = false;
        if (!read_queue_file(fd.get(), info, err, opt)) continue;
        bool match = false;
        for (const auto& r : info.env.recipients) {
            if (r.status != rcpt_status::pending) continue;
            std::string d = address_domain(r.address);
            if (d == _site || (d.size() > _site.size() && d.compare(d.size() - _site.size() - 1, std::string::npos,
                                                                   "." + _site) == 0)) {
                match = true;
                break;
            }
        }
        if (!match) continue;
        fd.reset();
        if (make_due(it->id).empty()) marked = true;
    }
    if (marked) _deferred_wanted = true;
    if (!_site_scan.running()) {
        _site.clear();
        _deferred_wanted = true;
    }
    schedule_pump();
}

}  // namespace tern::qmgr
