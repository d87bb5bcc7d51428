// db.cpp - see db.hpp. Berkeley DB is used without an environment: each
// handle has its own small cache, and cross-process safety comes from
// atomic replacement (tables) or fcntl sessions (shared_db).
#include "lib/db.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tern::db {
namespace {

// Berkeley DB reports details through an error callback; keep the last
// message of this thread so that a failed call can say why.
thread_local std::string t_last_message;

void capture(const DB_ENV*, const char*, const char* msg) { t_last_message = msg ? msg : ""; }

std::string reason(int ret) {
    std::string r = db_strerror(ret);
    if (!t_last_message.empty()) {
        r += " (" + t_last_message + ")";
        t_last_message.clear();
    }
    return r;
}

DBT make_dbt(std::string_view s) {
    DBT d{};
    d.data = const_cast<char*>(s.data());
    d.size = static_cast<u_int32_t>(s.size());
    return d;
}

std::string_view view(const DBT& d) { return {static_cast<const char*>(d.data), d.size}; }

bool fits(std::string_view s) { return s.size() <= UINT32_MAX; }

db_ptr create_handle(const std::string& path, std::string& err) {
    DB* raw = nullptr;
    int ret = db_create(&raw, nullptr, 0);
    if (ret != 0) {
        err = path + ": db_create: " + db_strerror(ret);
        return {};
    }
    db_ptr d(raw);
    d->set_errcall(d.get(), capture);
    return d;
}

DBTYPE native(db_type t) { return t == db_type::hash ? DB_HASH : DB_BTREE; }

std::atomic<unsigned> g_temp_counter{0};

}  // namespace

std::optional<db_type> parse_db_type(std::string_view name) {
    if (name == "hash") return db_type::hash;
    if (name == "btree") return db_type::btree;
    return std::nullopt;
}

const char* db_type_name(db_type t) { return t == db_type::hash ? "hash" : "btree"; }

static file_stamp stamp_from(const struct stat& st) {
    file_stamp s;
    s.dev = st.st_dev;
    s.ino = st.st_ino;
    s.size = st.st_size;
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    s.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
    return s;
}

std::optional<file_stamp> stamp_of_fd(int fd) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return std::nullopt;
    return stamp_from(st);
}

std::optional<file_stamp> stamp_of_path(const std::string& path) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return stamp_from(st);
}

// ---- handle ----------------------------------------------------------------

status handle::get(std::string_view key, std::string& value, std::string& err) const {
    if (!_db) {
        err = _path + ": database is not open";
        return status::error;
    }
    if (!fits(key)) return status::not_found;
    DBT k = make_dbt(key);
    DBT v{};
    int ret = _db->get(_db.get(), nullptr, &k, &v, 0);
    if (ret == 0) {
        value.assign(view(v));
        return status::found;
    }
    if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY) return status::not_found;
    err = _path + ": read: " + reason(ret);
    return status::error;
}

bool handle::put(std::string_view key, std::string_view value, bool overwrite, std::string& err, bool* existed) {
    if (existed) *existed = false;
    if (!_db) {
        err = _path + ": database is not open";
        return false;
    }
    if (!fits(key) || !fits(value)) {
        err = _path + ": key or value too large";
        return false;
    }
    DBT k = make_dbt(key);
    DBT v = make_dbt(value);
    int ret = _db->put(_db.get(), nullptr, &k, &v, overwrite ? 0 : DB_NOOVERWRITE);
    if (ret == 0) return true;
    if (ret == DB_KEYEXIST) {
        if (existed) *existed = true;
        return true;
    }
    err = _path + ": write: " + reason(ret);
    return false;
}

status handle::del(std::string_view key, std::string& err) {
    if (!_db) {
        err = _path + ": database is not open";
        return status::error;
    }
    if (!fits(key)) return status::not_found;
    DBT k = make_dbt(key);
    int ret = _db->del(_db.get(), nullptr, &k, 0);
    if (ret == 0) return status::found;
    if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY) return status::not_found;
    err = _path + ": delete: " + reason(ret);
    return status::error;
}

bool handle::scan(const std::function<step(std::string_view, std::string_view)>& fn, std::string& err) {
    if (!_db) {
        err = _path + ": database is not open";
        return false;
    }
    DBC* raw = nullptr;
    int ret = _db->cursor(_db.get(), nullptr, &raw, 0);
    if (ret != 0) {
        err = _path + ": cursor: " + reason(ret);
        return false;
    }
    cursor_ptr c(raw);
    for (;;) {
        DBT k{}, v{};
        ret = c->get(c.get(), &k, &v, DB_NEXT);
        if (ret == DB_NOTFOUND) return true;
        if (ret != 0) {
            err = _path + ": read: " + reason(ret);
            return false;
        }
        step s = fn(view(k), view(v));
        if (s == step::stop) return true;
        if (s == step::erase) {
            ret = c->del(c.get(), 0);
            if (ret != 0) {
                err = _path + ": delete: " + reason(ret);
                return false;
            }
        }
    }
}

bool handle::for_each(const std::function<bool(std::string_view, std::string_view)>& fn, std::string& err) const {
    // scan() only modifies through step::erase, which this wrapper never returns
    return const_cast<handle*>(this)->scan(
        [&](std::string_view k, std::string_view v) { return fn(k, v) ? step::keep : step::stop; }, err);
}

bool handle::sync(std::string& err) {
    if (!_db) return true;
    int ret = _db->sync(_db.get(), 0);
    if (ret != 0) {
        err = _path + ": sync: " + reason(ret);
        return false;
    }
    return true;
}

int handle::fd() const {
    if (!_db) return -1;
    int fd = -1;
    if (_db->fd(_db.get(), &fd) != 0) return -1;
    return fd;
}

handle open_read(const std::string& path, db_type type, std::string& err, file_stamp* stamp) {
    db_ptr d = create_handle(path, err);
    if (!d) return {};
    int ret = d->open(d.get(), nullptr, path.c_str(), nullptr, native(type), DB_RDONLY, 0);
    if (ret != 0) {
        err = "open " + path + ": " + reason(ret);
        return {};
    }
    handle h(std::move(d), path);
    if (stamp) {
        auto s = stamp_of_fd(h.fd());
        if (!s) {
            err = "fstat " + path + ": " + errno_text();
            return {};
        }
        *stamp = *s;
    }
    return h;
}

// ---- builder ---------------------------------------------------------------

std::optional<builder> builder::start(const std::string& target, db_type type, mode_t mode, std::string& err,
                                      uid_t uid, gid_t gid) {
    builder b;
    b._target = target;
    // A unique name next to the target: the rename stays inside one file system.
    // DB_EXCL never reuses a name; a leftover of a crashed build with the
    // same pid only costs another try
    db_ptr d;
    std::string temp;
    for (int attempt = 0;; ++attempt) {
        temp = target + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(g_temp_counter++);
        d = create_handle(temp, err);
        if (!d) return std::nullopt;
        int ret = d->open(d.get(), nullptr, temp.c_str(), nullptr, native(type), DB_CREATE | DB_EXCL, mode & 0666);
        if (ret == 0) break;
        if (ret != EEXIST || attempt >= 20) {
            err = "create " + temp + ": " + reason(ret);
            return std::nullopt;  // b has no temp name yet: nothing is removed
        }
        t_last_message.clear();
    }
    b._temp = temp;
    b._h = handle(std::move(d), b._temp);
    int fd = b._h.fd();
    // exact mode regardless of umask; owner when asked (root builds for others)
    if (fd < 0 || ::fchmod(fd, mode & 07777) != 0) {
        err = "chmod " + b._temp + ": " + errno_text();
        b.abort();
        return std::nullopt;
    }
    if ((uid != static_cast<uid_t>(-1) || gid != static_cast<gid_t>(-1)) && ::fchown(fd, uid, gid) != 0) {
        err = "chown " + b._temp + ": " + errno_text();
        b.abort();
        return std::nullopt;
    }
    return b;
}

builder::builder(builder&& o) noexcept :
    _h(std::move(o._h)), _target(std::move(o._target)), _temp(std::move(o._temp)), _done(o._done) {
    o._done = true;
}

builder& builder::operator=(builder&& o) noexcept {
    if (this != &o) {
        abort();
        _h = std::move(o._h);
        _target = std::move(o._target);
        _temp = std::move(o._temp);
        _done = o._done;
        o._done = true;
    }
    return *this;
}

builder::~builder() { abort(); }

void builder::abort() noexcept {
    if (_done || _temp.empty()) return;
    _done = true;
    _h.close();
    ::unlink(_temp.c_str());
}

bool builder::put(std::string_view key, std::string_view value, std::string& err, bool* duplicate) {
    if (_done) {
        err = _target + ": build already finished";
        return false;
    }
    return _h.put(key, value, false, err, duplicate);
}

bool builder::commit(std::string& err) {
    if (_done) {
        err = _target + ": build already finished";
        return false;
    }
    if (!_h.sync(err)) {
        abort();
        return false;
    }
    int fd = _h.fd();
    if (fd < 0 || ::fsync(fd) != 0) {
        err = "fsync " + _temp + ": " + errno_text();
        abort();
        return false;
    }
    _h.close();
    if (::rename(_temp.c_str(), _target.c_str()) != 0) {
        err = "rename " + _temp + " to " + _target + ": " + errno_text();
        ::unlink(_temp.c_str());
        _done = true;
        return false;
    }
    _done = true;
    if (!fsync_dir(dirname_of(_target))) {
        err = "fsync directory of " + _target + ": " + errno_text();
        return false;
    }
    return true;
}

// ---- shared_db ---------------------------------------------------------------

std::optional<shared_db::session> shared_db::open(lock_mode mode, bool wait, std::string& err) const {
    session s;
    s._writable = mode == lock_mode::exclusive;
    std::string lock_path = _path + ".lock";
    s._lock = unique_fd(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, _mode & 0666));
    if (!s._lock) {
        err = "open " + lock_path + ": " + errno_text();
        return std::nullopt;
    }
    if (!lock_fd(s._lock.get(), mode, wait)) {
        err = "lock " + lock_path + ": " + errno_text();
        return std::nullopt;
    }
    if (!s._writable && ::access(_path.c_str(), F_OK) != 0 && errno == ENOENT) {
        return s;  // nothing written yet: an empty database
    }
    db_ptr d = create_handle(_path, err);
    if (!d) return std::nullopt;
    u_int32_t flags = s._writable ? DB_CREATE : DB_RDONLY;
    int ret = d->open(d.get(), nullptr, _path.c_str(), nullptr, native(_type), flags, _mode & 0666);
    if (ret != 0) {
        err = "open " + _path + ": " + reason(ret);
        return std::nullopt;
    }
    s._h = handle(std::move(d), _path);
    return s;
}

bool shared_db::discard(const std::string& aside, std::string& err) const {
    std::string lock_path = _path + ".lock";
    unique_fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, _mode & 0666));
    if (!lock) {
        err = "open " + lock_path + ": " + errno_text();
        return false;
    }
    if (!lock_fd(lock.get(), lock_mode::exclusive, true)) {
        err = "lock " + lock_path + ": " + errno_text();
        return false;
    }
    if (::rename(_path.c_str(), aside.c_str()) != 0 && errno != ENOENT) {
        err = "rename " + _path + " to " + aside + ": " + errno_text();
        return false;
    }
    fsync_dir(dirname_of(_path));
    return true;
}

shared_db::session::~session() {
    std::string ignored;
    commit(ignored);
}

status shared_db::session::get(std::string_view key, std::string& value, std::string& err) const {
    if (!_h) {
        if (!_lock) {
            err = "session is closed";
            return status::error;
        }
        return status::not_found;
    }
    return _h.get(key, value, err);
}

bool shared_db::session::put(std::string_view key, std::string_view value, std::string& err) {
    if (!_writable || !_h) {
        err = "database session is not open for writing";
        return false;
    }
    return _h.put(key, value, true, err);
}

status shared_db::session::del(std::string_view key, std::string& err) {
    if (!_writable || !_h) {
        err = "database session is not open for writing";
        return status::error;
    }
    return _h.del(key, err);
}

bool shared_db::session::scan(const std::function<handle::step(std::string_view, std::string_view)>& fn,
                              std::string& err) {
    if (!_h) {
        if (!_lock) {
            err = "session is closed";
            return false;
        }
        return true;
    }
    if (_writable) return _h.scan(fn, err);
    bool refused = false;
    bool ok = _h.for_each(
        [&](std::string_view k, std::string_view v) {
            auto s = fn(k, v);
            if (s == handle::step::erase) refused = true;
            return s == handle::step::keep;
        },
        err);
    if (ok && refused) {
        err = _h.path() + ": erase needs an exclusive session";
        return false;
    }
    return ok;
}

bool shared_db::session::commit(std::string& err) {
    bool ok = true;
    if (_h && _writable) {
        ok = _h.sync(err);
        int fd = _h.fd();
        if (ok && fd >= 0 && ::fsync(fd) != 0) {
            err = "fsync " + _h.path() + ": " + errno_text();
            ok = false;
        }
    }
    _h.close();   // close before the lock goes: the next process sees every page
    _lock.reset();
    return ok;
}

}  // namespace tern::db
