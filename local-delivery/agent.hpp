// agent.hpp - local-delivery's request handling: for each recipient of a
// delivery request (docs/internal-protocols.md) resolve it (resolve.hpp),
// then run each resulting delivery in its own child process that becomes
// the right user (store.hpp), at most local_delivery_process_limit at once,
// and answer one result per recipient. Remote addresses of an expansion
// are queued as one new message per recipient, only after the recipient's
// local deliveries succeeded (so a retry does not forward twice).
// Called by local-delivery/main.cpp.
// SECURITY: this process stays root (it must become each recipient); it
// only resolves names and forks. Every delivery runs in a child that has
// dropped to the leaf's uid/gid before touching a mailbox, a file or a
// command; children die with the parent (PR_SET_PDEATHSIG). The request
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

namespace tern::local {

struct agent_settings {
    std::string queue_root;
    int hash_depth = 1;
    uint64_t mailbox_size_limit = 51200000;
    std::string spam_folder = "Junk";
    int command_time_limit = 1000;
    size_t process_limit = 100;
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
        pid_t pid = -1;
        unique_fd result;
        event_ptr ev;
        std::string out;
        std::unique_ptr<timer> killer;
        agent* self = nullptr;
    };

    void resolve_all(job& j);
    void start_tasks();
    void launch(std::unique_ptr<task> t);
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
    uint64_t _next_job = 1, _next_task = 1;
    pid_t _parent_pid = 0;
    std::shared_ptr<bool> _alive = std::make_shared<bool>(true);  // for posted callbacks
};

}  // namespace tern::local
