// mailbox_lock.hpp - the locks of the mail store: open-file-description
// fcntl locks with a timeout (index lock files, mbox files) and mbox dotlocks
// (FILE.lock) with stale-lock removal. Used by the mailbox modules only.
#pragma once

#include <cstdint>
#include <string>
#include <sys/stat.h>

#include "lib/fd.hpp"

namespace tern::mailbox {

// OFD lock (F_OFD_SETLK) on the whole file, polling up to timeout seconds
// (0 = try once). OFD locks belong to the open file, so two sessions of one
// process exclude each other; they also conflict with classic fcntl locks.
// False with errno EAGAIN on timeout.
bool ofd_lock(int fd, bool exclusive, int timeout);
bool ofd_unlock(int fd) noexcept;

// Open (creating with mode 0600) and lock PATH; an empty fd on failure (errno set).
unique_fd open_locked(const std::string& path, int timeout);

// FILE.lock: created with O_EXCL, holds the pid; older than stale_time is removed.
class dotlock {
public:
    dotlock() = default;
    dotlock(const dotlock&) = delete;
    dotlock& operator=(const dotlock&) = delete;
    ~dotlock() { release(); }
    // False with errno (EAGAIN after timeout seconds, EACCES if the directory is not writable).
    bool acquire(const std::string& file, int timeout, int stale_time);
    void release() noexcept;
    bool held() const { return !_path.empty(); }

private:
    std::string _path;
};

// Clock helpers: nanoseconds since the epoch.
int64_t now_ns();
int64_t coarse_now_ns();  // the clock the kernel stamps file times with
int64_t mtime_ns(const struct stat& st);

}  // namespace tern::mailbox
