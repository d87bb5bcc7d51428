// queue_dir.hpp - the queue directory tree: names and paths of the queues,
// hash subdirectories, creating and checking the tree, moving messages
// between queues durably, listing a queue, the free-space check and the
// purge of temporary files left by crashed writers. See docs/queue.md.
// Used by smtpd (writer), qmgr, the delivery agents and the queue tools.
// SECURITY: IDs coming from users are checked with valid_queue_id() before
// they become part of a path; nothing here follows a symlink it created.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

#include "lib/queue_id.hpp"

namespace tern {

class config;

// Queue names. Messages live in the first six; tmp/ holds files being
// written (never delivered), corrupt/ files the qmgr could not read.
namespace queue_names {
inline constexpr std::string_view maildrop = "maildrop";
inline constexpr std::string_view incoming = "incoming";
inline constexpr std::string_view active = "active";
inline constexpr std::string_view deferred = "deferred";
inline constexpr std::string_view hold = "hold";
inline constexpr std::string_view corrupt = "corrupt";
inline constexpr std::string_view bounce = "bounce";
inline constexpr std::string_view tmp = "tmp";
}  // namespace queue_names

// The counter file shared by every ID source (see queue_id.hpp).
inline constexpr std::string_view queue_seq_file = "id.seq";

class queue_dir {
public:
    // root: queue_directory (or "/" inside a chroot to it); hash_depth 0..2.
    explicit queue_dir(std::string root, int hash_depth = 1);
    // queue_directory and hash_queue_depth from main.cf.
    static queue_dir from_config(const config& cfg);

    const std::string& root() const { return _root; }
    int hash_depth() const { return _hash_depth; }

    // maildrop, incoming, active, deferred, hold, corrupt: queues that hold message files.
    static bool is_message_queue(std::string_view name);
    // deferred and hold use hash subdirectories.
    static bool is_hashed(std::string_view queue);

    std::string dir(std::string_view queue) const;  // root/queue
    // Where a message with this ID belongs in a queue (with hash subdirectories).
    std::string path(std::string_view queue, std::string_view id) const;
    std::string path_at_depth(std::string_view queue, std::string_view id, int depth) const;
    // The existing path of id in queue, looking at every hash depth (the
    // depth may have been changed since the file was placed); nullopt if absent.
    std::optional<std::string> locate(std::string_view queue, std::string_view id) const;
    // The first queue (in the given order) that holds id.
    std::optional<std::string> find(std::string_view id, const std::vector<std::string_view>& queues,
                                    std::string* queue_out = nullptr) const;

    // The messages in one queue, every hash depth, sorted by ID (= arrival
    // order). Names that are not queue IDs (temporary files, strays) are skipped.
    struct entry {
        std::string id;
        std::string path;
        bool operator<(const entry& o) const { return id < o.id; }
    };
    std::vector<entry> list(std::string_view queue) const;

    // rename(2) without replacing an existing file, then fsync of both
    // directories (when sync). A missing hash subdirectory is created.
    // err gets a reason; errno is kept (ENOENT: the source is gone).
    bool move(std::string_view id, std::string_view from, std::string_view to, std::string& err,
              bool sync = true) const;
    // Same, from an exact source path (as returned by locate()).
    bool move_path(const std::string& from_path, std::string_view id, std::string_view to, std::string& err,
                   bool sync = true) const;
    bool remove(std::string_view queue, std::string_view id, std::string& err, bool sync = false) const;

    // The ID source for this queue (shared counter in root/id.seq when it can be opened).
    queue_id_source& ids() const;

private:
    std::string _root;
    int _hash_depth;
    mutable std::once_flag _ids_once;
    mutable std::shared_ptr<queue_id_source> _ids;
};

// The queue lock: an exclusive open-file-description (OFD) fcntl lock on
// the whole file. It belongs to the open file, not the process, so closing
// another descriptor of the same file never drops it, and two opens in one
// process exclude each other. Writers hold it on their temporary file; the
// qmgr holds it on every file it works on; postsuper takes it before it
// moves or rewrites a file (see docs/queue.md, "Locking").
enum class queue_lock_result { locked, busy, error };
queue_lock_result queue_lock(int fd, bool wait);

// Who owns the tree. With uid unset nothing is chowned (an unprivileged
// instance owns what it creates).
struct queue_tree_owner {
    std::optional<uid_t> uid;
    gid_t gid = 0;
    std::optional<gid_t> setgid_group;  // group of maildrop/ and public/
};

// Create or repair the tree: the queues (0700), maildrop/ (1730 with group
// setgid_group, else 0700), public/ (0755), private/ (0700), tmp/ and
// id.seq (0600). Existing directories get their owner and mode fixed. Hash
// subdirectories of deferred/ and hold/ are made on demand by move(), owned
// like their queue directory. False with a reason.
bool create_queue_tree(const queue_dir& q, const queue_tree_owner& owner, std::string& err);
// Check that the tree exists and is usable by the caller (no changes).
bool check_queue_tree(const queue_dir& q, std::string& err);

// Bytes available to unprivileged users on the file system holding dir.
std::optional<uint64_t> queue_free_space(const std::string& dir);
// True when at least minfree + need bytes are free (smtpd: queue_minfree at
// MAIL, plus the declared SIZE). Unknown space counts as enough.
bool queue_space_ok(const std::string& dir, uint64_t minfree, uint64_t need = 0);

// Remove temporary files in tmp/ (and dot-files in maildrop/) that no
// writer holds locked and that are older than min_age_seconds. Returns the
// number removed; names go to removed when given.
size_t purge_queue_temp_files(const queue_dir& q, int64_t min_age_seconds, std::vector<std::string>* removed = nullptr);

}  // namespace tern
