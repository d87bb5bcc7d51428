// fd.hpp - move-only owner of a file descriptor and small POSIX helpers.
// Used by every daemon and tool; nothing here closes an fd it does not own.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

namespace tern {

// Owns one file descriptor; the destructor closes it quietly.
class unique_fd {
public:
    unique_fd() noexcept = default;
    explicit unique_fd(int fd) noexcept : _fd(fd) {}
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    unique_fd(unique_fd&& o) noexcept : _fd(o.release()) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(o.release());
        return *this;
    }
    ~unique_fd() { reset(); }

    int get() const noexcept { return _fd; }
    explicit operator bool() const noexcept { return _fd >= 0; }
    int release() noexcept {
        int fd = _fd;
        _fd = -1;
        return fd;
    }
    void reset(int fd = -1) noexcept;

private:
    int _fd = -1;
};

bool set_nonblocking(int fd, bool on = true) noexcept;
bool set_cloexec(int fd, bool on = true) noexcept;

// Write everything, retrying on EINTR and short writes. False with errno set on failure.
bool write_all(int fd, const void* data, size_t len) noexcept;
inline bool write_all(int fd, std::string_view s) noexcept { return write_all(fd, s.data(), s.size()); }

// Read a whole file up to max_bytes; nullopt (errno set) on error or if it is larger (EFBIG).
std::optional<std::string> read_file(const std::string& path, size_t max_bytes = 64u << 20);

// Write a file atomically: temp file in the same directory, fsync, rename, fsync directory.
bool write_file_atomic(const std::string& path, std::string_view data, mode_t mode = 0644);

// fsync a directory so that a rename or create in it is durable.
bool fsync_dir(const std::string& dir) noexcept;
std::string dirname_of(const std::string& path);
std::string basename_of(const std::string& path);

// Create a directory and its parents; true if it exists afterwards.
bool make_dirs(const std::string& path, mode_t mode = 0755);

// Advisory whole-file fcntl lock; the lock is released when the fd is closed.
enum class lock_mode { shared, exclusive };
bool lock_fd(int fd, lock_mode mode, bool wait) noexcept;
bool unlock_fd(int fd) noexcept;

// errno text for log lines.
std::string errno_text(int err);
std::string errno_text();

}  // namespace tern
