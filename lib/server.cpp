// server.cpp - see server.hpp.
#include "lib/server.hpp"

#include <csignal>
#include <optional>
#include <cstring>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <ctime>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/privs.hpp"
#include "lib/strutil.hpp"

namespace tern {

void evconnlistener_deleter::operator()(evconnlistener* l) const noexcept { evconnlistener_free(l); }

std::string server::queue_path(const std::string& rel) const {
    if (!rel.empty() && rel[0] == '/') {
        // absolute: as is, unless it names something inside the jail
        if (chrooted && rel.size() > _queue_dir.size() + 1 && rel.compare(0, _queue_dir.size(), _queue_dir) == 0 &&
            rel[_queue_dir.size()] == '/')
            return rel.substr(_queue_dir.size());
        return rel;
    }
    if (chrooted) return "/" + rel;
    return _queue_dir + "/" + rel;
}

void server::drain(server_hooks& hooks) {
    if (_draining) return;
    _draining = true;
    stop_accepting();
    auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(cfg.get_time("service_drain_timeout"));
    _drain = std::make_unique<timer>(loop, [this, &hooks, limit] {
        size_t n = hooks.active_sessions ? hooks.active_sessions(*this) : 0;
        if (n == 0 || std::chrono::steady_clock::now() >= limit) {
            if (hooks.on_stop) hooks.on_stop(*this);
            loop.exit();
        }
    });
    _drain->start(std::chrono::milliseconds(200), true);
}

void server::stop_accepting() {
    _listeners.clear();
}

void server::accept_cb(evconnlistener*, int fd, struct sockaddr*, int, void* arg) noexcept {
    auto l = static_cast<listener*>(arg);
    unique_fd cfd(fd);
    set_cloexec(fd);
    // Replies go out as soon as they are written: with Nagle's algorithm the
    // tail of a pipelined batch's last reply waits for the client's delayed
    // ACK (40 ms per POP3 RETR window, measured). No-op on UNIX sockets.
    int one = 1;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    guard("accept", [&] {
        if (l->self->_hooks->on_accept) l->self->_hooks->on_accept(*l->self, std::move(cfd), l->index);
    });
}

void raise_fd_limit() {
    // Thousands of idle IMAP or SMTP sessions need as many descriptors; the
    // soft limit (often 1024) may be raised to the hard one without privilege.
    struct rlimit rl;
    if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &rl) != 0)
        log::warn("cannot raise the open file limit from %llu: %s", static_cast<unsigned long long>(before),
                  errno_text().c_str());
}

void load_config_or_die(config& cfg, const std::string& dir,
                        const std::vector<std::pair<std::string, std::string>>& overrides) {
    std::vector<config_error> errors;
    cfg.load(dir, errors);
    for (const auto& [n, v] : overrides) cfg.set(n, v, "-o");
    cfg.validate(errors);
    if (!errors.empty()) {
        for (const auto& e : errors) log::error("%s", e.str().c_str());
        log::fatal("configuration errors; not starting");
    }
    for (const auto& u : cfg.unknown_names()) log::warn("%s", u.str().c_str());
}

static void usage(const char* prog) {
    log::fatal("usage: %s -c config_dir [-n service] [-t inet|unix] [-L nfds] [-u] [-j] [-w secs] [-F] [-v] "
               "[-o name=value]...",
               prog);
}

int server_main(int argc, char** argv, server_hooks& hooks) {
    std::string config_dir = TERN_CONFIG_DIR;
    std::string service = hooks.program, type = "unix";
    int nfds = 0, wakeup = 0;
    bool unpriv = false, jail = false, to_stderr = ::isatty(2), verbose = false;
    std::vector<std::pair<std::string, std::string>> overrides;
    std::vector<std::string> extra;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) usage(argv[0]);
            return argv[++i];
        };
        if (a == "-c") config_dir = next();
        else if (a == "-n") service = next();
        else if (a == "-t") type = next();
        else if (a == "-L") nfds = static_cast<int>(parse_u64(next()).value_or(0));
        else if (a == "-w") wakeup = static_cast<int>(parse_u64(next()).value_or(0));
        else if (a == "-u") unpriv = true;
        else if (a == "-j") jail = true;
        else if (a == "-F") to_stderr = true;
        else if (a == "-v") verbose = true;
        else if (a == "-o") {
            auto ov = next();
            auto eq = ov.find('=');
            if (eq == std::string::npos) usage(argv[0]);
            overrides.emplace_back(ov.substr(0, eq), ov.substr(eq + 1));
        } else extra.push_back(a);
    }
    pid_t parent = ::getppid();
    log::init(hooks.program, to_stderr ? log::sink::stderr_stream : log::sink::syslog, verbose);
    ::signal(SIGPIPE, SIG_IGN);

    server srv;
    srv._hooks = &hooks;
    srv.service = service;
    srv.service_type = type;
    srv.args = extra;
    load_config_or_die(srv.cfg, config_dir, overrides);
    srv._queue_dir = srv.cfg.get("queue_directory");
    log::set_ident(srv.cfg.get("syslog_name"));

    for (int i = 0; i < nfds; ++i) {
        int fd = 3 + i;
        set_nonblocking(fd);
        set_cloexec(fd);
        auto l = std::make_unique<server::listener>();
        l->self = &srv;
        l->index = static_cast<size_t>(i);
        l->l.reset(evconnlistener_new(srv.loop.base(), &server::accept_cb, l.get(), LEV_OPT_CLOSE_ON_FREE, 0, fd));  // 0: the master listens already (master_listen_backlog); -1 would shrink it to 128
        if (!l->l) log::fatal("cannot listen on inherited fd %d", fd);
        srv._listeners.push_back(std::move(l));
    }

    raise_fd_limit();
    srv.will_chroot = jail && ::geteuid() == 0;
    // The jail hides /etc/localtime and the zoneinfo files: load the time
    // zone now, or every time stamp after chroot would silently be UTC.
    ::tzset();
    if (hooks.pre_jail) hooks.pre_jail(srv);

    bool root = ::geteuid() == 0;
    // look mail_owner up while /etc/passwd is still visible (before chroot)
    std::optional<account> owner_acct;
    std::string owner = srv.cfg.get("mail_owner");
    if (root && !hooks.keep_root) owner_acct = lookup_account(owner);
    if (jail && root) {
        std::string err;
        if (!chroot_to(srv._queue_dir, err)) log::fatal("%s", err.c_str());
        srv.chrooted = true;
    }
    if (root && !hooks.keep_root) {
        // Every daemon but the privileged ones runs as mail_owner.
        auto& acct = owner_acct;
        if (!acct) log::fatal("mail_owner %s: no such account", owner.c_str());
        if (acct->uid == 0) log::fatal("mail_owner %s has uid 0; refusing to run as root", owner.c_str());
        std::string err;
        if (!drop_privileges(acct->uid, acct->gid, err)) log::fatal("%s", err.c_str());
        srv.unprivileged = true;
    } else if (!root) {
        srv.unprivileged = true;
    }
    if (unpriv && ::geteuid() == 0 && !hooks.keep_root)
        log::fatal("refusing to run as root");
    ::prctl(PR_SET_DUMPABLE, 0);
    // A daemon outlives no master: one killed with SIGKILL would otherwise
    // leave its children holding the listeners, and the next `tern start`
    // could not bind. Set after the credential change, which clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) log::fatal("master (pid %d) is gone; exiting", static_cast<int>(parent));

    if (hooks.post_jail) hooks.post_jail(srv);

    srv.loop.on_signal(SIGTERM, [&] {
        if (hooks.on_stop) hooks.on_stop(srv);
        srv.loop.exit();
    });
    srv.loop.on_signal(SIGINT, [&] {
        if (hooks.on_stop) hooks.on_stop(srv);
        srv.loop.exit();
    });
    srv.loop.on_signal(SIGHUP, [&] {
        // master reloaded: new processes take over the listeners; finish ours
        srv.drain(hooks);
    });
    if (srv.chrooted) {
        // A table changed behind the jail cannot be reopened from inside it:
        // finish the sessions and exit; the master starts a process that
        // loads the new file (as Postfix's daemons do).
        srv._table_check = std::make_unique<timer>(srv.loop, [&] {
            if (srv._draining) return;
            std::string spec = table_changed_behind_jail();
            if (spec.empty()) return;
            log::info("table %s has changed; restarting to load it", spec.c_str());
            srv.drain(hooks);
        });
        srv._table_check->start(std::chrono::milliseconds(500), true);
    }
    if (wakeup > 0 && hooks.on_wakeup) {
        srv._wakeup = std::make_unique<timer>(srv.loop, [&] { hooks.on_wakeup(srv); });
        srv._wakeup->start(std::chrono::seconds(wakeup), true);
    }
    log::debug("service %s started", srv.service.c_str());
    srv.loop.run();
    srv._listeners.clear();
    return 0;
}

}  // namespace tern
