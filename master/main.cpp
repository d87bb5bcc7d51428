// main.cpp - the tern master: reads main.cf and master.cf, binds every
// listener, starts and supervises the daemons. `tern start` runs it.
//   master [-c DIR] [-f] [-v] [-r READY_FD] [-n]
// -f: stay in the foreground, log to stderr; -r: write "ready" to READY_FD
// once every listener is bound (so `tern start` can report failures);
// -n: check the configuration and exit.
// SECURITY: runs as root in system mode; it parses only the administrator's
// configuration and never talks to clients.
#include <csignal>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tern_config.h"
#include "lib/fd.hpp"
#include "lib/log.hpp"
#include "lib/server.hpp"
#include "lib/strutil.hpp"
#include "master/supervisor.hpp"

using namespace tern;

static void usage() {
    std::fprintf(stderr, "usage: master [-c config_dir] [-f] [-v] [-r ready_fd] [-n]\n");
    std::exit(64);
}

int main(int argc, char** argv) {
    std::string config_dir = TERN_CONFIG_DIR;
    bool foreground = false, verbose = false, check_only = false;
    int ready_fd = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-c" && i + 1 < argc) config_dir = argv[++i];
        else if (a == "-f") foreground = true;
        else if (a == "-v") verbose = true;
        else if (a == "-n") check_only = true;
        else if (a == "-r" && i + 1 < argc) ready_fd = static_cast<int>(parse_u64(argv[++i]).value_or(0));
        else usage();
    }
    unique_fd ready(ready_fd >= 0 ? ready_fd : -1);
    log::init("master", log::sink::stderr_stream, verbose);
    raise_fd_limit();  // the daemons inherit it
    ::signal(SIGPIPE, SIG_IGN);

    event_loop loop;
    master::supervisor sup(loop, config_dir, foreground, verbose);
    config cfg;
    std::vector<service_entry> entries;
    std::vector<std::string> errors;
    if (!sup.load(cfg, entries, errors)) {
        for (const auto& e : errors) std::fprintf(stderr, "tern/master: fatal: %s\n", e.c_str());
        std::fprintf(stderr, "tern/master: fatal: configuration errors; nothing started\n");
        return 1;
    }
    if (check_only) return 0;

    // One master per configuration: the pid file's lock says who runs.
    std::string qdir = cfg.get("queue_directory");
    if (!make_dirs(qdir + "/pid", 0755)) {
        std::fprintf(stderr, "tern/master: fatal: cannot create %s/pid: %s\n", qdir.c_str(), errno_text().c_str());
        return 1;
    }
    std::string pidfile = qdir + "/pid/master.pid";
    unique_fd pidfd(::open(pidfile.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!pidfd) {
        std::fprintf(stderr, "tern/master: fatal: open %s: %s\n", pidfile.c_str(), errno_text().c_str());
        return 1;
    }
    if (!lock_fd(pidfd.get(), lock_mode::exclusive, false)) {
        auto other = read_file(pidfile, 64).value_or("?");
        std::fprintf(stderr, "tern/master: fatal: the mail system is already running (pid %s)\n",
                     std::string(trim(other)).c_str());
        return 1;
    }
    if (::ftruncate(pidfd.get(), 0) != 0 || !write_all(pidfd.get(), std::to_string(::getpid()) + "\n"))
        std::fprintf(stderr, "tern/master: warning: cannot write %s\n", pidfile.c_str());

    // Log destination: the maillog file (shared with every child through
    // fd 2), stderr in the foreground, else syslog.
    std::string maillog = cfg.get("maillog_file");
    bool to_stderr = foreground;
    if (!maillog.empty()) {
        make_dirs(dirname_of(maillog), 0755);
        unique_fd lf(::open(maillog.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
        if (!lf) {
            std::fprintf(stderr, "tern/master: fatal: open maillog_file %s: %s\n", maillog.c_str(), errno_text().c_str());
            return 1;
        }
        if (!foreground) {
            ::dup2(lf.get(), 2);
            to_stderr = true;
        }
    }
    if (!to_stderr) log::init("master", log::sink::syslog, verbose);

    std::unique_ptr<timer> kill_timer, exit_check;
    auto stop = [&] {
        log::info("terminating on signal");
        sup.stop_all();
        kill_timer = std::make_unique<timer>(loop, [&] { sup.kill_remaining(); });
        kill_timer->start(std::chrono::seconds(cfg.get_time("master_stop_timeout")));
        exit_check = std::make_unique<timer>(loop, [&] {
            sup.reap();
            if (sup.all_stopped()) loop.exit();
        });
        exit_check->start(std::chrono::milliseconds(50), true);
    };
    loop.on_signal(SIGTERM, stop);
    loop.on_signal(SIGINT, stop);
    loop.on_signal(SIGHUP, [&] {
        log::info("reload -- configuration %s", config_dir.c_str());
        sup.reload();
    });
    loop.on_signal(SIGCHLD, [&] { sup.reap(); });
    // handlers exist before the first child does, so no exit goes unseen
    std::string err;
    if (!sup.start(cfg, entries, err)) {
        log::error("%s", err.c_str());
        if (!foreground) std::fprintf(stderr, "tern/master: fatal: %s\n", err.c_str());
        ::unlink(pidfile.c_str());
        return 1;
    }
    log::info("daemon started -- version %s, configuration %s", PACKAGE_VERSION, config_dir.c_str());

    if (!foreground) {
        unique_fd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
        if (devnull) {
            ::dup2(devnull.get(), 0);
            ::dup2(devnull.get(), 1);
            if (maillog.empty()) ::dup2(devnull.get(), 2);
        }
    }
    if (ready) {
        write_all(ready.get(), "ready\n");
        ready.reset();
    }

    sup.reap();
    loop.run();

    ::unlink((qdir + "/pid/master.status").c_str());
    ::unlink(pidfile.c_str());
    log::info("stopped");
    return 0;
}
