// mailbox_index_write.cpp - the writer side of the folder index (see
// mailbox_index.hpp): the lock, the mutators that log a record and apply it,
// and commit (append to the log, or write a new snapshot generation).
#include "lib/mailbox_index.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/mailbox_lock.hpp"

namespace tern::mailbox {
namespace {

void put(std::string& out, uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void put_i(std::string& out, int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void put_loc(std::string& out, const index_entry& e) {
    out += e.loc;
    out += ' ';
    if (e.loc == 'm') {
        put(out, e.offset);
        out += ' ';
        put(out, e.raw_len);
        out += ' ';
        put(out, e.fp);
    } else {
        out += index_escape(e.name);
    }
}

void put_entry(std::string& out, const index_entry& e) {
    const message& m = e.msg;
    put(out, m.uid);
    out += ' ';
    put(out, m.modseq);
    out += ' ';
    put(out, m.flags);
    out += ' ';
    put(out, m.keywords);
    out += ' ';
    put(out, m.size);
    out += ' ';
    put(out, m.wire_size);
    out += ' ';
    put_i(out, m.internal_date);
    out += ' ';
    put_loc(out, e);
}

}  // namespace

status folder_index::lock(int timeout) {
    std::string path = _base + ".lock";
    _lock_fd = open_locked(path, timeout);
    if (!_lock_fd && errno == ENOENT && _create_dir && make_dirs(dirname_of(_base), 0700)) _lock_fd = open_locked(path, timeout);
    if (!_lock_fd) {
        if (errno == EAGAIN) return status::fail(EAGAIN, path + ": lock timeout");
        if (errno == ENOENT) return status::fail(ENOENT, dirname_of(_base) + ": folder was deleted");
        return status::from_errno("lock " + path);
    }
    _txn_modseq = 0;
    return refresh();
}

void folder_index::unlock() {
    if (!_pending.empty() || _need_snapshot) invalidate();  // an unfinished transaction
    _lock_fd.reset();
    _txn_modseq = 0;
}

void folder_index::invalidate() {
    // Keep the entries: the reload diffs against them, so sessions hear of the truth.
    _snap_ino = 0;
    _snap_fd.reset();
    _pending.clear();
    _need_snapshot = false;
    _txn_modseq = 0;
}

uint64_t folder_index::txn_modseq() {
    if (_txn_modseq == 0) _txn_modseq = highestmodseq + 1;
    return _txn_modseq;
}

void folder_index::emit(const std::string& line, bool report) {
    if (!apply_line(line, report)) log::panic("mailbox index: bad own record: %s", line.c_str());
    _pending += line;
    _pending += '\n';
}

uint32_t folder_index::add(index_entry e, bool report) {
    e.msg.uid = uidnext;
    e.msg.modseq = txn_modseq();
    std::string line = "a ";
    put_entry(line, e);
    emit(line, report);
    return e.msg.uid;
}

void folder_index::set_flags(uint32_t uid, uint32_t flags, uint32_t kw, bool report) {
    std::string line = "f ";
    put(line, uid);
    line += ' ';
    put(line, txn_modseq());
    line += ' ';
    put(line, flags);
    line += ' ';
    put(line, kw);
    emit(line, report);
}

void folder_index::set_location(uint32_t uid, char loc, const std::string& name) {
    index_entry e;
    e.loc = loc;
    e.name = name;
    std::string line = "l ";
    put(line, uid);
    line += ' ';
    put_loc(line, e);
    emit(line, false);
}

void folder_index::expunge(uint32_t uid, bool report) {
    std::string line = "x ";
    put(line, uid);
    line += ' ';
    put(line, txn_modseq());
    emit(line, report);
}

int folder_index::add_keyword(const std::string& name) {
    std::string line = "k ";
    put(line, keywords.size());
    line += ' ';
    line += index_escape(name);
    emit(line, false);
    return int(keywords.size()) - 1;
}

void folder_index::set_first_recent(uint32_t uid) {
    if (uid == first_recent) return;
    std::string line = "r ";
    put(line, uid);
    emit(line, false);
}

void folder_index::set_scan(const uint64_t (&s)[4]) {
    if (std::equal(s, s + 4, scan)) return;
    std::string line = "s";
    for (auto v : s) {
        line += ' ';
        put(line, v);
    }
    emit(line, false);
}

void folder_index::set_dirty(bool on) {
    if (on == dirty) return;
    emit(on ? "d 1" : "d 0", false);
}

void folder_index::reset(uint32_t new_uv) {
    bool report = _loaded && uidvalidity != 0 && uidvalidity != new_uv;
    uidvalidity = new_uv;
    uidnext = 1;
    first_recent = 1;
    highestmodseq = std::max<uint64_t>(highestmodseq + 1, 1);
    vanished_floor = 0;
    dirty = false;
    std::fill(scan, scan + 4, 0);
    keywords.clear();
    vanished.clear();
    entries.clear();
    _tombstones = 0;
    _pending.clear();
    _txn_modseq = 0;
    _need_snapshot = true;
    _loaded = true;
    _changes = {};
    _changes.uidvalidity_changed = report;
}

std::string folder_index::snapshot_text() const {
    std::string out;
    out.reserve(128 + entries.size() * 96 + vanished.size() * 24);
    out += "tern-index 1 ";
    put(out, _gen);
    out += "\nV ";
    for (uint64_t v : {uint64_t(uidvalidity), uint64_t(uidnext), highestmodseq, uint64_t(first_recent),
                       vanished_floor, uint64_t(dirty)}) {
        put(out, v);
        out += ' ';
    }
    out.back() = '\n';
    out += 's';
    for (auto v : scan) {
        out += ' ';
        put(out, v);
    }
    out += '\n';
    for (size_t i = 0; i < keywords.size(); i++) {
        out += "k ";
        put(out, i);
        out += ' ';
        out += index_escape(keywords[i]);
        out += '\n';
    }
    for (auto& [uid, ms] : vanished) {
        out += "v ";
        put(out, uid);
        out += ' ';
        put(out, ms);
        out += '\n';
    }
    size_t count = 0;
    for (auto& e : entries) {
        if (e.loc == 'X') continue;
        out += "m ";
        put_entry(out, e);
        out += '\n';
        count++;
    }
    out += "end ";
    put(out, count);
    out += '\n';
    return out;
}

status folder_index::write_snapshot() {
    erase_pending();
    _gen = std::max(_gen, _max_gen_seen) + 1;
    _max_gen_seen = _gen;
    std::string text = snapshot_text();
    std::string tmp = _base + ".tmp";
    {
        unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd) return status::from_errno("create " + tmp);
        struct stat st;
        // The snapshot is always synced before the rename: a crash must leave
        // either the old or the new one, never an empty file under the name.
        if (!write_all(fd.get(), text) || ::fsync(fd.get()) != 0 || ::fstat(fd.get(), &st) != 0) {
            status s = status::from_errno("write " + tmp);
            ::unlink(tmp.c_str());
            return s;
        }
        if (::rename(tmp.c_str(), _base.c_str()) != 0) {
            status s = status::from_errno("rename " + tmp);
            ::unlink(tmp.c_str());
            return s;
        }
        _snap_ino = st.st_ino;
        _snap_size = text.size();
        _snap_fd = std::move(fd);
    }
    std::string ltmp = _base + ".log.tmp";
    unique_fd lfd(::open(ltmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!lfd) return status::from_errno("create " + ltmp);
    std::string head = "tern-log 1 " + std::to_string(_gen) + "\n";
    struct stat lst;
    if (!write_all(lfd.get(), head) || ::fsync(lfd.get()) != 0 || ::fstat(lfd.get(), &lst) != 0 ||
        ::rename(ltmp.c_str(), (_base + ".log").c_str()) != 0) {
        status s = status::from_errno("write " + ltmp);
        ::unlink(ltmp.c_str());
        return s;
    }
    if (!fsync_dir(dirname_of(_base))) return status::from_errno("fsync " + dirname_of(_base));
    _log_fd = std::move(lfd);
    _log_ino = lst.st_ino;
    _log_off = head.size();
    _log_stale = false;
    return status::ok();
}

status folder_index::commit() {
    if (!_lock_fd) log::panic("mailbox index %s: commit without lock", _base.c_str());
    erase_pending();
    uint64_t threshold = std::max<uint64_t>(_lim.index_log_limit, _snap_size / 4);
    bool snap = _need_snapshot || !_log_fd || _log_stale || _log_off + _pending.size() > threshold;
    status s;
    if (snap) {
        s = write_snapshot();
    } else if (!_pending.empty()) {
        // Cut a partial record a crashed writer left, then append ours in one write.
        struct stat st;
        if (::fstat(_log_fd.get(), &st) != 0) {
            s = status::from_errno("stat " + _base + ".log");
        } else if (uint64_t(st.st_size) != _log_off && ::ftruncate(_log_fd.get(), off_t(_log_off)) != 0) {
            s = status::from_errno("truncate " + _base + ".log");
        } else {
            const char* p = _pending.data();
            size_t left = _pending.size();
            uint64_t off = _log_off;
            while (left > 0) {
                ssize_t n = ::pwrite(_log_fd.get(), p, left, off_t(off));
                if (n < 0) {
                    if (errno == EINTR) continue;
                    break;
                }
                p += n;
                left -= size_t(n);
                off += uint64_t(n);
            }
            if (left > 0) {
                s = status::from_errno("write " + _base + ".log");
                if (::ftruncate(_log_fd.get(), off_t(_log_off)) != 0) {
                    // Readers stop at the partial line; the next writer cuts it.
                }
            } else if (_lim.fsync && ::fdatasync(_log_fd.get()) != 0) {
                s = status::from_errno("fsync " + _base + ".log");
            } else {
                _log_off = off;
            }
        }
    }
    _pending.clear();
    _need_snapshot = false;
    _txn_modseq = 0;
    if (!s) {
        log::warn("mailbox index %s: %s", _base.c_str(), s.reason.c_str());
        invalidate();
    }
    return s;
}

}  // namespace tern::mailbox
