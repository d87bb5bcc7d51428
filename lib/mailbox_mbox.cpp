// mailbox_mbox.cpp - an mbox folder: messages found by From_ lines, located
// in the index by offset, flags kept in the index and written back into
// Status/X-Status/X-Keywords headers lazily (checkpoint) or when messages
// are expunged, by rewriting the file to a temporary one and renaming it,
// under the same dotlock + fcntl locking as delivery.
// SECURITY: the mbox may be foreign or damaged: it is only split on From_
// lines, read through bounds-checked ranges, and a message whose range no
// longer starts with "From " is re-found, never returned blindly.
#include <algorithm>
#include <cerrno>
#include <ctime>
#include <deque>
#include <fcntl.h>
#include <functional>
#include <map>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.hpp"
#include "lib/mailbox_impl.hpp"
#include "lib/mailbox_lock.hpp"
#include "lib/mbox_format.hpp"

namespace tern::mailbox {
namespace {

// Call fn(offset, raw) for each message of [from, size), reading the file in
// chunks: memory holds one message plus a chunk, never the whole file (and a
// file cut short by someone else ends the scan instead of faulting a mapping).
status scan_file(int fd, uint64_t from, uint64_t size, const std::string& path,
                 const std::function<void(uint64_t, std::string_view)>& fn) {
    constexpr std::string_view sep = "\n\nFrom ";
    std::string buf;
    size_t start = 0, search = 0;  // buf[start] is file offset off; look for sep from start+search
    uint64_t off = from, read_pos = from;
    bool eof = false;
    for (;;) {
        size_t p = buf.find(sep, start + search);
        if (p != std::string::npos) {
            size_t end = p + 2;
            fn(off, std::string_view(buf).substr(start, end - start));
            off += end - start;
            start = end;
            search = 0;
            continue;
        }
        if (eof) {
            if (start < buf.size()) fn(off, std::string_view(buf).substr(start));
            return status::ok();
        }
        search = buf.size() - start >= sep.size() ? buf.size() - start - (sep.size() - 1) : 0;
        if (start > 0 && start >= buf.size() / 2) {
            buf.erase(0, start);
            start = 0;
        }
        size_t want = size_t(std::min<uint64_t>(1u << 20, size - read_pos));
        if (want == 0) {
            eof = true;
            continue;
        }
        size_t old = buf.size();
        buf.resize(old + want);
        ssize_t n;
        do n = ::pread(fd, buf.data() + old, want, off_t(read_pos));
        while (n < 0 && errno == EINTR);
        if (n < 0) return status::from_errno("read " + path);
        buf.resize(old + size_t(n));
        read_pos += uint64_t(n);
        if (n == 0) eof = true;
    }
}

uint64_t tail_hash(int fd, uint64_t size) {
    char buf[64];
    size_t n = size_t(std::min<uint64_t>(size, sizeof buf));
    uint64_t h = 1469598103934665603ull;
    if (n == 0 || ::pread(fd, buf, n, off_t(size - n)) != ssize_t(n)) return h;
    for (size_t i = 0; i < n; i++) h = (h ^ uint8_t(buf[i])) * 1099511628211ull;
    return h;
}

bool pread_all(int fd, uint64_t off, uint64_t len, std::string& out) {
    out.resize(size_t(len));
    size_t got = 0;
    while (got < len) {
        ssize_t n = ::pread(fd, out.data() + got, size_t(len) - got, off_t(off + got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        got += size_t(n);
    }
    return true;
}

}  // namespace

mbox_folder::mbox_folder(std::string path, std::string index_base, std::string name, open_mode mode,
                         const limits& lim)
    : folder(std::move(name), mode, lim, std::make_unique<folder_index>(std::move(index_base), lim, true)),
      _path(std::move(path)) {}

mbox_folder::~mbox_folder() {
    // A session that changed flags writes them to the file when it ends, in
    // case imapd did not call checkpoint() (a dropped connection).
    if (_changed_flags && !read_only()) {
        status s = checkpoint();
        if (!s) log::warn("mailbox %s: flags not written back: %s", _path.c_str(), s.reason.c_str());
    }
}

status mbox_folder::open(const std::string& path, const std::string& index_base, std::string name, open_mode mode,
                         const limits& lim, std::unique_ptr<folder>& out) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
        // INBOX exists before its first delivery; other folders are files.
        if (errno != ENOENT || name != "INBOX") {
            if (errno == ENOENT) return status::fail(ENOENT, "no such folder: " + name);
            return status::from_errno("stat " + path);
        }
    } else if (!S_ISREG(st.st_mode)) {
        return status::fail(ENOENT, name + ": not an mbox file");
    }
    std::unique_ptr<mbox_folder> f(new mbox_folder(path, index_base, std::move(name), mode, lim));
    changes ignored;
    if (status s = f->sync(ignored); !s) return s;
    out = std::move(f);
    return status::ok();
}

std::vector<std::string> mbox_folder::notify_paths() const {
    // The directory sees a rewrite (rename) as well as appends to the file.
    return {dirname_of(_path), dirname_of(_index->base())};
}

status mbox_folder::open_message(uint32_t, unique_fd&) {
    return status::fail(ENOTSUP, "mbox messages are read with read()");
}

std::vector<std::string> mbox_folder::keyword_names(uint32_t bits) const {
    std::vector<std::string> out;
    for (size_t i = 0; i < _index->keywords.size() && i < 32; i++)
        if (bits & (1u << i)) out.push_back(_index->keywords[i]);
    return out;
}

bool mbox_folder::file_matches_scan(const struct stat* st) const {
    const uint64_t* s = _index->scan;
    if (!st) return s[0] == 0 && s[1] == 0;
    return s[0] == uint64_t(st->st_ino) && s[1] == uint64_t(st->st_size) && s[2] == uint64_t(mtime_ns(*st));
}

void mbox_folder::record_scan(int fd, const struct stat& st) {
    uint64_t s[4] = {uint64_t(st.st_ino), uint64_t(st.st_size), uint64_t(mtime_ns(st)),
                     tail_hash(fd, uint64_t(st.st_size))};
    _index->set_scan(s);
}

status mbox_folder::sync_impl() {
    status s = _index->refresh();
    if (s) {
        struct stat st;
        bool exists = ::stat(_path.c_str(), &st) == 0;
        if (!exists && errno != ENOENT) return status::from_errno("stat " + _path);
        bool claim = _mode == open_mode::select && _index->first_recent < _index->uidnext;
        if (file_matches_scan(exists ? &st : nullptr) && !claim) return status::ok();
    } else if (s.err != ENOENT && s.err != EBADMSG) {
        return s;
    }
    if (s = begin_write(false); !s) return s;
    s = sync_file_locked();
    if (s && _mode == open_mode::select) {
        for (auto& e : _index->entries)
            if (e.msg.uid >= _index->first_recent) _recent.push_back(e.msg.uid);
        _index->set_first_recent(_index->uidnext);
    }
    status c = _index->commit();
    end_write();
    return s ? c : s;
}

status mbox_folder::sync_file_locked() {
    unique_fd fd(::open(_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno != ENOENT) return status::from_errno("open " + _path);
        // No file: every message is gone.
        for (auto& e : _index->entries) _index->expunge(e.msg.uid, true);
        uint64_t zero[4] = {0, 0, 0, 0};
        _index->set_scan(zero);
        return status::ok();
    }
    if (!ofd_lock(fd.get(), false, _lim.lock_timeout)) return status::from_errno("lock " + _path);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return status::from_errno("stat " + _path);
    return absorb_locked(fd.get(), st);
}

status mbox_folder::absorb_locked(int fd, const struct stat& st) {
    if (file_matches_scan(&st)) return status::ok();
    const uint64_t* s = _index->scan;
    uint64_t old_size = s[1];
    bool appended = s[0] == uint64_t(st.st_ino) && uint64_t(st.st_size) > old_size && old_size > 0 &&
                    tail_hash(fd, old_size) == s[3];
    if (appended) {
        char head[5];
        appended = ::pread(fd, head, 5, off_t(old_size)) == 5 && std::string_view(head, 5) == "From ";
    }
    bool unchanged = s[0] == uint64_t(st.st_ino) && uint64_t(st.st_size) == old_size &&
                     tail_hash(fd, old_size) == s[3];
    status r = status::ok();
    if (!unchanged) r = parse_locked(fd, st, !appended);
    if (r) record_scan(fd, st);
    return r;
}

status mbox_folder::parse_locked(int fd, const struct stat& st, bool full) {
    uint64_t size = uint64_t(st.st_size);
    uint64_t from = full ? 0 : _index->scan[1];
    if (full) {
        // Tolerate blank lines before the first From_ line, nothing else.
        char head[4096];
        ssize_t n = ::pread(fd, head, sizeof head, 0);
        if (n < 0) return status::from_errno("read " + _path);
        std::string_view h(head, size_t(n));
        while (from < h.size() && h[from] == '\n') from++;
        if (from < h.size() && !h.substr(from).starts_with("From "))
            return status::fail(EBADMSG, _path + ": not an mbox file (no From_ line at the start)");
        if (from == h.size() && from < size) return status::fail(EBADMSG, _path + ": not an mbox file");
    }

    struct parsed {
        uint64_t offset, len;
        mbox::info info;
    };
    std::vector<parsed> msgs;
    status r = scan_file(fd, from, size, _path, [&](uint64_t off, std::string_view raw) {
        msgs.push_back({off, raw.size(), mbox::analyze(raw)});
    });
    if (!r) return r;

    auto& entries = _index->entries;
    bool rebuilding = entries.empty() && _index->uidnext == 1;
    std::vector<char> taken(msgs.size(), 0);
    if (full && !entries.empty()) {
        // The file changed behind our back: keep the UID of every message whose
        // fingerprint we find again (in file order), the rest is expunged or new.
        std::map<uint64_t, std::deque<size_t>> by_fp;
        std::vector<size_t> order(entries.size());
        for (size_t i = 0; i < order.size(); i++) order[i] = i;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return entries[a].offset < entries[b].offset; });
        for (size_t i : order) by_fp[entries[i].fp].push_back(i);
        std::vector<char> kept(entries.size(), 0);
        struct fl {
            uint32_t uid, flags, kw;
        };
        std::vector<fl> flag_changes;
        for (size_t m = 0; m < msgs.size(); m++) {
            auto it = by_fp.find(msgs[m].info.fp);
            if (it == by_fp.end() || it->second.empty()) continue;
            size_t i = it->second.front();
            it->second.pop_front();
            kept[i] = taken[m] = 1;
            index_entry& e = entries[i];
            e.offset = msgs[m].offset;
            e.raw_len = msgs[m].len;
            if (!_index->dirty) {
                // Without pending writes of our own, the file's flags are the truth.
                uint32_t kw = 0;
                for (auto& k : msgs[m].info.keywords) {
                    int bit = keyword_bit_locked(k);
                    if (bit >= 0) kw |= 1u << bit;
                }
                uint32_t f = (e.msg.flags & ~flag::imap_mask) | msgs[m].info.flags;
                if (f != e.msg.flags || kw != e.msg.keywords) flag_changes.push_back({e.msg.uid, f, kw});
            }
        }
        std::vector<uint32_t> gone;
        for (size_t i = 0; i < entries.size(); i++)
            if (!kept[i]) gone.push_back(entries[i].msg.uid);
        for (auto& f : flag_changes) _index->set_flags(f.uid, f.flags, f.kw, true);
        for (uint32_t uid : gone) _index->expunge(uid, true);
        _index->force_snapshot();
    }
    uint32_t first_new_unread = 0;
    for (size_t m = 0; m < msgs.size(); m++) {
        if (taken[m]) continue;
        index_entry e;
        e.loc = 'm';
        e.offset = msgs[m].offset;
        e.raw_len = msgs[m].len;
        e.fp = msgs[m].info.fp;
        e.msg.size = msgs[m].info.size;
        e.msg.wire_size = msgs[m].info.wire_size;
        e.msg.flags = msgs[m].info.flags;
        e.msg.internal_date = msgs[m].info.date ? msgs[m].info.date : int64_t(st.st_mtime);
        for (auto& k : msgs[m].info.keywords) {
            int bit = keyword_bit_locked(k);
            if (bit >= 0) e.msg.keywords |= 1u << bit;
        }
        uint32_t uid = _index->add(std::move(e), true);
        if (!msgs[m].info.old && first_new_unread == 0) first_new_unread = uid;
    }
    if (rebuilding) _index->set_first_recent(first_new_unread ? first_new_unread : _index->uidnext);
    return status::ok();
}

status mbox_folder::rebuild_locked() {
    uint32_t previous = _index->previous_uidvalidity();
    uint32_t uv = folder_index::new_uidvalidity(previous);
    _index->reset(uv);
    status s = sync_file_locked();
    if (s && previous) log::info("mailbox %s: index rebuilt, uidvalidity=%u, messages=%zu", _path.c_str(), uv,
                     _index->entries.size());
    return s;
}

status mbox_folder::read_impl(uint32_t uid, std::string& out) {
    for (int attempt = 0; attempt < 3; attempt++) {
        const index_entry* e = _index->find(uid);
        if (!e) return status::fail(ENOENT, _name + ": message " + std::to_string(uid) + " is gone");
        struct stat st;
        if (!_fd || ::fstat(_fd.get(), &st) != 0 || uint64_t(st.st_ino) != _index->scan[0]) {
            _fd.reset(::open(_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
            if (!_fd && errno != ENOENT) return status::from_errno("open " + _path);
        }
        std::string raw;
        if (_fd && ::fstat(_fd.get(), &st) == 0 && uint64_t(st.st_ino) == _index->scan[0] &&
            pread_all(_fd.get(), e->offset, e->raw_len, raw) && raw.starts_with("From ")) {
            out = mbox::present(raw);
            return status::ok();
        }
        // The file was rewritten or changed: catch up under the lock, then retry.
        if (status s = begin_write(false); !s) return s;
        status s = sync_file_locked();
        status c = _index->commit();
        end_write();
        if (!s) return s;
        if (!c) return c;
        _fd.reset();
    }
    return status::fail(EIO, _path + ": message " + std::to_string(uid) + " cannot be found in the file");
}

status mbox_folder::apply_flags_locked(uint32_t, uint32_t, uint32_t) {
    // Lazy: the file gets the new Status headers at checkpoint() or expunge.
    _index->set_dirty(true);
    _changed_flags = true;
    return status::ok();
}

status mbox_folder::checkpoint() {
    _changed_flags = false;
    if (read_only() || !_index->dirty) return status::ok();
    if (status s = begin_write(true); !s) return s;
    status s = _index->dirty ? rewrite_locked({}) : status::ok();
    status c = _index->commit();
    end_write();
    return s ? c : s;
}

status mbox_folder::remove_locked(std::vector<uint32_t>& uids) { return rewrite_locked(uids); }

status mbox_folder::rewrite_locked(const std::vector<uint32_t>& drop) {
    dotlock dl;
    unique_fd fd;
    struct stat st;
    status s = mbox_open_locked(_path, _lim, false, fd, st, dl);
    if (!s) {
        if (s.err == ENOENT && _index->entries.empty()) return status::ok();
        return s;
    }
    if (s = absorb_locked(fd.get(), st); !s) return s;

    std::string tmp = _path + ".tern-tmp";
    unique_fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return status::from_errno("create " + tmp);
    if (::fchmod(out.get(), st.st_mode & 07777) != 0) return status::from_errno("chmod " + tmp);
    if (::fchown(out.get(), st.st_uid, st.st_gid) != 0 && errno != EPERM) return status::from_errno("chown " + tmp);

    auto& entries = _index->entries;
    std::vector<size_t> order;
    for (size_t i = 0; i < entries.size(); i++)
        if (!std::binary_search(drop.begin(), drop.end(), entries[i].msg.uid)) order.push_back(i);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return entries[a].offset < entries[b].offset; });
    std::vector<std::pair<uint64_t, uint64_t>> placed(order.size());
    uint64_t pos = 0;
    std::string buf, raw;
    auto fail = [&](status f) {
        ::unlink(tmp.c_str());
        return f;
    };
    for (size_t k = 0; k < order.size(); k++) {
        index_entry& e = entries[order[k]];
        if (!pread_all(fd.get(), e.offset, e.raw_len, raw) || !raw.starts_with("From "))
            return fail(status::fail(EIO, _path + ": message " + std::to_string(e.msg.uid) + " not at its offset"));
        std::string nr = mbox::rewrite(raw, e.msg.flags, keyword_names(e.msg.keywords), e.msg.uid < _index->first_recent);
        placed[k] = {pos, nr.size()};
        pos += nr.size();
        buf += nr;
        if (buf.size() >= (1u << 20)) {
            if (!write_all(out.get(), buf)) return fail(status::from_errno("write " + tmp));
            buf.clear();
        }
    }
    struct stat nst;
    if (!write_all(out.get(), buf) || ::fsync(out.get()) != 0 || ::fstat(out.get(), &nst) != 0)
        return fail(status::from_errno("write " + tmp));
    if (::rename(tmp.c_str(), _path.c_str()) != 0) return fail(status::from_errno("rename " + tmp));
    if (!fsync_dir(dirname_of(_path))) return status::from_errno("fsync " + dirname_of(_path));

    for (size_t k = 0; k < order.size(); k++) {
        entries[order[k]].offset = placed[k].first;
        entries[order[k]].raw_len = placed[k].second;
    }
    unique_fd rfd(::open(_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (rfd) record_scan(rfd.get(), nst);
    _fd = std::move(rfd);
    _index->set_dirty(false);
    _index->force_snapshot();
    return status::ok();
}

status mbox_folder::add_locked(std::string_view data, uint32_t fl, uint32_t kw, int64_t idate, index_entry& e) {
    dotlock dl;
    unique_fd fd;
    struct stat st;
    if (status s = mbox_open_locked(_path, _lim, true, fd, st, dl); !s) return s;
    // Mail delivered meanwhile gets its UIDs first: it is earlier in the file.
    if (status s = absorb_locked(fd.get(), st); !s) return s;
    std::string raw = mbox::from_line("MAILER-DAEMON", idate) + mbox::quote(data);
    if (!raw.ends_with('\n')) raw += '\n';
    raw += '\n';
    raw = mbox::rewrite(raw, fl, keyword_names(kw), false);
    uint64_t orig = uint64_t(st.st_size);
    std::string pad = mbox_padding(fd.get(), orig);
    if (status s = mbox_append_locked(fd.get(), orig, _path, pad + raw, _lim.fsync); !s) return s;
    mbox::info in = mbox::analyze(raw);
    e.loc = 'm';
    e.offset = orig + pad.size();
    e.raw_len = raw.size();
    e.fp = in.fp;
    e.msg.size = in.size;
    e.msg.wire_size = in.wire_size;
    e.msg.internal_date = idate;
    if (::fstat(fd.get(), &st) == 0) record_scan(fd.get(), st);
    return status::ok();
}

}  // namespace tern::mailbox
