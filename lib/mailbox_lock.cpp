// mailbox_lock.cpp - see mailbox_lock.hpp.
#include "lib/mailbox_lock.hpp"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tern::mailbox {
namespace {

bool ofd_try(int fd, short type, bool wait) noexcept {
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    for (;;) {
        if (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return true;
        if (errno != EINTR) return false;
    }
}

void nap(int64_t ns) {
    struct timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

}  // namespace

int64_t now_ns() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t coarse_now_ns() {
    struct timespec ts;
    ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int64_t mtime_ns(const struct stat& st) { return int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec; }

bool ofd_lock(int fd, bool exclusive, int timeout) {
    short type = exclusive ? F_WRLCK : F_RDLCK;
    if (ofd_try(fd, type, false)) return true;
    if (errno != EAGAIN && errno != EACCES) return false;
    // Poll with a growing nap: a lock holder is a short critical section
    // (a flag change, a delivery), so most waits end within milliseconds.
    int64_t deadline = now_ns() + int64_t(timeout) * 1000000000;
    int64_t delay = 1000000;
    while (now_ns() < deadline) {
        nap(delay);
        if (delay < 50000000) delay *= 2;
        if (ofd_try(fd, type, false)) return true;
        if (errno != EAGAIN && errno != EACCES) return false;
    }
    errno = EAGAIN;
    return false;
}

bool ofd_unlock(int fd) noexcept { return ofd_try(fd, F_UNLCK, false); }

unique_fd open_locked(const std::string& path, int timeout) {
    unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return fd;
    if (!ofd_lock(fd.get(), true, timeout)) {
        int saved = errno;
        fd.reset();
        errno = saved;
    }
    return fd;
}

bool dotlock::acquire(const std::string& file, int timeout, int stale_time) {
    release();
    std::string path = file + ".lock";
    int64_t deadline = now_ns() + int64_t(timeout) * 1000000000;
    int64_t delay = 2000000;
    for (;;) {
        unique_fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (fd) {
            std::string pid = std::to_string(::getpid()) + "\n";
            (void)write_all(fd.get(), pid);
            _path = path;
            return true;
        }
        if (errno != EEXIST) return false;
        // Someone holds it. A lock older than stale_time belongs to a dead or
        // hung process (the holder of a live lock never keeps it that long).
        struct stat st;
        if (::stat(path.c_str(), &st) == 0 && ::time(nullptr) - st.st_mtime > stale_time) {
            if (::unlink(path.c_str()) == 0) continue;
        }
        if (now_ns() >= deadline) {
            errno = EAGAIN;
            return false;
        }
        nap(delay);
        if (delay < 100000000) delay *= 2;
    }
}

void dotlock::release() noexcept {
    if (_path.empty()) return;
    int saved = errno;
    ::unlink(_path.c_str());
    errno = saved;
    _path.clear();
}

}  // namespace tern::mailbox
