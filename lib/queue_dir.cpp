// queue_dir.cpp - see queue_dir.hpp.
#include "lib/queue_dir.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "lib/config.hpp"
#include "lib/fd.hpp"

namespace tern {
namespace {

constexpr std::string_view hashed_queues[] = {queue_names::deferred, queue_names::hold};
constexpr std::string_view message_queues[] = {queue_names::maildrop, queue_names::incoming, queue_names::active,
                                               queue_names::deferred, queue_names::hold,     queue_names::corrupt};

struct dir_closer {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};
using dir_ptr = std::unique_ptr<DIR, dir_closer>;

bool is_hash_name(const char* n) {
    return n[0] && !n[1] && ((n[0] >= '0' && n[0] <= '9') || (n[0] >= 'A' && n[0] <= 'Z'));
}

void scan(const std::string& dir, int depth_left, std::vector<queue_dir::entry>& out) {
    dir_ptr d(::opendir(dir.c_str()));
    if (!d) return;
    while (struct dirent* e = ::readdir(d.get())) {
        const char* n = e->d_name;
        if (n[0] == '.') continue;
        if (is_hash_name(n) && depth_left > 0 && (e->d_type == DT_DIR || e->d_type == DT_UNKNOWN)) {
            scan(dir + "/" + n, depth_left - 1, out);
            continue;
        }
        if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN) continue;
        if (valid_queue_id(n)) out.push_back({n, dir + "/" + n});
    }
}

bool renameat_noreplace(const char* from, const char* to) {
    if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return true;
    if (errno != EINVAL && errno != ENOSYS) return false;
    // file system without RENAME_NOREPLACE: link(2) also refuses to replace
    if (::link(from, to) != 0) return false;
    if (::unlink(from) != 0) {
        int saved = errno;
        ::unlink(to);
        errno = saved;
        return false;
    }
    return true;
}

// Create the hash subdirectories above file_path (below queue_dir) on
// demand, owned like the queue directory itself (postsuper runs as root,
// the qmgr as mail_owner: both must be able to use them afterwards).
bool make_hash_dirs(const std::string& queue_dir_path, const std::string& file_path) {
    struct stat top;
    if (::stat(queue_dir_path.c_str(), &top) != 0) return false;
    std::string d = dirname_of(file_path);
    std::vector<std::string> todo;
    while (d.size() > queue_dir_path.size()) {
        todo.push_back(d);
        d = dirname_of(d);
    }
    for (auto it = todo.rbegin(); it != todo.rend(); ++it) {
        if (::mkdir(it->c_str(), 0700) != 0) {
            if (errno == EEXIST) continue;
            return false;
        }
        if (::geteuid() == 0 && ::lchown(it->c_str(), top.st_uid, top.st_gid) != 0) return false;
    }
    return true;
}

bool fix_dir(const std::string& path, mode_t mode, std::optional<uid_t> uid, std::optional<gid_t> gid,
             std::string& err) {
    if (::mkdir(path.c_str(), mode & 0777) != 0 && errno != EEXIST) {
        err = "cannot create " + path + ": " + errno_text();
        return false;
    }
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
        err = path + " is not a directory";
        return false;
    }
    if (uid || gid) {
        uid_t u = uid ? *uid : static_cast<uid_t>(-1);
        gid_t g = gid ? *gid : static_cast<gid_t>(-1);
        if ((uid && st.st_uid != *uid) || (gid && st.st_gid != *gid)) {
            if (::lchown(path.c_str(), u, g) != 0) {
                err = "cannot chown " + path + ": " + errno_text();
                return false;
            }
        }
    }
    if ((st.st_mode & 07777) != mode && ::chmod(path.c_str(), mode) != 0) {
        err = "cannot chmod " + path + ": " + errno_text();
        return false;
    }
    return true;
}

}  // namespace

queue_lock_result queue_lock(int fd, bool wait) {
    struct flock fl;
    std::memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    for (;;) {
        if (::fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return queue_lock_result::locked;
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EACCES) return queue_lock_result::busy;
        return queue_lock_result::error;
    }
}

queue_dir::queue_dir(std::string root, int hash_depth)
    : _root(std::move(root)), _hash_depth(std::clamp(hash_depth, 0, 2)) {
    while (_root.size() > 1 && _root.back() == '/') _root.pop_back();
}

queue_dir queue_dir::from_config(const config& cfg) {
    return queue_dir(cfg.get("queue_directory"), static_cast<int>(cfg.get_int("hash_queue_depth")));
}

bool queue_dir::is_message_queue(std::string_view name) {
    return std::find(std::begin(message_queues), std::end(message_queues), name) != std::end(message_queues);
}

bool queue_dir::is_hashed(std::string_view queue) {
    return std::find(std::begin(hashed_queues), std::end(hashed_queues), queue) != std::end(hashed_queues);
}

std::string queue_dir::dir(std::string_view queue) const {
    std::string d = _root;
    if (d != "/") d += '/';
    d += queue;
    return d;
}

std::string queue_dir::path_at_depth(std::string_view queue, std::string_view id, int depth) const {
    std::string p = dir(queue);
    // the low digits of the microsecond time spread files evenly
    for (int i = 0; i < depth && static_cast<size_t>(i) < id.size(); ++i) {
        p += '/';
        p += id[id.size() - 1 - static_cast<size_t>(i)];
    }
    p += '/';
    p += id;
    return p;
}

std::string queue_dir::path(std::string_view queue, std::string_view id) const {
    return path_at_depth(queue, id, is_hashed(queue) ? _hash_depth : 0);
}

std::optional<std::string> queue_dir::locate(std::string_view queue, std::string_view id) const {
    if (!valid_queue_id(id)) return std::nullopt;
    std::string p = path(queue, id);
    struct stat st;
    if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return p;
    if (!is_hashed(queue)) return std::nullopt;
    for (int d = 0; d <= 2; ++d) {
        if (d == _hash_depth) continue;
        p = path_at_depth(queue, id, d);
        if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) return p;
    }
    return std::nullopt;
}

std::optional<std::string> queue_dir::find(std::string_view id, const std::vector<std::string_view>& queues,
                                           std::string* queue_out) const {
    for (auto q : queues) {
        if (auto p = locate(q, id)) {
            if (queue_out) *queue_out = std::string(q);
            return p;
        }
    }
    return std::nullopt;
}

std::vector<queue_dir::entry> queue_dir::list(std::string_view queue) const {
    std::vector<entry> out;
    scan(dir(queue), is_hashed(queue) ? 2 : 0, out);
    std::sort(out.begin(), out.end());
    return out;
}

bool queue_dir::move_path(const std::string& from_path, std::string_view id, std::string_view to, std::string& err,
                          bool sync) const {
    if (!valid_queue_id(id)) {
        errno = EINVAL;
        err = "bad queue ID";
        return false;
    }
    std::string to_path = path(to, id);
    if (!renameat_noreplace(from_path.c_str(), to_path.c_str())) {
        int e = errno;
        if (e == ENOENT && ::access(from_path.c_str(), F_OK) == 0) {
            // the source is there, so the destination's hash subdirectory is missing
            if (make_hash_dirs(dir(to), to_path) && renameat_noreplace(from_path.c_str(), to_path.c_str()))
                e = 0;
            else
                e = errno;
        }
        if (e != 0) {
            err = "rename " + from_path + " to " + to_path + ": " + errno_text(e);
            errno = e;
            return false;
        }
    }
    if (sync) {
        std::string to_dir = dirname_of(to_path), from_dir = dirname_of(from_path);
        if (!fsync_dir(to_dir) || (from_dir != to_dir && !fsync_dir(from_dir))) {
            int e = errno;
            err = "fsync after moving " + std::string(id) + " to " + std::string(to) + ": " + errno_text(e);
            errno = e;
            return false;
        }
    }
    return true;
}

bool queue_dir::move(std::string_view id, std::string_view from, std::string_view to, std::string& err,
                     bool sync) const {
    auto src = locate(from, id);
    if (!src) {
        errno = ENOENT;
        err = std::string(id) + ": not in the " + std::string(from) + " queue";
        return false;
    }
    return move_path(*src, id, to, err, sync);
}

bool queue_dir::remove(std::string_view queue, std::string_view id, std::string& err, bool sync) const {
    auto p = locate(queue, id);
    if (!p) {
        errno = ENOENT;
        err = std::string(id) + ": not in the " + std::string(queue) + " queue";
        return false;
    }
    if (::unlink(p->c_str()) != 0) {
        int e = errno;
        err = "unlink " + *p + ": " + errno_text(e);
        errno = e;
        return false;
    }
    if (sync && !fsync_dir(dirname_of(*p))) {
        int e = errno;
        err = "fsync " + dirname_of(*p) + ": " + errno_text(e);
        errno = e;
        return false;
    }
    return true;
}

queue_id_source& queue_dir::ids() const {
    std::call_once(_ids_once, [this] {
        std::string seq = _root;
        if (seq != "/") seq += '/';
        seq += queue_seq_file;
        _ids = std::make_shared<queue_id_source>(seq);
    });
    return *_ids;
}

bool create_queue_tree(const queue_dir& q, const queue_tree_owner& o, std::string& err) {
    if (!make_dirs(q.root(), 0755)) {
        err = "cannot create " + q.root() + ": " + errno_text();
        return false;
    }
    std::optional<gid_t> gid;
    if (o.uid) gid = o.gid;
    const std::string_view plain[] = {queue_names::incoming, queue_names::active,  queue_names::deferred,
                                      queue_names::hold,     queue_names::corrupt, queue_names::bounce,
                                      queue_names::tmp,      "private"};
    for (auto name : plain)
        if (!fix_dir(q.dir(name), 0700, o.uid, gid, err)) return false;
    // maildrop: sendmail (setgid setgid_group) may create files but not list
    // them; without a setgid group only the owner submits
    std::optional<gid_t> drop_gid = o.setgid_group ? o.setgid_group : gid;
    if (!fix_dir(q.dir(queue_names::maildrop), o.setgid_group ? 01730 : 0700, o.uid, drop_gid, err)) return false;
    if (!fix_dir(q.dir("public"), 0755, o.uid, gid, err)) return false;

    std::string seq = q.root() + "/" + std::string(queue_seq_file);
    unique_fd fd(::open(seq.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) {
        err = "cannot create " + seq + ": " + errno_text();
        return false;
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
        err = seq + " is not a regular file";
        return false;
    }
    if (st.st_size < 8 && ::ftruncate(fd.get(), 8) != 0) {
        err = "cannot size " + seq + ": " + errno_text();
        return false;
    }
    if (o.uid && (st.st_uid != *o.uid || st.st_gid != o.gid) && ::fchown(fd.get(), *o.uid, o.gid) != 0) {
        err = "cannot chown " + seq + ": " + errno_text();
        return false;
    }
    if ((st.st_mode & 07777) != 0600 && ::fchmod(fd.get(), 0600) != 0) {
        err = "cannot chmod " + seq + ": " + errno_text();
        return false;
    }
    return true;
}

bool check_queue_tree(const queue_dir& q, std::string& err) {
    const std::string_view need[] = {queue_names::incoming, queue_names::active,  queue_names::deferred,
                                     queue_names::hold,     queue_names::corrupt, queue_names::tmp,
                                     queue_names::maildrop};
    for (auto name : need) {
        std::string d = q.dir(name);
        struct stat st;
        if (::stat(d.c_str(), &st) != 0) {
            err = "cannot access " + d + ": " + errno_text();
            return false;
        }
        if (!S_ISDIR(st.st_mode)) {
            err = d + " is not a directory";
            return false;
        }
    }
    return true;
}

std::optional<uint64_t> queue_free_space(const std::string& dir) {
    struct statvfs sv;
    if (::statvfs(dir.c_str(), &sv) != 0) return std::nullopt;
    return static_cast<uint64_t>(sv.f_bavail) * static_cast<uint64_t>(sv.f_frsize);
}

bool queue_space_ok(const std::string& dir, uint64_t minfree, uint64_t need) {
    auto avail = queue_free_space(dir);
    if (!avail) return true;
    uint64_t want = minfree + need;
    if (want < minfree) return false;  // overflow: cannot be satisfied
    return *avail >= want;
}

size_t purge_queue_temp_files(const queue_dir& q, int64_t min_age_seconds, std::vector<std::string>* removed) {
    size_t count = 0;
    time_t now = ::time(nullptr);
    auto sweep = [&](const std::string& d, bool dot_only) {
        dir_ptr dp(::opendir(d.c_str()));
        if (!dp) return;
        while (struct dirent* e = ::readdir(dp.get())) {
            std::string_view n = e->d_name;
            if (n == "." || n == "..") continue;
            if (dot_only && n[0] != '.') continue;
            std::string p = d + "/" + std::string(n);
            unique_fd fd(::open(p.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
            if (!fd) continue;
            struct stat st;
            if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
            if (now - st.st_mtime < min_age_seconds) continue;
            // a live writer holds the lock; a crashed one does not
            if (queue_lock(fd.get(), false) != queue_lock_result::locked) continue;
            if (::unlink(p.c_str()) == 0) {
                ++count;
                if (removed) removed->push_back(p);
            }
        }
    };
    sweep(q.dir(queue_names::tmp), false);
    sweep(q.dir(queue_names::maildrop), true);
    return count;
}

}  // namespace tern
