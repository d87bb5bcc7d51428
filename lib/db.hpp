// db.hpp - Berkeley DB 5.3 files: RAII handles, read-only tables, atomic
// table builds and a read-write database shared by several processes.
// Called by lib/maps (hash:/btree: tables), tern-map and newaliases (builds),
// and by the greylisting and spam token stores (read-write sessions).
// SECURITY: keys and values are opaque bytes; nothing here interprets them.
// Files are created with the mode the caller gives, never wider.
#pragma once

#include <db.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>

#include "lib/fd.hpp"

namespace tern::db {

// unique_ptr deleters. DB->close and DB_ENV->close free the handle whatever
// they return, so the deleters ignore the status.
struct db_closer {
    void operator()(DB* d) const noexcept { d->close(d, 0); }
};
struct env_closer {
    void operator()(DB_ENV* e) const noexcept { e->close(e, 0); }
};
struct cursor_closer {
    void operator()(DBC* c) const noexcept { c->close(c); }
};
using db_ptr = std::unique_ptr<DB, db_closer>;
using env_ptr = std::unique_ptr<DB_ENV, env_closer>;
using cursor_ptr = std::unique_ptr<DBC, cursor_closer>;

enum class db_type { hash, btree };
std::optional<db_type> parse_db_type(std::string_view name);  // "hash", "btree"
const char* db_type_name(db_type t);

// Result of a get or del: a missing key is not an error.
enum class status { found, not_found, error };

// What a file looked like when it was opened; a rebuilt table (new inode)
// or an edited one (new mtime/ctime/size) compares unequal.
struct file_stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const file_stamp&) const = default;
};
std::optional<file_stamp> stamp_of_fd(int fd);
std::optional<file_stamp> stamp_of_path(const std::string& path);

// An open DB handle with byte-string helpers. Errors are returned as
// values with a text that names the file and the Berkeley DB reason.
class handle {
public:
    handle() = default;
    handle(db_ptr db, std::string path) : _db(std::move(db)), _path(std::move(path)) {}
    explicit operator bool() const { return static_cast<bool>(_db); }
    DB* get() const { return _db.get(); }
    const std::string& path() const { return _path; }

    status get(std::string_view key, std::string& value, std::string& err) const;
    // overwrite=false keeps an existing value and sets *existed.
    bool put(std::string_view key, std::string_view value, bool overwrite, std::string& err,
             bool* existed = nullptr);
    status del(std::string_view key, std::string& err);

    // Walk every pair in database order; fn returns what to do next.
    enum class step { keep, erase, stop };
    bool scan(const std::function<step(std::string_view key, std::string_view value)>& fn, std::string& err);
    // Read-only walk; fn returns false to stop early.
    bool for_each(const std::function<bool(std::string_view key, std::string_view value)>& fn,
                  std::string& err) const;

    bool sync(std::string& err);
    int fd() const;  // the file descriptor Berkeley DB reads, -1 if none
    void close() { _db.reset(); }

private:
    db_ptr _db;
    std::string _path;
};

// Open an existing database read-only. The stamp of the opened file is
// returned through *stamp when given (fstat of DB's own descriptor).
handle open_read(const std::string& path, db_type type, std::string& err, file_stamp* stamp = nullptr);

// Build a table atomically: pairs go to a new file in the target's
// directory; commit() syncs it, fsyncs it, renames it over the target and
// fsyncs the directory, so a reader sees either the old or the new table,
// never a partial one. Destroying an uncommitted builder removes the file.
class builder {
public:
    // mode: permission bits of the new file. uid/gid: owner to give it
    // (-1 keeps the creator's); only root can give files away.
    static std::optional<builder> start(const std::string& target, db_type type, mode_t mode, std::string& err,
                                        uid_t uid = static_cast<uid_t>(-1), gid_t gid = static_cast<gid_t>(-1));
    builder(builder&& o) noexcept;
    builder& operator=(builder&&) noexcept;
    ~builder();

    // The first value of a key wins; a later one sets *duplicate and is dropped.
    bool put(std::string_view key, std::string_view value, std::string& err, bool* duplicate = nullptr);
    bool commit(std::string& err);
    void abort() noexcept;
    const std::string& temp_path() const { return _temp; }
    const std::string& target() const { return _target; }

private:
    builder() = default;
    handle _h;
    std::string _target;
    std::string _temp;
    bool _done = false;
};

// A read-write database shared by several processes (greylisting, spam
// tokens). Locking: every access happens in a session that holds an fcntl
// lock on the side file PATH.lock (shared for readers, exclusive for
// writers). The database is opened after the lock is taken and closed
// (synced) before it is released, so no process ever works from stale
// cached pages and there is at most one writer. The lock lives on a side
// file because closing any descriptor of a file drops a process's fcntl
// locks on it, and Berkeley DB opens and closes its own descriptors.
// The kernel drops the lock when a process dies, so nothing stays stuck.
// No transactions: a crash in the middle of a write can damage the file;
// callers treat such a database as a cache they may rebuild.
class shared_db {
public:
    shared_db(std::string path, db_type type, mode_t mode = 0600) :
        _path(std::move(path)), _type(type), _mode(mode) {}
    const std::string& path() const { return _path; }

    class session {
    public:
        session(session&&) noexcept = default;
        session& operator=(session&&) = delete;
        ~session();
        bool writable() const { return _writable; }
        status get(std::string_view key, std::string& value, std::string& err) const;
        bool put(std::string_view key, std::string_view value, std::string& err);
        status del(std::string_view key, std::string& err);
        bool scan(const std::function<handle::step(std::string_view, std::string_view)>& fn, std::string& err);
        // Sync and close now (the destructor does the same, ignoring errors).
        bool commit(std::string& err);

    private:
        friend class shared_db;
        session() = default;
        unique_fd _lock;
        handle _h;  // empty for a reader of a database that does not exist yet
        bool _writable = false;
    };

    // lock_mode::shared for reading, exclusive for writing (which creates the
    // database when missing). wait=false fails at once with EWOULDBLOCK text
    // when another process holds a conflicting lock.
    std::optional<session> open(lock_mode mode, bool wait, std::string& err) const;

    // A database found damaged (it does not open, or reads fail): under the
    // exclusive lock, rename the file to `aside` (replacing an older one) so
    // that the next session starts with an empty database. True when the
    // file is gone from its name afterwards.
    bool discard(const std::string& aside, std::string& err) const;

private:
    std::string _path;
    db_type _type;
    mode_t _mode;
};

}  // namespace tern::db
