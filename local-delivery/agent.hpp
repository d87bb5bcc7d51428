// agent.hpp - local-delivery's request handling: for each recipient of a
// delivery request (docs/internal-protocols.md) resolve it (resolve.hpp),
// then run each resulting delivery as the right user (store.hpp): mailbox
// and file deliveries in long-lived workers of that identity (worker.hpp),
// commands and forwards in a child process of their own; at most
// local_delivery_process_limit processes at once (workers, idle ones
// included, and children); answer one result per recipient. Remote addresses of an expansion
// are queued as one new message per recipient, only after the recipient's
// local deliveries succeeded (so a retry does not forward twice).
// Called by local-delivery/main.cpp.
// SECURITY: this process stays root (it must become each recipient); it
// only resolves names, creates a missing spool mbox for its user, and
// forks. Every delivery runs in a process that has dropped to the leaf's
// uid/gid before touching a mailbox, a file or a command; a worker serves
// only the identity it became; children and workers die with the parent
// (PR_SET_PDEATHSIG). The request
// comes from the qmgr over private/local; its queue file name is checked
// to be active/<queue ID>.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

#include "lib/attr.hpp"
#include "lib/event.hpp"
#include "lib/fd.hpp"
#include "lib/ipc.hpp"
#include "lib/mailbox.hpp"
#include "lib/queue_file.hpp"
#include "local-delivery/headers.hpp"
#include "local-delivery/resolve.hpp"
#include "local-delivery/store.hpp"
#include "local-delivery/worker.hpp"

namespace tern::local {

struct agent_settings {
    std::string queue_root;
    int hash_depth = 1;
    uint64_t mailbox_size_limit = 51200000;
    std::string spam_folder = "Junk";
    int command_time_limit = 1000;
    size_t process_limit = 100;
    int worker_idle_time = 60;        // seconds an idle worker is kept
    unsigned worker_max_use = 1000;   // deliveries before a worker is replaced
    size_t header_limit = 1u << 20;
    mailbox::limits mbox_limits;
    std::string spool_dir = "/var/mail";
    user_info mail_owner;      // forwards are queued as this user
    user_info default_privs;   // files and commands never run as root
    bool privileged = true;    // false: an unprivileged instance, no uid changes
};

class agent {
public:
    agent(event_loop& loop, agent_settings s, std::unique_ptr<resolver> r);
    ~agent();
    agent(const agent&) = delete;
    agent& operator=(const agent&) = delete;

    void handle(const attr_list& req, attr_responder respond);
    size_t busy() const { return _jobs.size(); }
    // processes now: children of their own plus workers (idle included)
    size_t processes() const { return _children + _workers.size(); }
    size_t workers() const { return _workers.size(); }

private:
    struct rcpt_state {
        std::string addr, orcpt;
        uint8_t notify = 0;
        size_t leaves = 0;
        size_t tasks_left = 0;
        std::vector<std::string> forward;  // remote addresses
        std::string forward_parent;
        bool forward_started = false, forward_done = false;
        std::string temp_status, temp_text, perm_status, perm_text, ok_text, forward_text;
        bool done = false;
        std::string status, action, text;
    };
    struct job {
        uint64_t id = 0;
        attr_responder respond;
        std::string queue_id;
        unique_fd fd;
        queue_file_info info;
        header_facts facts;
        std::vector<rcpt_state> rcpts;
        size_t left = 0;
    };
    struct task {
        uint64_t id = 0;
        uint64_t job = 0;
        size_t rcpt = 0;
        leaf l;
        bool forward = false;
        pid_t pid = -1;        // a child of its own
        uint64_t worker_id = 0;   // or the worker doing it
        unique_fd result;
        event_ptr ev;
        std::string out;
        std::unique_ptr<timer> killer;
        agent* self = nullptr;
    };

    struct worker {
        uint64_t id = 0;
        pid_t pid = -1;
        worker_identity who;
        unique_fd sock;
        event_ptr ev;
        uint64_t task = 0;   // 0: idle
        unsigned uses = 0;
        std::unique_ptr<timer> idle, killer;
        agent* self = nullptr;
    };

    void resolve_all(job& j);
    void start_tasks();
    void launch(std::unique_ptr<task> t);
    // a mailbox or file delivery: what a worker would do, and as whom
    bool pooled(const task& t) const;
    worker_identity identity_for(const leaf& l) const;
    bool prepare_op(const task& t, const job& j, delivery_op& op, std::string& err);
    worker* idle_worker(const worker_identity& who);
    worker* spawn_worker(const worker_identity& who, std::string& err);
    bool retire_an_idle_worker();
    // reaped: the process has been waited for already
    void retire(uint64_t worker_id, bool reaped = false);
    void dispatch(worker& w, std::unique_ptr<task> t, const delivery_op& op, int queue_fd);
    static void on_worker(int fd, short, void* arg) noexcept;
    void worker_done(worker& w, const std::string& status, const std::string& text);
    [[noreturn]] void child_main(const task& t, const job& j, int result_fd);
    store_result run_leaf(const task& t, const job& j);
    static void on_result(int fd, short, void* arg) noexcept;
    void task_finished(uint64_t task_id, const std::string& status, const std::string& text);
    void rcpt_progress(job& j, size_t r);
    void finish_rcpt(job& j, size_t r, std::string status, std::string action, std::string text);
    void maybe_reply(uint64_t job_id);

    event_loop& _loop;
    agent_settings _s;
    std::unique_ptr<resolver> _resolver;
    std::map<uint64_t, std::unique_ptr<job>> _jobs;
    std::deque<std::unique_ptr<task>> _waiting;
    std::map<uint64_t, std::unique_ptr<task>> _running;
    std::map<uint64_t, std::unique_ptr<worker>> _workers;
    size_t _children = 0;  // running tasks with a process of their own
    uint64_t _next_job = 1, _next_task = 1, _next_worker = 1;
    bool _starting = false;  // start_tasks is running (no recursion)
    pid_t _parent_pid = 0;
    std::shared_ptr<bool> _alive = std::make_shared<bool>(true);  // for posted callbacks
};

}  // namespace tern::local
