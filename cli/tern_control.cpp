// tern_control.cpp - `tern start | stop | reload | status`: run the master,
// signal it, and report what runs. The master's pid file lock is the truth
// about whether an instance runs.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "cli/tern.hpp"
#include "lib/config.hpp"
#include "lib/fd.hpp"
#include "lib/strutil.hpp"

namespace tern::cli {

std::string program_directory(bool daemons) {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = 0;
        std::string exe_dir = dirname_of(buf);
        // in a build tree, cli/tern sits next to ../run/ with every program
        std::string run = dirname_of(exe_dir) + "/run";
        if (::access((run + "/master").c_str(), X_OK) == 0 && ::access((dirname_of(exe_dir) + "/config.status").c_str(), F_OK) == 0)
            return run;
    }
    return daemons ? TERN_DAEMON_DIR : TERN_COMMAND_DIR;
}

int running_master(const std::string& queue_dir) {
    std::string pidfile = queue_dir + "/pid/master.pid";
    unique_fd fd(::open(pidfile.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return 0;
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (::fcntl(fd.get(), F_GETLK, &fl) != 0) return 0;
    if (fl.l_type == F_UNLCK) return 0;
    return fl.l_pid;
}

static bool load_cfg(const std::string& dir, config& cfg) {
    std::vector<config_error> errs;
    cfg.load(dir, errs);
    cfg.validate(errs);
    for (const auto& e : errs) std::fprintf(stderr, "tern: fatal: %s\n", e.str().c_str());
    return errs.empty();
}

int cmd_start(const std::string& config_dir, const std::vector<std::string>& args) {
    bool foreground = false, verbose = false;
    for (const auto& a : args) {
        if (a == "-f") foreground = true;
        else if (a == "-v") verbose = true;
        else {
            std::fprintf(stderr, "usage: tern [-c DIR] start [-f] [-v]\n");
            return 64;
        }
    }
    config cfg;
    if (!load_cfg(config_dir, cfg)) return 1;
    std::string qdir = cfg.get("queue_directory");
    if (int pid = running_master(qdir)) {
        std::fprintf(stderr, "tern: the mail system is already running (pid %d)\n", pid);
        return 1;
    }
    std::string master = cfg.get("daemon_directory") + "/master";
    std::vector<std::string> argv_s = {master, "-c", config_dir};
    if (verbose) argv_s.push_back("-v");
    if (foreground) {
        argv_s.push_back("-f");
        std::vector<char*> av;
        for (auto& s : argv_s) av.push_back(s.data());
        av.push_back(nullptr);
        std::fprintf(stderr, "tern: starting the mail system in the foreground (Ctrl-C stops it)\n");
        ::execv(master.c_str(), av.data());
        std::fprintf(stderr, "tern: fatal: exec %s: %s\n", master.c_str(), std::strerror(errno));
        return 1;
    }
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return 1;
    unique_fd rd(p[0]), wr(p[1]);
    argv_s.push_back("-r");
    argv_s.push_back("3");
    pid_t pid = ::fork();
    if (pid < 0) {
        std::fprintf(stderr, "tern: fatal: fork: %s\n", std::strerror(errno));
        return 1;
    }
    if (pid == 0) {
        ::setsid();
        // detach from the terminal's input; stderr stays until master is ready
        int nul = ::open("/dev/null", O_RDWR);
        if (nul >= 0) {
            ::dup2(nul, 0);
            ::dup2(nul, 1);
        }
        ::dup2(wr.get(), 3);
        ::close_range(4, ~0U, 0);
        std::vector<char*> av;
        for (auto& s : argv_s) av.push_back(s.data());
        av.push_back(nullptr);
        ::execv(master.c_str(), av.data());
        std::fprintf(stderr, "tern: fatal: exec %s: %s\n", master.c_str(), std::strerror(errno));
        _exit(127);
    }
    wr.reset();
    // wait for "ready" or for master to die
    std::string got;
    std::string why = "did not become ready within 60 s";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (got.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
        struct pollfd pfd{rd.get(), POLLIN, 0};
        int r = ::poll(&pfd, 1, 200);
        if (r > 0) {
            char buf[64];
            ssize_t n = ::read(rd.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) {
                why = n == 0 ? "closed its readiness pipe without reporting ready"
                             : std::string("readiness pipe: ") + std::strerror(errno);
                break;
            }
            got.append(buf, static_cast<size_t>(n));
        }
    }
    if (got.rfind("ready", 0) == 0) {
        std::printf("tern: the mail system is running (configuration %s)\n", config_dir.c_str());
        return 0;
    }
    if (!got.empty()) why = "reported \"" + printable(got.substr(0, got.find('\n')), 100) + "\" instead of ready";
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) {
        std::fprintf(stderr, "tern: master %s; stopping it\n", why.c_str());
        ::kill(pid, SIGTERM);
        ::waitpid(pid, &status, 0);
    }
    std::fprintf(stderr, "tern: fatal: the mail system did not start\n");
    return 1;
}

// A process that is gone, or a zombie waiting for its (re)parent to reap it.
static bool process_gone(int pid) {
    if (::kill(pid, 0) != 0) return true;
    auto st = read_file("/proc/" + std::to_string(pid) + "/stat", 4096);
    if (!st) return true;
    auto rp = st->rfind(')');
    return rp != std::string::npos && rp + 2 < st->size() && (*st)[rp + 2] == 'Z';
}

int cmd_stop(const std::string& config_dir, const std::vector<std::string>&) {
    config cfg;
    if (!load_cfg(config_dir, cfg)) return 1;
    std::string qdir = cfg.get("queue_directory");
    int pid = running_master(qdir);
    if (!pid) {
        std::fprintf(stderr, "tern: the mail system is not running\n");
        return 1;
    }
    if (::kill(pid, SIGTERM) != 0) {
        std::fprintf(stderr, "tern: cannot signal master pid %d: %s\n", pid, std::strerror(errno));
        return 1;
    }
    auto limit = std::chrono::seconds(cfg.get_time("master_stop_timeout") + 15);
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!running_master(qdir) && process_gone(pid)) {
            std::printf("tern: the mail system is stopped\n");
            return 0;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::fprintf(stderr, "tern: master pid %d did not stop within %llds\n", pid,
                 static_cast<long long>(limit.count()));
    return 1;
}

int cmd_reload(const std::string& config_dir, const std::vector<std::string>&) {
    config cfg;
    if (!load_cfg(config_dir, cfg)) return 1;
    int pid = running_master(cfg.get("queue_directory"));
    if (!pid) {
        std::fprintf(stderr, "tern: the mail system is not running\n");
        return 1;
    }
    if (::kill(pid, SIGHUP) != 0) {
        std::fprintf(stderr, "tern: cannot signal master pid %d: %s\n", pid, std::strerror(errno));
        return 1;
    }
    std::printf("tern: refreshing the mail system\n");
    return 0;
}

int cmd_status(const std::string& config_dir, const std::vector<std::string>&) {
    config cfg;
    if (!load_cfg(config_dir, cfg)) return 1;
    std::string qdir = cfg.get("queue_directory");
    int pid = running_master(qdir);
    if (!pid) {
        std::printf("tern: the mail system is not running\n");
        return 1;
    }
    std::printf("tern: the mail system is running: master pid %d\n", pid);
    auto st = read_file(qdir + "/pid/master.status", 1u << 20);
    if (!st) return 0;
    std::printf("%-12s %-5s %-16s %-16s %s\n", "service", "type", "command", "pids", "listening");
    for (auto& line : split_char(*st, '\n')) {
        auto f = split_any(line, " ");
        if (f.size() < 4) continue;
        std::string rest;
        for (size_t i = 4; i < f.size(); ++i) rest += (i > 4 ? " " : "") + f[i];
        std::printf("%-12s %-5s %-16s %-16s %s\n", f[0].c_str(), f[1].c_str(), f[2].c_str(), f[3].c_str(), rest.c_str());
    }
    return 0;
}

}  // namespace tern::cli
