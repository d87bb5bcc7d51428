// scan.cpp - see scan.hpp.
#include "qmgr/scan.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

#include "lib/fd.hpp"
#include "lib/log.hpp"
#include "lib/queue_file.hpp"
#include "lib/queue_id.hpp"

namespace tern::qmgr {

void dir_scanner::start(const std::string& root, int max_depth) {
    _stack.clear();
    _max_depth = max_depth;
    dir_ptr d(::opendir(root.c_str()));
    if (!d) {
        log::warn("cannot scan %s: %s", root.c_str(), std::strerror(errno));
        return;
    }
    _stack.push_back({std::move(d), root, 0});
}

std::optional<dir_scanner::item> dir_scanner::next(struct stat* st) {
    while (!_stack.empty()) {
        auto& top = _stack.back();
        errno = 0;
        struct dirent* e = ::readdir(top.dir.get());
        if (!e) {
            _stack.pop_back();
            continue;
        }
        std::string name = e->d_name;
        if (name == "." || name == "..") continue;
        bool is_dir = e->d_type == DT_DIR;
        struct stat sb {};
        if (e->d_type == DT_UNKNOWN || (st && !is_dir)) {
            if (::fstatat(::dirfd(top.dir.get()), name.c_str(), &sb, AT_SYMLINK_NOFOLLOW) != 0) continue;
            is_dir = S_ISDIR(sb.st_mode);
            if (!is_dir && !S_ISREG(sb.st_mode)) continue;
        } else if (!is_dir && e->d_type != DT_REG) {
            continue;
        }
        std::string path = top.path + "/" + name;
        if (is_dir) {
            // hash subdirectories have one-character names (lib/queue_dir)
            if (top.depth < _max_depth && name.size() == 1) {
                int depth = top.depth + 1;
                dir_ptr d(::opendir(path.c_str()));
                if (d) _stack.push_back({std::move(d), path, depth});
            }
            continue;
        }
        if (!valid_queue_id(name)) continue;
        if (st) *st = sb;
        return item{name, path};
    }
    return std::nullopt;
}

std::optional<int64_t> read_next_try(const std::string& path) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return std::nullopt;
    unsigned char b[20];
    ssize_t n = ::pread(fd.get(), b, sizeof b, queue_format::sched_offset);
    if (n != static_cast<ssize_t>(sizeof b)) return std::nullopt;
    auto u32 = [&](size_t o) {
        return static_cast<uint32_t>(b[o]) | static_cast<uint32_t>(b[o + 1]) << 8 |
               static_cast<uint32_t>(b[o + 2]) << 16 | static_cast<uint32_t>(b[o + 3]) << 24;
    };
    if (queue_format::crc32c(b, 16) != u32(16)) return 0;
    uint64_t v = static_cast<uint64_t>(u32(0)) | static_cast<uint64_t>(u32(4)) << 32;
    return static_cast<int64_t>(v);
}

}  // namespace tern::qmgr
