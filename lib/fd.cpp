// fd.cpp - see fd.hpp.
#include "lib/fd.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tern {

void unique_fd::reset(int fd) noexcept {
    if (_fd >= 0 && _fd != fd) {
        int saved = errno;
        ::close(_fd);
        errno = saved;
    }
    _fd = fd;
}

bool set_nonblocking(int fd, bool on) noexcept {
    int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0) return false;
    fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
    return ::fcntl(fd, F_SETFL, fl) == 0;
}

bool set_cloexec(int fd, bool on) noexcept {
    int fl = ::fcntl(fd, F_GETFD);
    if (fl < 0) return false;
    fl = on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC);
    return ::fcntl(fd, F_SETFD, fl) == 0;
}

bool write_all(int fd, const void* data, size_t len) noexcept {
    auto p = static_cast<const char*>(data);
    while (len > 0) {
        ssize_t n = ::write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        len -= static_cast<size_t>(n);
    }
    return true;
}

std::optional<std::string> read_file(const std::string& path, size_t max_bytes) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return std::nullopt;
    std::string out;
    char buf[16384];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return std::nullopt;
        }
        if (n == 0) break;
        if (out.size() + static_cast<size_t>(n) > max_bytes) {
            errno = EFBIG;
            return std::nullopt;
        }
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

std::string dirname_of(const std::string& path) {
    auto pos = path.find_last_of('/');
    if (pos == std::string::npos) return ".";
    if (pos == 0) return "/";
    return path.substr(0, pos);
}

std::string basename_of(const std::string& path) {
    auto pos = path.find_last_of('/');
    return pos == std::string::npos ? path : path.substr(pos + 1);
}

bool fsync_dir(const std::string& dir) noexcept {
    unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return false;
    return ::fsync(fd.get()) == 0;
}

bool write_file_atomic(const std::string& path, std::string_view data, mode_t mode) {
    std::string tmp = path + ".tmp." + std::to_string(::getpid());
    {
        unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
        if (!fd) return false;
        if (::fchmod(fd.get(), mode) != 0 || !write_all(fd.get(), data) || ::fsync(fd.get()) != 0) {
            int saved = errno;
            ::unlink(tmp.c_str());
            errno = saved;
            return false;
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int saved = errno;
        ::unlink(tmp.c_str());
        errno = saved;
        return false;
    }
    return fsync_dir(dirname_of(path));
}

bool make_dirs(const std::string& path, mode_t mode) {
    if (path.empty()) return false;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode);
    auto parent = dirname_of(path);
    if (parent != path && parent != "." && parent != "/") {
        if (!make_dirs(parent, mode)) return false;
    }
    if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST) return false;
    return true;
}

bool lock_fd(int fd, lock_mode mode, bool wait) noexcept {
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = mode == lock_mode::shared ? F_RDLCK : F_WRLCK;
    fl.l_whence = SEEK_SET;
    for (;;) {
        if (::fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) == 0) return true;
        if (errno != EINTR) return false;
    }
}

bool unlock_fd(int fd) noexcept {
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_UNLCK;
    fl.l_whence = SEEK_SET;
    return ::fcntl(fd, F_SETLK, &fl) == 0;
}

std::string errno_text(int err) {
    char buf[256];
    // GNU strerror_r returns a char*
    return std::string(::strerror_r(err, buf, sizeof buf));
}

std::string errno_text() { return errno_text(errno); }

}  // namespace tern
