// supervisor.cpp - see supervisor.hpp.
#include "master/supervisor.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netdb.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/net.hpp"
#include "lib/privs.hpp"
#include "lib/strutil.hpp"

extern char** environ;

namespace tern::master {

int resolve_port(const std::string& port) {
    if (auto n = parse_u64(port)) return *n > 0 && *n < 65536 ? static_cast<int>(*n) : -1;
    static const std::map<std::string, int> own = {{"smtp", 25},  {"submission", 587}, {"smtps", 465},
                                                   {"pop3", 110}, {"pop3s", 995},      {"imap", 143},
                                                   {"imaps", 993}};
    if (auto it = own.find(port); it != own.end()) return it->second;
    struct servent se, *res = nullptr;
    char buf[1024];
    if (::getservbyname_r(port.c_str(), "tcp", &se, buf, sizeof buf, &res) == 0 && res) return ntohs(res->s_port);
    return -1;
}

bool supervisor::load(config& cfg, std::vector<service_entry>& entries, std::vector<std::string>& errors) const {
    std::vector<config_error> errs;
    cfg.load(_config_dir, errs);
    cfg.validate(errs);
    load_master_cf(_config_dir, entries, errs);
    for (const auto& e : entries) {
        if (e.type == "inet" && resolve_port(e.port()) < 0)
            errs.push_back({e.file, e.line, "service " + e.name + ": unknown port \"" + e.port() + "\""});
        std::string prog = cfg.get("daemon_directory") + "/" + e.command;
        if (::access(prog.c_str(), X_OK) != 0)
            errs.push_back({e.file, e.line, "service " + e.name + ": cannot execute " + prog + ": " + errno_text()});
    }
    for (const auto& e : errs) errors.push_back(e.str());
    for (const auto& u : cfg.unknown_names()) log::warn("%s", u.str().c_str());
    return errs.empty();
}

bool supervisor::bind(service& s, std::string& err) {
    const auto& e = s.entry;
    if (e.type == "unix") {
        std::string dir = _cfg.get("queue_directory") + (e.private_ ? "/private" : "/public");
        std::string path = dir + "/" + e.name;
        auto fd = listen_unix(path, e.private_ ? 0600 : 0666, static_cast<int>(_cfg.get_int("master_listen_backlog")), err);
        if (!fd) return false;
        if (::geteuid() == 0) {
            // the unprivileged daemon and its clients must reach the socket
            if (auto acct = lookup_account(_cfg.get("mail_owner"))) {
                if (::chown(path.c_str(), acct->uid, acct->gid) != 0)
                    log::warn("chown %s: %s", path.c_str(), errno_text().c_str());
            }
        }
        s.listeners.push_back(std::move(fd));
        s.describe = e.name + "/unix " + path;
        return true;
    }
    int port = resolve_port(e.port());
    std::vector<std::string> hosts;
    if (!e.host().empty())
        hosts.push_back(e.host());
    else
        hosts = interface_addresses(_cfg.get_list("inet_interfaces"));
    auto protos = _cfg.get_list("inet_protocols");
    bool v4 = true, v6 = true;
    if (!protos.empty() && protos[0] != "all") {
        v4 = std::find(protos.begin(), protos.end(), "ipv4") != protos.end();
        v6 = std::find(protos.begin(), protos.end(), "ipv6") != protos.end();
    }
    s.describe = e.name + "/inet";
    for (const auto& h : hosts) {
        if (!h.empty()) {
            bool is6 = h.find(':') != std::string::npos;
            if ((is6 && !v6) || (!is6 && !v4)) continue;
        }
        auto fds = listen_inet(h, port, static_cast<int>(_cfg.get_int("master_listen_backlog")), err);
        if (fds.empty()) {
            // ::1 may be missing on hosts without IPv6; do not fail the whole start for it
            if (h == "::1") {
                log::warn("service %s: %s (continuing without IPv6)", e.name.c_str(), err.c_str());
                err.clear();
                continue;
            }
            err = "service " + e.name + ": " + err;
            return false;
        }
        for (auto& fd : fds) s.listeners.push_back(std::move(fd));
        s.describe += " " + (h.empty() ? std::string("*") : (h.find(':') != std::string::npos ? "[" + h + "]" : h)) +
                      ":" + std::to_string(port);
    }
    if (s.listeners.empty()) {
        err = "service " + e.name + ": no address to listen on";
        return false;
    }
    return true;
}

bool supervisor::start(config cfg, std::vector<service_entry> entries, std::string& err) {
    _cfg = std::move(cfg);
    std::string qdir = _cfg.get("queue_directory");
    for (const char* sub : {"private", "public", "pid"}) {
        std::string d = qdir + "/" + sub;
        if (!make_dirs(d, 0755)) {
            err = "cannot create " + d + ": " + errno_text();
            return false;
        }
    }
    if (::geteuid() == 0) {
        if (auto acct = lookup_account(_cfg.get("mail_owner"))) {
            for (const char* sub : {"private", "public"}) {
                std::string d = qdir + "/" + sub;
                if (::chown(d.c_str(), acct->uid, acct->gid) != 0) log::warn("chown %s: %s", d.c_str(), errno_text().c_str());
            }
            ::chmod((qdir + "/private").c_str(), 0700);
            ::chmod((qdir + "/public").c_str(), 0755);
        }
    }
    for (auto& e : entries) {
        auto s = std::make_unique<service>();
        s->entry = std::move(e);
        s->wanted = s->entry.maxproc > 0 ? s->entry.maxproc : static_cast<int>(_cfg.get_int("default_process_limit"));
        if (!bind(*s, err)) {
            _services.clear();
            return false;
        }
        std::string key = service_key(s->entry);
        _services.emplace(key, std::move(s));
    }
    for (auto& [k, s] : _services) {
        log::info("service %s started: %s", s->entry.name.c_str(), s->describe.c_str());
        spawn_all(*s);
    }
    write_status();
    return true;
}

void supervisor::spawn_all(service& s) {
    while (static_cast<int>(s.pids.size()) < s.wanted) spawn(s);
}

void supervisor::spawn(service& s) {
    const auto& e = s.entry;
    std::string prog = _cfg.get("daemon_directory") + "/" + e.command;
    std::vector<std::string> args = {prog, "-c", _config_dir, "-n", e.name, "-t", e.type, "-L",
                                     std::to_string(s.listeners.size())};
    if (e.unpriv) args.push_back("-u");
    if (e.chroot) args.push_back("-j");
    if (e.wakeup > 0) {
        args.push_back("-w");
        args.push_back(std::to_string(e.wakeup));
    }
    if (_foreground || !_cfg.get("maillog_file").empty()) args.push_back("-F");
    if (_verbose) args.push_back("-v");
    for (const auto& [n, v] : e.overrides) {
        args.push_back("-o");
        args.push_back(n + "=" + v);
    }
    for (const auto& a : e.args) args.push_back(a);

    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // A small, clean environment.
    std::vector<std::string> envs;
    for (char** p = environ; *p; ++p) {
        std::string_view kv(*p);
        for (const char* keep : {"PATH=", "TZ=", "LANG=", "LC_", "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=", "TMPDIR="})
            if (kv.rfind(keep, 0) == 0) envs.emplace_back(kv);
    }
    std::vector<char*> envp;
    for (auto& kv : envs) envp.push_back(kv.data());
    envp.push_back(nullptr);

    // Signals stay blocked across fork: until the child has reset its
    // handlers, a SIGHUP meant for it would run the master's libevent
    // handler in the child and be lost (the child would never drain).
    sigset_t all, old;
    sigfillset(&all);
    ::sigprocmask(SIG_BLOCK, &all, &old);
    pid_t self = ::getpid();
    pid_t pid = ::fork();
    if (pid != 0) ::sigprocmask(SIG_SETMASK, &old, nullptr);
    if (pid < 0) {
        log::error("fork for service %s: %s", e.name.c_str(), errno_text().c_str());
        schedule_restart(s);
        return;
    }
    if (pid == 0) {
        for (int sig : {SIGPIPE, SIGTERM, SIGHUP, SIGINT, SIGCHLD}) ::signal(sig, SIG_DFL);
        // The daemon dies with the master from the first instant (a master
        // killed before the daemon's own prctl would leave it orphaned); the
        // skeleton sets this again after changing credentials, which clear it.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (::getppid() != self) _exit(0);
        // child: listening sockets become fds 3.., everything else is closed
        int n = static_cast<int>(s.listeners.size());
        std::vector<int> moved;
        for (auto& l : s.listeners) moved.push_back(::fcntl(l.get(), F_DUPFD, 3 + n + 64));
        for (int i = 0; i < n; ++i) {
            if (::dup2(moved[i], 3 + i) < 0) _exit(126);
        }
        ::close_range(3 + n, ~0U, 0);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execve(prog.c_str(), argv.data(), envp.data());
        char msg[512];
        int len = std::snprintf(msg, sizeof msg, "tern/master: exec %s: %s\n", prog.c_str(), std::strerror(errno));
        if (len > 0) {
            ssize_t w = ::write(2, msg, static_cast<size_t>(len));
            (void)w;
        }
        _exit(127);
    }
    s.pids.push_back(pid);
    s.last_start = std::chrono::steady_clock::now();
    _by_pid[pid] = &s;
    log::debug("service %s: started %s pid %d", e.name.c_str(), e.command.c_str(), static_cast<int>(pid));
}

void supervisor::schedule_restart(service& s) {
    auto min = std::chrono::seconds(_cfg.get_time("master_restart_min_delay"));
    auto max = std::chrono::seconds(_cfg.get_time("master_restart_max_delay"));
    auto ran = std::chrono::steady_clock::now() - s.last_start;
    // a child that lived a while earns a fresh start; one that dies quickly waits longer each time
    if (s.delay.count() == 0 || ran > std::chrono::seconds(60))
        s.delay = min;
    else
        s.delay = std::min(max, std::max(min, s.delay * 2));
    if (!s.restart_timer) {
        s.restart_timer = std::make_unique<timer>(_loop, [this, &s] {
            if (_stopping || s.removed) return;
            spawn_all(s);
            write_status();
        });
    }
    if (!s.restart_timer->pending()) {
        log::warn("service %s: restarting %s in %llds", s.entry.name.c_str(), s.entry.command.c_str(),
                  static_cast<long long>(s.delay.count()));
        s.restart_timer->start(std::chrono::duration_cast<std::chrono::milliseconds>(s.delay));
    }
}

void supervisor::reap() {
    for (;;) {
        int status = 0;
        pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) break;
        std::string how;
        if (WIFSIGNALED(status))
            how = "killed by signal " + std::to_string(WTERMSIG(status));
        else
            how = "exit status " + std::to_string(WEXITSTATUS(status));
        if (auto r = _retiring.find(pid); r != _retiring.end()) {
            log::debug("retired %s pid %d: %s", r->second.c_str(), static_cast<int>(pid), how.c_str());
            _retiring.erase(r);
            continue;
        }
        auto it = _by_pid.find(pid);
        if (it == _by_pid.end()) continue;
        service& s = *it->second;
        _by_pid.erase(it);
        s.pids.erase(std::remove(s.pids.begin(), s.pids.end(), pid), s.pids.end());
        if (_stopping) continue;
        bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (clean && std::chrono::steady_clock::now() - s.last_start > std::chrono::seconds(2) &&
            !(s.restart_timer && s.restart_timer->pending())) {
            // a daemon that finished on purpose (a changed table, an idle
            // limit): its successor starts now, the listeners stay served
            log::info("service %s: %s pid %d exited; starting a new one", s.entry.name.c_str(),
                      s.entry.command.c_str(), static_cast<int>(pid));
            spawn_all(s);
            continue;
        }
        if (clean)
            log::info("service %s: %s pid %d exited", s.entry.name.c_str(), s.entry.command.c_str(), static_cast<int>(pid));
        else
            log::warn("service %s: %s pid %d %s", s.entry.name.c_str(), s.entry.command.c_str(), static_cast<int>(pid),
                      how.c_str());
        schedule_restart(s);
    }
    write_status();
}

void supervisor::reload() {
    config cfg;
    std::vector<service_entry> entries;
    std::vector<std::string> errors;
    if (!load(cfg, entries, errors)) {
        for (const auto& e : errors) log::error("%s", e.c_str());
        log::error("reload refused: configuration errors (still running the previous configuration)");
        return;
    }
    config old_cfg = std::move(_cfg);
    _cfg = std::move(cfg);
    std::map<std::string, std::unique_ptr<service>> next;
    for (auto& e : entries) {
        std::string key = service_key(e);
        auto s = std::make_unique<service>();
        s->entry = std::move(e);
        s->wanted = s->entry.maxproc > 0 ? s->entry.maxproc : static_cast<int>(_cfg.get_int("default_process_limit"));
        auto old = _services.find(key);
        bool same_addr = old != _services.end() && old->second->entry.host() == s->entry.host() &&
                         old->second->entry.port() == s->entry.port() &&
                         old_cfg.get("inet_interfaces") == _cfg.get("inet_interfaces") &&
                         old_cfg.get("queue_directory") == _cfg.get("queue_directory") &&
                         old->second->entry.private_ == s->entry.private_;
        if (same_addr) {
            s->listeners = std::move(old->second->listeners);
            s->describe = old->second->describe;
        } else {
            std::string err;
            if (!bind(*s, err)) {
                log::error("reload: %s (service %s not started)", err.c_str(), s->entry.name.c_str());
                continue;
            }
        }
        next.emplace(key, std::move(s));
    }
    // old generation drains: stop accepting, finish sessions, exit
    for (auto& [key, s] : _services) {
        s->removed = true;
        if (s->restart_timer) s->restart_timer->stop();
        for (pid_t pid : s->pids) {
            _by_pid.erase(pid);
            _retiring[pid] = s->entry.name;
            ::kill(pid, SIGHUP);
        }
        if (!next.count(key)) log::info("service %s removed", s->entry.name.c_str());
    }
    _services = std::move(next);
    for (auto& [k, s] : _services) spawn_all(*s);
    write_status();
    log::info("reload: configuration reloaded, %zu services", _services.size());
}

void supervisor::stop_all() {
    _stopping = true;
    for (auto& [k, s] : _services) {
        if (s->restart_timer) s->restart_timer->stop();
        for (pid_t pid : s->pids) ::kill(pid, SIGTERM);
    }
    for (auto& [pid, name] : _retiring) ::kill(pid, SIGTERM);
}

void supervisor::kill_remaining() {
    for (auto& [k, s] : _services)
        for (pid_t pid : s->pids) {
            log::warn("service %s: pid %d did not stop; killing it", s->entry.name.c_str(), static_cast<int>(pid));
            ::kill(pid, SIGKILL);
        }
    for (auto& [pid, name] : _retiring) ::kill(pid, SIGKILL);
}

bool supervisor::all_stopped() const {
    if (!_retiring.empty()) return false;
    for (const auto& [k, s] : _services)
        if (!s->pids.empty()) return false;
    return true;
}

void supervisor::write_status() const {
    std::string out;
    for (const auto& [k, s] : _services) {
        out += s->entry.name + " " + s->entry.type + " " + s->entry.command + " ";
        std::string pids;
        for (pid_t p : s->pids) pids += (pids.empty() ? "" : ",") + std::to_string(p);
        out += (pids.empty() ? "-" : pids) + " " + s->describe + "\n";
    }
    for (const auto& [pid, name] : _retiring) out += name + " retiring - " + std::to_string(pid) + " -\n";
    write_file_atomic(_cfg.get("queue_directory") + "/pid/master.status", out, 0644);
}

}  // namespace tern::master
