// agent.cpp - see agent.hpp.
#include "local-delivery/agent.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/queue_id.hpp"
#include "lib/strutil.hpp"

namespace tern::local {

namespace {

attr_list error_reply(const std::string& why) { return attr_list().add("status", "error").add("reason", why); }

uint8_t parse_notify(const std::string& v) {
    uint8_t n = 0;
    for (const auto& w : split_any(v, ", ")) {
        std::string u = to_upper(w);
        if (u == "SUCCESS") n |= dsn_notify::success;
        else if (u == "FAILURE") n |= dsn_notify::failure;
        else if (u == "DELAY") n |= dsn_notify::delay;
        else if (u == "NEVER") n |= dsn_notify::never;
    }
    return n;
}

}  // namespace

agent::agent(event_loop& loop, agent_settings s, std::unique_ptr<resolver> r)
    : _loop(loop), _s(std::move(s)), _resolver(std::move(r)), _parent_pid(::getpid()) {}

agent::~agent() {
    *_alive = false;
    for (auto& [id, t] : _running) {
        if (t->pid > 0) {
            ::kill(t->pid, SIGKILL);
            ::waitpid(t->pid, nullptr, 0);
        }
    }
    for (auto& [id, w] : _workers) {
        ::kill(w->pid, SIGKILL);
        ::waitpid(w->pid, nullptr, 0);
    }
}

void agent::handle(const attr_list& req, attr_responder respond) {
    if (req.get("request") == "ping") {
        respond(attr_list().add("status", "ok"));
        return;
    }
    if (req.get("request") != "deliver") {
        respond(error_reply("unknown request"));
        return;
    }
    auto j = std::make_unique<job>();
    j->queue_id = req.get("queue_id");
    if (!valid_queue_id(j->queue_id)) {
        respond(error_reply("bad queue_id"));
        return;
    }
    // only a file the qmgr has in active/
    if (req.get("queue_file") != "active/" + j->queue_id) {
        respond(error_reply("bad queue_file: " + printable(req.get("queue_file"), 80)));
        return;
    }
    auto count = parse_u64(req.get("rcpt_count"));
    if (!count || *count == 0 || *count > 10000) {
        respond(error_reply("bad rcpt_count"));
        return;
    }
    for (uint64_t k = 0; k < *count; ++k) {
        std::string p = "rcpt." + std::to_string(k) + ".";
        rcpt_state r;
        r.addr = req.get(p + "addr");
        r.orcpt = req.get(p + "orcpt");
        r.notify = parse_notify(req.get(p + "notify"));
        if (r.addr.empty()) {
            respond(error_reply("recipient " + std::to_string(k) + " has no address"));
            return;
        }
        j->rcpts.push_back(std::move(r));
    }
    std::string path = _s.queue_root + "/active/" + j->queue_id;
    j->fd.reset(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!j->fd) {
        respond(error_reply("open " + path + ": " + errno_text()));
        return;
    }
    std::string err;
    read_options opt;
    opt.log = false;
    if (!read_queue_file(j->fd.get(), j->info, err, opt)) {
        respond(error_reply(j->queue_id + ": " + err));
        return;
    }
    // the sender must be what the qmgr says: it goes into Return-Path
    if (req.get("sender") != j->info.env.sender) {
        respond(error_reply("sender does not match the queue file"));
        return;
    }
    std::string header;
    uint64_t hl = std::min<uint64_t>(j->info.header_length, _s.header_limit);
    if (!read_file_range(j->fd.get(), j->info.message_offset, hl, header, err)) {
        respond(error_reply(j->queue_id + ": " + err));
        return;
    }
    j->facts = scan_headers(header);
    j->respond = std::move(respond);
    j->id = _next_job++;
    j->left = j->rcpts.size();
    job& ref = *j;
    _jobs.emplace(j->id, std::move(j));
    resolve_all(ref);
    start_tasks();
}

void agent::resolve_all(job& j) {
    uint64_t jid = j.id;
    for (size_t k = 0; k < j.rcpts.size(); ++k) {
        auto& r = j.rcpts[k];
        resolution res = _resolver->resolve(r.addr, j.facts.delivered_to);
        if (res.result != outcome::deliver) {
            finish_rcpt(j, k, res.status, res.result == outcome::bounce ? "failed" : "deferred", res.text);
            continue;
        }
        r.leaves = res.leaves.size();
        if (res.leaves.empty()) {
            finish_rcpt(j, k, "2.0.0", "expanded", "alias expands to no destinations");
            continue;
        }
        for (auto& l : res.leaves) {
            if (l.kind == leaf_kind::forward) {
                r.forward.push_back(l.dest);
                if (r.forward_parent.empty()) r.forward_parent = l.address;
                continue;
            }
            auto t = std::make_unique<task>();
            t->id = _next_task++;
            t->job = jid;
            t->rcpt = k;
            t->l = std::move(l);
            ++r.tasks_left;
            _waiting.push_back(std::move(t));
        }
        if (r.tasks_left == 0) rcpt_progress(j, k);
    }
    std::weak_ptr<bool> alive = _alive;
    _loop.post([this, jid, alive] {
        if (auto a = alive.lock(); a && *a) maybe_reply(jid);
    });
}

void agent::start_tasks() {
    if (_starting) return;  // called again from a task_finished below: the loop goes on
    _starting = true;
    while (!_waiting.empty()) {
        auto jit = _jobs.find(_waiting.front()->job);
        if (jit == _jobs.end()) {
            _waiting.pop_front();
            continue;
        }
        task& front = *_waiting.front();
        if (!pooled(front)) {
            if (processes() >= _s.process_limit && !retire_an_idle_worker()) break;
            auto t = std::move(_waiting.front());
            _waiting.pop_front();
            launch(std::move(t));
            continue;
        }
        worker_identity who = identity_for(front.l);
        worker* w = idle_worker(who);
        if (!w && processes() >= _s.process_limit && !retire_an_idle_worker()) break;
        auto t = std::move(_waiting.front());
        _waiting.pop_front();
        job& j = *jit->second;
        delivery_op op;
        std::string err;
        if (!prepare_op(*t, j, op, err) || (!w && !(w = spawn_worker(who, err)))) {
            uint64_t id = t->id;
            _running.emplace(id, std::move(t));
            task_finished(id, "4.3.0", err);
            continue;
        }
        dispatch(*w, std::move(t), op, j.fd.get());
    }
    _starting = false;
}

bool agent::pooled(const task& t) const {
    if (t.forward) return false;
    return t.l.kind == leaf_kind::maildir || t.l.kind == leaf_kind::mbox || t.l.kind == leaf_kind::file;
}

worker_identity agent::identity_for(const leaf& l) const {
    worker_identity who;
    if (!_s.privileged || ::geteuid() != 0) return who;  // an unprivileged instance: one identity
    who.uid = l.as.uid;
    who.gid = l.as.gid;
    if ((l.kind == leaf_kind::file || l.kind == leaf_kind::command) && who.uid == 0) {
        who.uid = _s.default_privs.uid;  // never as root
        who.gid = _s.default_privs.gid;
    }
    if (l.kind == leaf_kind::mbox && dirname_of(l.dest) == _s.spool_dir) {
        // a group-writable spool (root:mail 2775): its group is needed for
        // the dotlock; never group root
        struct stat sd;
        if (::stat(_s.spool_dir.c_str(), &sd) == 0 && (sd.st_mode & S_IWGRP) && sd.st_gid != 0)
            who.extra_gid = sd.st_gid;
    }
    return who;
}

bool agent::prepare_op(const task& t, const job& j, delivery_op& op, std::string& err) {
    const leaf& l = t.l;
    const auto& env = j.info.env;
    op.sender = env.sender;
    op.offset = j.info.message_offset;
    op.length = j.info.message_length;
    op.prefix = trace_headers(env.sender, l.address);
    op.dest = l.dest;
    switch (l.kind) {
    case leaf_kind::maildir: {
        op.kind = op_kind::maildir;
        if (j.facts.spam && !_s.spam_folder.empty()) {
            if (op.dest.back() != '/') op.dest += '/';
            op.dest += "." + _s.spam_folder;  // a maildir++ folder
            op.note = " folder " + _s.spam_folder;
        }
        while (op.dest.size() > 1 && op.dest.back() == '/') op.dest.pop_back();
        return true;
    }
    case leaf_kind::mbox: {
        op.kind = op_kind::mbox;
        bool in_spool = dirname_of(l.dest) == _s.spool_dir;
        if (in_spool && _s.privileged && ::geteuid() == 0) {
            // the spool belongs to root (and group mail): create a missing
            // mailbox for its user, owned by the user at once
            worker_identity who = identity_for(l);
            unique_fd fd(::open(l.dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (fd && ::fchown(fd.get(), who.uid, who.gid) != 0) {
                err = "chown " + l.dest + ": " + errno_text();
                return false;
            }
        }
        return true;
    }
    case leaf_kind::file: op.kind = op_kind::file; return true;
    default: break;
    }
    err = "not a mailbox or file delivery";
    return false;
}

agent::worker* agent::idle_worker(const worker_identity& who) {
    for (auto& [id, w] : _workers)
        if (w->task == 0 && w->who == who) return w.get();
    return nullptr;
}

agent::worker* agent::spawn_worker(const worker_identity& who, std::string& err) {
    int sv[2] = {-1, -1};
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        err = "cannot start a delivery process: socketpair: " + errno_text();
        return nullptr;
    }
    unique_fd mine(sv[0]), theirs(sv[1]);
    pid_t pid = ::fork();
    if (pid < 0) {
        err = "cannot start a delivery process: " + errno_text();
        return nullptr;
    }
    if (pid == 0) {
        worker_settings ws;
        ws.mailbox_size_limit = _s.mailbox_size_limit;
        ws.mbox_limits = _s.mbox_limits;
        worker_main(std::move(theirs), who, _s.privileged && ::geteuid() == 0, _parent_pid, ws);
    }
    theirs.reset();
    auto w = std::make_unique<worker>();
    w->id = _next_worker++;
    w->pid = pid;
    w->who = who;
    w->sock = std::move(mine);
    set_nonblocking(w->sock.get());
    w->self = this;
    w->ev.reset(event_new(_loop.base(), w->sock.get(), EV_READ | EV_PERSIST, &agent::on_worker, w.get()));
    event_add(w->ev.get(), nullptr);
    uint64_t id = w->id;
    w->idle = std::make_unique<timer>(_loop, [this, id] {
        retire(id);
        start_tasks();
    });
    pid_t kpid = pid;
    w->killer = std::make_unique<timer>(_loop, [kpid] { ::kill(kpid, SIGKILL); });
    worker* raw = w.get();
    _workers.emplace(id, std::move(w));
    return raw;
}

bool agent::retire_an_idle_worker() {
    // the least used idle worker of another identity makes room
    for (auto& [id, w] : _workers)
        if (w->task == 0) {
            retire(id);
            return true;
        }
    return false;
}

void agent::retire(uint64_t worker_id, bool reaped) {
    auto it = _workers.find(worker_id);
    if (it == _workers.end()) return;
    auto w = std::move(it->second);
    _workers.erase(it);
    if (w->ev) event_del(w->ev.get());
    if (w->idle) w->idle->stop();
    if (w->killer) w->killer->stop();
    if (!reaped) {
        // idle (or hung): nothing of a delivery is lost by killing it
        ::kill(w->pid, SIGKILL);
        while (::waitpid(w->pid, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    w->sock.reset();
    _loop.defer_delete(std::move(w));
}

void agent::dispatch(worker& w, std::unique_ptr<task> t, const delivery_op& op, int queue_fd) {
    uint64_t id = t->id;
    t->worker_id = w.id;
    _running.emplace(id, std::move(t));
    if (w.idle) w.idle->stop();
    if (!send_op(w.sock.get(), op, queue_fd)) {
        std::string why = "cannot hand the delivery to its process: " + errno_text();
        retire(w.id);
        task_finished(id, "4.3.0", why);
        return;
    }
    w.task = id;
    w.killer->start(std::chrono::seconds(_s.command_time_limit + 60));
}

void agent::on_worker(int fd, short, void* arg) noexcept {
    auto* w = static_cast<worker*>(arg);
    guard("local worker", [&] {
        agent* self = w->self;
        char buf[2048];
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n > 0 && w->task != 0) {
            std::string line(buf, static_cast<size_t>(n));
            auto sp = line.find(' ');
            std::string status = "4.3.0", text = "malformed reply from a delivery process";
            if (sp != std::string::npos && sp >= 5 && sp <= 7) {
                status = line.substr(0, sp);
                text = line.substr(sp + 1);
            }
            self->worker_done(*w, status, text);
            return;
        }
        // EOF, an error or a reply nobody asked for: the worker is gone
        uint64_t task = w->task;
        pid_t pid = w->pid;
        int st = 0;
        bool reaped = false;
        if (n == 0) {
            while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            reaped = true;
        }
        w->task = 0;
        uint64_t wid = w->id;
        self->retire(wid, reaped);  // already reaped: retire must not wait for it again
        if (task != 0) {
            std::string text = "delivery process failed";
            if (reaped && WIFSIGNALED(st)) text = "delivery process killed by signal " + std::to_string(WTERMSIG(st));
            else if (reaped && WIFEXITED(st)) text += " (exit status " + std::to_string(WEXITSTATUS(st)) + ")";
            self->task_finished(task, "4.3.0", text);
        } else {
            self->start_tasks();
        }
    });
}

void agent::worker_done(worker& w, const std::string& status, const std::string& text) {
    uint64_t task = w.task;
    w.task = 0;
    w.killer->stop();
    if (++w.uses >= _s.worker_max_use) retire(w.id);
    else w.idle->start(std::chrono::seconds(_s.worker_idle_time));
    task_finished(task, status, text);
}

void agent::launch(std::unique_ptr<task> t) {
    auto jit = _jobs.find(t->job);
    int p[2] = {-1, -1};
    pid_t pid = -1;
    if (::pipe2(p, O_CLOEXEC) == 0) {
        pid = ::fork();
        if (pid < 0) {
            ::close(p[0]);
            ::close(p[1]);
        }
    }
    if (pid < 0) {
        std::string why = std::string("cannot start a delivery process: ") + std::strerror(errno);
        uint64_t id = t->id;
        _running.emplace(id, std::move(t));
        task_finished(id, "4.3.0", why);
        return;
    }
    if (pid == 0) {
        ::close(p[0]);
        child_main(*t, *jit->second, p[1]);
    }
    ::close(p[1]);
    ++_children;
    t->pid = pid;
    t->result.reset(p[0]);
    set_nonblocking(p[0]);
    t->self = this;
    t->ev.reset(event_new(_loop.base(), p[0], EV_READ | EV_PERSIST, &agent::on_result, t.get()));
    event_add(t->ev.get(), nullptr);
    // a child that hangs (a command ignoring its time limit) is killed
    pid_t kpid = pid;
    t->killer = std::make_unique<timer>(_loop, [kpid] { ::kill(kpid, SIGKILL); });
    t->killer->start(std::chrono::seconds(_s.command_time_limit + 60));
    _running.emplace(t->id, std::move(t));
}

void agent::on_result(int fd, short, void* arg) noexcept {
    auto* t = static_cast<task*>(arg);
    guard("local child", [&] {
        char buf[2048];
        for (;;) {
            ssize_t n = ::read(fd, buf, sizeof buf);
            if (n > 0) {
                if (t->out.size() < 8192) t->out.append(buf, static_cast<size_t>(n));
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
            break;  // EOF or error: the child is done
        }
        int st = 0;
        while (::waitpid(t->pid, &st, 0) < 0 && errno == EINTR) {
        }
        t->pid = -1;
        if (t->self->_children > 0) --t->self->_children;
        std::string status = "4.3.0", text;
        std::string line = t->out.substr(0, t->out.find('\n'));
        auto sp = line.find(' ');
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && sp != std::string::npos && line.size() >= 5) {
            status = line.substr(0, sp);
            text = line.substr(sp + 1);
        } else if (WIFSIGNALED(st)) {
            text = "delivery process killed by signal " + std::to_string(WTERMSIG(st));
        } else {
            text = "delivery process failed" + (line.empty() ? std::string() : ": " + printable(line, 200));
        }
        agent* self = t->self;
        uint64_t id = t->id;
        self->task_finished(id, status, text);
    });
}

void agent::task_finished(uint64_t task_id, const std::string& status, const std::string& text) {
    auto it = _running.find(task_id);
    if (it == _running.end()) return;
    auto t = std::move(it->second);
    _running.erase(it);
    if (t->ev) event_del(t->ev.get());
    if (t->killer) t->killer->stop();
    uint64_t jid = t->job;
    size_t k = t->rcpt;
    bool forward = t->forward;
    std::string dest = forward ? "" : t->l.dest;
    std::string kind = forward ? "forward" : leaf_kind_name(t->l.kind);
    // the task (and its event) is freed on the next loop turn, not inside its callback
    _loop.defer_delete(std::move(t));

    auto jit = _jobs.find(jid);
    if (jit != _jobs.end()) {
        job& j = *jit->second;
        auto& r = j.rcpts[k];
        char cls = status.empty() ? '4' : status[0];
        const char* word = cls == '2' ? "sent" : cls == '5' ? "bounced" : "deferred";
        log::info("%s: to=<%s>, %s%s%s, dsn=%s, status=%s (%s)", j.queue_id.c_str(), r.addr.c_str(), kind.c_str(),
                  dest.empty() ? "" : " ", printable(dest, 200).c_str(), status.c_str(), word,
                  printable(text, 300).c_str());
        if (r.tasks_left > 0) --r.tasks_left;
        if (forward) r.forward_done = true;
        if (cls == '2') {
            if (forward) r.forward_text = text;
            else if (r.ok_text.empty()) r.ok_text = text;
        } else if (cls == '5') {
            if (r.perm_status.empty()) {
                r.perm_status = status;
                r.perm_text = text;
            }
        } else if (r.temp_status.empty()) {
            r.temp_status = status;
            r.temp_text = text;
        }
        rcpt_progress(j, k);
        maybe_reply(jid);
    }
    start_tasks();
}

void agent::rcpt_progress(job& j, size_t k) {
    auto& r = j.rcpts[k];
    if (r.done || r.tasks_left > 0) return;
    if (!r.temp_status.empty()) {
        finish_rcpt(j, k, r.temp_status, "deferred", r.temp_text);
        return;
    }
    if (!r.forward.empty() && !r.forward_started) {
        // the local deliveries are done: now queue the remote part, once
        auto t = std::make_unique<task>();
        t->id = _next_task++;
        t->job = j.id;
        t->rcpt = k;
        t->forward = true;
        t->l.kind = leaf_kind::forward;
        t->l.address = r.forward_parent;
        t->l.as = _s.mail_owner;
        t->l.origin = "forward";
        r.forward_started = true;
        ++r.tasks_left;
        _waiting.push_front(std::move(t));
        return;
    }
    if (!r.perm_status.empty()) {
        finish_rcpt(j, k, r.perm_status, "failed", r.perm_text);
        return;
    }
    std::string text;
    bool expanded = r.leaves > 1 || !r.forward.empty();
    if (!expanded) text = r.ok_text;
    else {
        size_t local = r.leaves - r.forward.size();
        text = "expanded to " + std::to_string(r.leaves) + " destination" + (r.leaves == 1 ? "" : "s");
        if (local > 0) text += ", " + std::to_string(local) + " delivered here";
        if (!r.forward_text.empty()) text += ", " + r.forward_text;
    }
    finish_rcpt(j, k, "2.0.0", expanded ? "expanded" : "delivered", text);
}

void agent::finish_rcpt(job& j, size_t k, std::string status, std::string action, std::string text) {
    auto& r = j.rcpts[k];
    if (r.done) return;
    r.done = true;
    r.status = std::move(status);
    r.action = std::move(action);
    r.text = std::move(text);
    if (j.left > 0) --j.left;
}

void agent::maybe_reply(uint64_t job_id) {
    auto it = _jobs.find(job_id);
    if (it == _jobs.end()) return;
    job& j = *it->second;
    if (j.left > 0) return;
    attr_list reply;
    reply.add("status", "done");
    for (size_t k = 0; k < j.rcpts.size(); ++k) {
        const auto& r = j.rcpts[k];
        std::string p = "rcpt." + std::to_string(k) + ".";
        reply.add(p + "dsn", r.status);
        reply.add(p + "action", r.action);
        reply.add(p + "text", r.text);
    }
    auto respond = std::move(j.respond);
    _jobs.erase(it);
    respond(reply);
}

store_result agent::run_leaf(const task& t, const job& j) {
    // commands and forwards only: mailboxes and files go to workers
    const leaf& l = t.l;
    const auto& env = j.info.env;
    message_source src;
    src.fd = j.fd.get();
    src.offset = j.info.message_offset;
    src.length = j.info.message_length;
    if (_s.privileged && ::geteuid() == 0) {
        worker_identity who = identity_for(l);
        std::string err;
        if (!become(who.uid, who.gid, who.extra_gid, err)) return {"4.3.0", err};
    }
    if (t.forward) {
        auto& r = j.rcpts[t.rcpt];
        forward_job fj;
        fj.queue_root = _s.queue_root;
        fj.hash_depth = _s.hash_depth;
        fj.parent = l.address;
        fj.addresses = r.forward;
        fj.orcpt = !r.orcpt.empty() ? r.orcpt : "rfc822;" + r.addr;
        fj.notify = r.notify;
        fj.original.sender = env.sender;
        fj.original.envid = env.envid;
        fj.original.ret = env.ret;
        fj.original.body = env.body;
        fj.original.smtputf8 = env.smtputf8;
        return store_forward(fj, src);
    }
    src.prefix = trace_headers(env.sender, l.address);
    if (l.kind == leaf_kind::command) {
        command_env c;
        c.command = l.dest;
        c.home = l.as.home;
        c.user = l.user.empty() ? l.as.name : l.user;
        c.sender = env.sender;
        c.recipient = l.address;
        c.original_recipient = j.rcpts[t.rcpt].addr;
        c.extension = l.extension;
        c.domain = address_domain(l.address);
        c.local = std::string(address_local(l.address));
        c.time_limit = _s.command_time_limit;
        return store_command(c, src);
    }
    return {"4.3.0", "nothing to do"};
}

void agent::child_main(const task& t, const job& j, int result_fd) {
    // die with the parent: a killed local-delivery leaves no deliveries behind
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != _parent_pid) _exit(1);
    for (int sig : {SIGTERM, SIGHUP, SIGINT, SIGCHLD, SIGPIPE}) ::signal(sig, SIG_DFL);
    ::signal(SIGPIPE, SIG_IGN);
    // the workers' sockets are not this child's business
    for (auto& [id, w] : _workers) w->sock.reset();
    store_result r;
    try {
        r = run_leaf(t, j);
    } catch (const std::exception& e) {
        r = {"4.3.0", std::string("internal error: ") + e.what()};
    }
    std::string line = r.status + " " + printable(r.text, 1000) + "\n";
    [[maybe_unused]] bool ok = write_all(result_fd, line);
    _exit(0);
}

}  // namespace tern::local
