// scan.hpp - walking one queue directory (and its hash subdirectories) a
// few entries at a time, so the qmgr never lists a whole queue in memory:
// 100,000 deferred messages cost one open directory stream per level, not
// 100,000 strings. Used by qmgr/manager.cpp for incoming/, active/ and
// deferred/.
#pragma once

#include <dirent.h>
#include <memory>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace tern::qmgr {

struct dir_closer {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using dir_ptr = std::unique_ptr<DIR, dir_closer>;

class dir_scanner {
public:
    dir_scanner() = default;
    // Start a pass over root (descending at most max_depth levels of
    // subdirectories). A pass already running is restarted.
    void start(const std::string& root, int max_depth);
    bool running() const { return !_stack.empty(); }
    void stop() { _stack.clear(); }

    struct item {
        std::string id;    // file name (a queue ID; other names are skipped)
        std::string path;  // full path
    };
    // The next queue file of this pass, or nullopt at the end of the pass.
    // with_stat fills st (lstat) for callers that look at the mtime.
    std::optional<item> next(struct stat* st = nullptr);

private:
    struct level {
        dir_ptr dir;
        std::string path;
        int depth;
    };
    std::vector<level> _stack;
    int _max_depth = 0;
};

// The retry time in a queue file's header (docs/queue.md: bytes 40..59,
// with their own CRC), read with one small pread: the deferred scan looks
// at it for every file without parsing the envelope. 0 when the schedule
// is damaged (due now, as lib/queue's reader treats it); nullopt when the
// file cannot be read (gone, or not a queue file).
std::optional<int64_t> read_next_try(const std::string& path);

}  // namespace tern::qmgr
