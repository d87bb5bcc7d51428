// manager.hpp - the queue manager: takes messages from incoming/ (woken by
// smtpd, and on a timer), from deferred/ when their retry time comes, and
// at start-up from active/ (what a crashed or restarted qmgr left); keeps a
// bounded set of them open in active/; splits their recipients by
// transport and next hop (qmgr/route); hands them to the delivery agents
// through the scheduler (qmgr/sched); records every result in the queue
// file before it forgets it; and finishes each message: removed when done,
// deferred with a next-try time, or bounced (qmgr/bounce) after
// maximal_queue_lifetime. Serves postqueue's flush requests.
//
// Parts: manager.cpp (life cycle, scans, loading, flush), deliver.cpp
// (requests to agents and their replies), finish.cpp (results, notices,
// deferral, removal).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/attr.hpp"
#include "lib/event.hpp"
#include "lib/ipc.hpp"
#include "lib/queue_commit.hpp"
#include "lib/queue_dir.hpp"
#include "lib/queue_file.hpp"
#include "lib/workers.hpp"
#include "qmgr/route.hpp"
#include "qmgr/scan.hpp"
#include "qmgr/sched.hpp"

namespace tern {
class server;
}

namespace tern::qmgr {

struct settings {
    size_t active_limit = 20000;        // qmgr_message_active_limit
    size_t recipient_limit = 20000;     // qmgr_message_recipient_limit
    int64_t min_backoff = 300;          // minimal_backoff_time
    int64_t max_backoff = 4000;         // maximal_backoff_time
    int64_t queue_lifetime = 5 * 86400; // maximal_queue_lifetime
    int64_t bounce_lifetime = 5 * 86400;  // bounce_queue_lifetime
    int64_t delay_warning = 0;          // delay_warning_time (0: off)
    int64_t queue_run_delay = 300;      // queue_run_delay
    int64_t delivery_timeout = 3600;    // qmgr_delivery_timeout
    uint64_t bounce_size_limit = 50000; // bounce_size_limit
    std::string myhostname;
    std::string double_bounce;          // double_bounce_sender, qualified
    std::string notice_recipient;       // 2bounce_notice_recipient
    unsigned sync_threads = 4;          // qmgr_sync_threads
    int max_agent_crashes = 3;          // a request that kills its agent this often is deferred
};

class manager {
public:
    // transports: the scheduler classes known from main.cf (local, virtual,
    // smtp, relay); a transport_maps value naming another class gets
    // other_transport's settings with that name as its agent.
    manager(server& srv, settings s, router r, std::map<std::string, transport_settings> transports,
            transport_settings other_transport);
    ~manager();
    manager(const manager&) = delete;
    manager& operator=(const manager&) = delete;

    // Take up active/, then incoming/ and due deferred mail.
    void start();
    // request=wakeup: look at incoming/ soon.
    void wakeup();
    // request=flush: "" or a reason for status=error.
    std::string flush(const std::string& queue_id, const std::string& site);
    // Timer of the master.cf wakeup column: the safety-net scan.
    void timer_scan();
    // Messages still being worked on (for draining after a reload).
    size_t busy() const { return _messages.size(); }
    // Reload: finish what is in hand, take nothing new.
    void drain() { _draining = true; }
    void stop();

    // For tests and logs.
    struct counters {
        uint64_t loaded = 0, delivered = 0, deferred = 0, bounced = 0, removed = 0, notices = 0;
    };
    const counters& stats() const { return _count; }

private:
    // ---- per-message state
    struct pass_result {
        std::string status;      // RFC 3463
        std::string action;      // delivered relayed expanded deferred failed
        std::string text, mta, diag;
        bool have = false;
    };
    struct message {
        uint64_t handle = 0;
        std::unique_ptr<queue_file> qf;
        std::string id;
        size_t outstanding = 0;          // entries not yet finished (queued, in flight, syncing)
        size_t rcpt_load = 0;            // recipients counted against recipient_limit
        std::vector<pass_result> results;  // by recipient index, this pass
        bool finishing = false;
        bool complete = false;           // every recipient done; nothing written: remove the file
        bool io_error = false;           // a write failed: leave the file for a later pass
        std::map<std::vector<uint32_t>, int> crashes;  // entry -> agent crashes
        // notices (finish.cpp)
        std::vector<uint32_t> delay_rcpts;  // recipients told about a delay this pass
        bool delay_warned = false;          // set the schedule flag when deferring
        size_t notices_pending = 0;         // commits not yet answered
        bool notice_failed = false;
        std::vector<uint32_t> noticed;      // failed/success_notify recipients whose notice is queued
    };
    struct request_state {
        uint64_t ticket = 0;
        entry e;
        std::unique_ptr<ipc_request> req;
    };

    // manager.cpp
    void pump();                // load what fits, start what may start
    void schedule_pump();
    bool room() const;
    bool next_candidate(std::string& id, std::string& queue, std::string& path, size_t& examined);
    void load(const std::string& id, const std::string& queue, const std::string& path);
    void route_message(message& m);
    void arm_timers();
    void run_site_scan();
    std::string make_due(const std::string& id);  // schedule next_try = 0 (under the lock)
    int64_t now_ms() const;

    // deliver.cpp
    void dispatch();
    void send(entry e);
    void on_reply(uint64_t ticket, std::optional<attr_list> reply, const std::string& err);
    void apply_results(message& m, const entry& e, const attr_list* reply, const std::string& fail_status,
                       const std::string& fail_text);
    void take_dead();

    // finish.cpp
    void record(message& m, const entry& e, bool final_written);
    void entry_done(uint64_t handle);
    void finish(message& m);
    void finish_after_notices(uint64_t handle);
    void queue_notices(message& m);
    void notices_done(uint64_t handle);
    bool queue_one_notice(message& m, int kind, const std::vector<uint32_t>& rcpts);
    void defer_message(message& m);
    void remove_message(message& m);
    void forget(uint64_t handle);
    void flush_removals();
    rcpt_status final_status(const message& m, uint32_t i, char cls) const;

    server& _srv;
    settings _s;
    router _router;
    scheduler _sched;
    queue_dir _q;
    counters _count;

    std::unordered_map<uint64_t, std::unique_ptr<message>> _messages;
    std::unordered_map<std::string, uint64_t> _by_id;
    uint64_t _next_handle = 1;
    size_t _rcpts_in_memory = 0;

    std::unordered_map<uint64_t, request_state> _requests;
    uint64_t _next_ticket = 1;

    // scans
    dir_scanner _active_scan, _incoming_scan, _deferred_scan, _site_scan;
    bool _incoming_wanted = false;   // a wake-up came during a pass
    bool _deferred_all = false;      // flush: ignore retry times this pass
    bool _deferred_wanted = false;
    bool _retry_locked = false;      // files were locked by another process: look again soon
    bool _rescan_active = false;     // a message was left in active/ after an I/O error
    bool _prefer_deferred = false;   // alternate between incoming and deferred
    std::string _site;               // site flush in progress
    struct postponed_file {
        std::string id, queue, path;
        size_t rcpts = 0;
    };
    std::optional<postponed_file> _postponed;  // a message too big for the room left
    bool _pump_posted = false;
    bool _draining = false, _stopped = false;

    // removals waiting for one fsync of active/
    std::vector<uint64_t> _removed;
    bool _removal_sync_running = false;

    std::unique_ptr<worker_pool> _workers;
    std::unique_ptr<queue_committer> _committer;
    transport_settings _other_transport;
    int64_t _last_deferred_pass = 0;  // steady ms
    std::unique_ptr<timer> _pump_timer, _deferred_timer, _retry_timer;
};

}  // namespace tern::qmgr
