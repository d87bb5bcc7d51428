// store.cpp - see store.hpp.
#include "local-delivery/store.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/fd.hpp"
#include "lib/queue_ctl.hpp"
#include "lib/queue_dir.hpp"
#include "lib/queue_writer.hpp"
#include "lib/strutil.hpp"

namespace tern::local {

mailbox::message_reader message_source::make_reader() const {
    auto pos = std::make_shared<uint64_t>(0);
    const message_source* self = this;
    return [self, pos](char* buf, size_t len) -> ssize_t {
        uint64_t p = *pos;
        if (p < self->prefix.size()) {
            size_t n = std::min<uint64_t>(len, self->prefix.size() - p);
            std::memcpy(buf, self->prefix.data() + p, n);
            *pos += n;
            return static_cast<ssize_t>(n);
        }
        uint64_t in_msg = p - self->prefix.size();
        if (in_msg >= self->length) return 0;
        size_t want = static_cast<size_t>(std::min<uint64_t>(len, self->length - in_msg));
        for (;;) {
            ssize_t n = ::pread(self->fd, buf, want, static_cast<off_t>(self->offset + in_msg));
            if (n < 0 && errno == EINTR) continue;
            if (n == 0) {
                errno = EIO;  // the queue file is shorter than its records say
                return -1;
            }
            if (n > 0) *pos += static_cast<uint64_t>(n);
            return n;
        }
    };
}

std::string status_for_errno(int err) {
    switch (err) {
    case EDQUOT:
    case EFBIG: return "5.2.2";  // mailbox full
    case ENOSPC: return "4.3.1";  // the file system is full: try later
    case EAGAIN: return "4.2.1";  // locked
    case EACCES:
    case EPERM:
    case EROFS: return "4.2.1";   // a permission problem the owner can fix
    case ENOENT:
    case ENOTDIR: return "4.2.1";
    default: return "4.3.0";
    }
}

store_result store_maildir(const std::string& dir, const message_source& src, uint64_t size_limit) {
    if (size_limit > 0 && src.total() > size_limit)
        return {"5.2.2", "message is larger than the mailbox size limit (" + std::to_string(size_limit) + " bytes)"};
    auto s = mailbox::deliver_maildir(dir, src.make_reader(), 0);
    if (!s) return {status_for_errno(s.err), "maildir delivery failed: " + s.reason};
    return {"2.0.0", "delivered to maildir"};
}

store_result store_mbox(const std::string& path, const std::string& sender, const message_source& src,
                        const mailbox::limits& lim, uint64_t size_limit, bool is_file) {
    if (size_limit > 0) {
        // the kernel stops the file at the limit (EFBIG) and the library cuts it back
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl{static_cast<rlim_t>(size_limit), static_cast<rlim_t>(size_limit)};
        ::setrlimit(RLIMIT_FSIZE, &rl);
    }
    auto s = mailbox::deliver_mbox(path, sender, src.make_reader(), lim);
    if (!s) {
        std::string what = is_file ? "delivery to file " + path + " failed: " : "mailbox delivery failed: ";
        return {status_for_errno(s.err), what + s.reason};
    }
    return {"2.0.0", is_file ? "delivered to file: " + path : "delivered to mailbox"};
}

namespace {

void set_env(const char* name, const std::string& v) { ::setenv(name, v.c_str(), 1); }

// printable one-line summary of what a command printed
std::string summary(const std::string& out) {
    std::string s = printable(trim(out), 200);
    for (auto& c : s)
        if (c == '\n' || c == '\r' || c == '\t') c = ' ';
    return s;
}

}  // namespace

store_result store_command(const command_env& c, const message_source& src) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0)
        return {"4.3.0", std::string("pipe: ") + std::strerror(errno)};
    pid_t pid = ::fork();
    if (pid < 0) return {"4.3.0", std::string("fork: ") + std::strerror(errno)};
    if (pid == 0) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(out[1], 2);
        ::close_range(3, ~0U, 0);
        ::setsid();
        ::signal(SIGPIPE, SIG_DFL);
        ::signal(SIGXFSZ, SIG_DFL);
        ::clearenv();
        set_env("PATH", "/usr/local/bin:/usr/bin:/bin");
        set_env("SHELL", c.shell);
        set_env("HOME", c.home);
        set_env("USER", c.user);
        set_env("LOGNAME", c.user);
        set_env("SENDER", c.sender);
        set_env("RECIPIENT", c.recipient);
        set_env("ORIGINAL_RECIPIENT", c.original_recipient);
        set_env("EXTENSION", c.extension);
        set_env("DOMAIN", c.domain);
        set_env("LOCAL", c.local);
        set_env("LANG", "C");
        if (c.home.empty() || ::chdir(c.home.c_str()) != 0) {
            if (::chdir("/") != 0) _exit(126);
        }
        ::execl(c.shell.c_str(), c.shell.c_str(), "-c", c.command.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    unique_fd win(in[1]), rout(out[0]);
    set_nonblocking(win.get());
    set_nonblocking(rout.get());

    struct timespec start;
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    auto reader = src.make_reader();
    std::string pending, output;
    bool eof_in = false, timed_out = false, broken_pipe = false;
    char buf[16384];
    while (win || rout) {
        struct timespec now;
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        long left_ms = static_cast<long>(c.time_limit) * 1000 - ((now.tv_sec - start.tv_sec) * 1000 +
                                                                 (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left_ms <= 0) {
            timed_out = true;
            break;
        }
        if (win && pending.empty() && !eof_in) {
            ssize_t n = reader(buf, sizeof buf);
            if (n < 0) {
                ::kill(-pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
                return {"4.3.0", "cannot read the queued message"};
            }
            if (n == 0) {
                eof_in = true;
                win.reset();  // the command sees end of input
            } else {
                pending.assign(buf, static_cast<size_t>(n));
            }
        }
        struct pollfd p[2];
        int np = 0, iw = -1, ir = -1;
        if (win && !pending.empty()) {
            p[np] = {win.get(), POLLOUT, 0};
            iw = np++;
        }
        if (rout) {
            p[np] = {rout.get(), POLLIN, 0};
            ir = np++;
        }
        if (np == 0) continue;
        int r = ::poll(p, static_cast<nfds_t>(np), static_cast<int>(std::min(left_ms, 1000L)));
        if (r < 0 && errno != EINTR) break;
        if (iw >= 0 && (p[iw].revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = ::write(win.get(), pending.data(), pending.size());
            if (n > 0) pending.erase(0, static_cast<size_t>(n));
            else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                // the command stopped reading: what it did with the rest is its business
                broken_pipe = errno == EPIPE;
                win.reset();
                pending.clear();
                eof_in = true;
            }
        }
        if (ir >= 0 && (p[ir].revents & (POLLIN | POLLERR | POLLHUP))) {
            ssize_t n = ::read(rout.get(), buf, sizeof buf);
            if (n > 0) {
                if (output.size() < 4096) output.append(buf, static_cast<size_t>(std::min<ssize_t>(n, 4096)));
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                rout.reset();
            }
        }
    }
    int st = 0;
    if (timed_out) {
        ::kill(-pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        return {"4.3.0", "command timed out after " + std::to_string(c.time_limit) + "s: " + c.command};
    }
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    (void)broken_pipe;
    std::string said = summary(output);
    if (WIFEXITED(st)) {
        int code = WEXITSTATUS(st);
        if (code == 0) return {"2.0.0", "delivered to command: " + c.command};
        std::string text = "command " + c.command + " exited with status " + std::to_string(code) +
                           (said.empty() ? "" : ": " + said);
        // sysexits: 75 EX_TEMPFAIL (and the transient ones) mean try again
        if (code == 75 || code == 71 || code == 74 || code == 73) return {"4.3.0", text};
        if (code == 67) return {"5.1.1", text};  // EX_NOUSER
        if (code == 77) return {"5.7.0", text};  // EX_NOPERM
        return {"5.3.0", text};
    }
    std::string text = "command " + c.command + " was killed by signal " + std::to_string(WTERMSIG(st)) +
                       (said.empty() ? "" : ": " + said);
    return {"4.3.0", text};
}

store_result store_forward(const forward_job& j, const message_source& src) {
    queue_dir q(j.queue_root, j.hash_depth);
    std::string err;
    auto w = queue_writer::create(q, err);
    if (!w) return {"4.3.0", "cannot queue the forwarded message: " + err};
    auto& env = w->env();
    env.sender = j.original.sender;
    env.envid = j.original.envid;
    env.ret = j.original.ret;
    env.body = j.original.body;
    env.smtputf8 = j.original.smtputf8;
    env.protocol = "local";
    for (const auto& a : j.addresses) {
        recipient r;
        r.address = a;
        r.orcpt = j.orcpt;
        // the "expanded" notice answered SUCCESS; failures and delays still count
        r.notify = static_cast<uint8_t>(j.notify & ~dsn_notify::success);
        if (r.notify == 0 && j.notify != 0) r.notify = dsn_notify::never;
        env.recipients.push_back(r);
    }
    std::string head = "Delivered-To: " + j.parent + "\n";
    bool ok = w->write(head);
    // the source's trace lines are for mailboxes, not for a forwarded copy
    message_source body = src;
    body.prefix.clear();
    auto br = body.make_reader();
    char buf[65536];
    while (ok) {
        ssize_t n = br(buf, sizeof buf);
        if (n < 0) return {"4.3.0", "cannot read the queued message"};
        if (n == 0) break;
        ok = w->write(std::string_view(buf, static_cast<size_t>(n)));
    }
    if (!ok) return {w->out_of_space() ? "4.3.1" : "4.3.0", "cannot queue the forwarded message: " + w->error()};
    std::string id = w->id();
    if (!w->commit(err)) return {"4.3.0", "cannot queue the forwarded message: " + err};
    qmgr_wakeup(j.queue_root, 1000);
    return {"2.0.0", "forwarded as " + id};
}

}  // namespace tern::local
