// mailbox_maildir.cpp - a maildir folder (INBOX or a maildir++ ".Name"
// directory): new/ and cur/ reconciled with the folder index, flags in the
// ":2,FLAGS" part of file names, keywords as letters a..z named by
// tern-keywords. Listing reads directories and the index, never messages.
// SECURITY: file names in the folder may be foreign; they are only split and
// compared, and every path is built from the folder directory plus one name.
// Symbolic links are not messages: skipped when indexed, refused when opened.
#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_map>

#include "lib/log.hpp"
#include "lib/mailbox_impl.hpp"
#include "lib/mailbox_lock.hpp"
#include "lib/strutil.hpp"

namespace tern::mailbox {
namespace {

struct dir_closer {
    void operator()(DIR* d) const noexcept { ::closedir(d); }
};

struct dir_scan {
    int64_t mtime = 0;
    bool stable = false;  // no later change can keep this mtime
    std::vector<std::string> names;
};

status read_dir(const std::string& path, dir_scan& out) {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return status::from_errno("stat " + path);
    // File times come from the kernel's coarse clock: a change made later in
    // the same tick would keep this mtime, so only an mtime from an earlier
    // tick may be trusted next time. A zero nanosecond part hints at a file
    // system with whole-second times: then the second must have passed.
    int64_t coarse = coarse_now_ns();
    out.mtime = mtime_ns(st);
    out.stable = out.mtime < coarse &&
                 (st.st_mtim.tv_nsec != 0 || int64_t(st.st_mtim.tv_sec) < coarse / 1000000000);
    std::unique_ptr<DIR, dir_closer> d(::opendir(path.c_str()));
    if (!d) return status::from_errno("opendir " + path);
    out.names.clear();
    errno = 0;
    while (struct dirent* de = ::readdir(d.get())) {
        if (de->d_name[0] == '.') continue;
        out.names.emplace_back(de->d_name);
    }
    if (errno != 0) return status::from_errno("readdir " + path);
    return status::ok();
}

std::string_view base_of(const index_entry& e) {
    return e.loc == 'c' ? std::string_view(e.name) : split_maildir_name(e.name).base;
}

// Size and wire size of a foreign file without S=/W= in its name (read once, when indexed).
bool count_file(const std::string& path, uint64_t& size, uint64_t& wire) {
    unique_fd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return false;
    size = wire = 0;
    char buf[65536];
    bool prev_cr = false;
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        for (ssize_t i = 0; i < n; i++) {
            wire += (buf[i] == '\n' && !prev_cr) ? 2 : 1;
            prev_cr = buf[i] == '\r';
        }
        size += uint64_t(n);
    }
}

}  // namespace

maildir_folder::maildir_folder(std::string dir, std::string name, open_mode mode, const limits& lim)
    : folder(std::move(name), mode, lim, std::make_unique<folder_index>(dir + "/tern-index", lim, false)),
      _dir(std::move(dir)) {}

status maildir_folder::open(const std::string& dir, std::string name, open_mode mode, const limits& lim,
                            std::unique_ptr<folder>& out) {
    struct stat st;
    bool inbox = name == "INBOX";
    if (::stat(dir.c_str(), &st) != 0 && !inbox) {
        if (errno == ENOENT) return status::fail(ENOENT, "no such folder: " + name);
        return status::from_errno("stat " + dir);
    }
    // INBOX always exists; a foreign maildir may lack one of its three directories.
    if (::stat((dir + "/cur").c_str(), &st) != 0 || ::stat((dir + "/new").c_str(), &st) != 0 ||
        ::stat((dir + "/tmp").c_str(), &st) != 0) {
        if (status s = make_maildir(dir); !s) return s;
    }
    std::unique_ptr<maildir_folder> f(new maildir_folder(dir, std::move(name), mode, lim));
    changes ignored;
    if (status s = f->sync(ignored); !s) return s;
    out = std::move(f);
    return status::ok();
}

std::vector<std::string> maildir_folder::notify_paths() const { return {_dir, _dir + "/new", _dir + "/cur"}; }

std::string maildir_folder::path_of(const index_entry& e) const {
    switch (e.loc) {
    case 'n': return _dir + "/new/" + e.name;
    case 'c': return _dir + "/cur/" + e.name + ":2," + flag_letters(e.msg.flags, e.msg.keywords);
    default: return _dir + "/cur/" + e.name;
    }
}

void maildir_folder::before_changes_locked() { _cur_touched = _need_dir_sync = false; }

status maildir_folder::after_changes_locked() {
    status s;
    if (_need_dir_sync && _lim.fsync && !fsync_dir(_dir + "/cur")) s = status::from_errno("fsync " + _dir + "/cur");
    // Our own renames gave cur/ an mtime of the current clock tick; another
    // program's change later in the same tick would keep it, so the next
    // sync reads cur/ again (and records the mtime once the tick is over).
    if (_cur_touched && _index->scan[1] != 0) {
        uint64_t sc[4] = {_index->scan[0], 0, 0, 0};
        _index->set_scan(sc);
    }
    _cur_touched = _need_dir_sync = false;
    return s;
}

status maildir_folder::sync_impl() {
    status s = _index->refresh();
    if (s) {
        struct stat sn, sc;
        if (::stat((_dir + "/new").c_str(), &sn) != 0 || ::stat((_dir + "/cur").c_str(), &sc) != 0) {
            if (errno == ENOENT) return status::fail(ENOENT, _name + ": folder was deleted");
            return status::from_errno("stat " + _dir);
        }
        bool new_ok = _index->scan[0] != 0 && uint64_t(mtime_ns(sn)) == _index->scan[0];
        bool cur_ok = _index->scan[1] != 0 && uint64_t(mtime_ns(sc)) == _index->scan[1];
        bool claim = _mode == open_mode::select && _index->first_recent < _index->uidnext;
        if (new_ok && cur_ok && !claim) return status::ok();
    } else if (s.err != ENOENT && s.err != EBADMSG) {
        return s;
    }
    if (s = begin_write(false); !s) return s;
    struct stat sn, sc;
    bool do_new = true, do_cur = true;
    if (::stat((_dir + "/new").c_str(), &sn) == 0 && ::stat((_dir + "/cur").c_str(), &sc) == 0) {
        do_new = !(_index->scan[0] != 0 && uint64_t(mtime_ns(sn)) == _index->scan[0]);
        do_cur = !(_index->scan[1] != 0 && uint64_t(mtime_ns(sc)) == _index->scan[1]);
    }
    if (do_new || do_cur) s = scan_locked(do_new, do_cur);
    if (s && _mode == open_mode::select) s = claim_locked();
    status c = _index->commit();
    end_write();
    return s ? c : s;
}

status maildir_folder::rebuild_locked() {
    uint32_t previous = _index->previous_uidvalidity();
    uint32_t uv = folder_index::new_uidvalidity(previous);
    _index->reset(uv);
    // Keyword letters keep their names across a rebuild.
    if (auto text = read_file(_dir + "/tern-keywords", 1 << 20)) {
        for (auto& line : split_char(*text, '\n')) {
            auto sp = line.find(' ');
            if (sp == std::string::npos) continue;
            auto bit = parse_u64(line.substr(0, sp));
            std::string name = line.substr(sp + 1);
            if (!bit || *bit != _index->keywords.size() || !valid_keyword(name)) break;
            _index->add_keyword(name);
        }
    }
    status s = scan_locked(true, true);
    if (!s) return s;
    // A first index: no IMAP session has seen any message yet, so all are
    // \Recent (RFC 3501), wherever the delivery agent put them. A rebuild
    // of a damaged index can only trust new/ for that.
    uint32_t first = previous ? _index->uidnext : 1;
    for (auto& e : _index->entries)
        if (e.loc == 'n') first = std::min(first, e.msg.uid);
    _index->set_first_recent(first);
    if (previous)
        log::info("mailbox %s: index rebuilt, uidvalidity=%u, messages=%zu", _dir.c_str(), uv, _index->entries.size());
    return status::ok();
}

status maildir_folder::scan_locked(bool do_new, bool do_cur) {
    dir_scan sn, sc;
    // new/ before cur/: a file an MUA moves from new/ to cur/ meanwhile is
    // then seen at least once.
    if (do_new)
        if (status s = read_dir(_dir + "/new", sn); !s) return s;
    if (do_cur)
        if (status s = read_dir(_dir + "/cur", sc); !s) return s;

    auto& entries = _index->entries;
    uint32_t kw_mask = _index->keywords.size() >= 32 ? ~0u : (1u << _index->keywords.size()) - 1;
    std::unordered_map<std::string_view, size_t> by_base;
    by_base.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); i++) by_base.emplace(base_of(entries[i]), i);

    // First decide, then change: the index must not move while names point into it.
    std::vector<char> seen(entries.size(), 0);
    struct candidate {
        char dir;
        std::string file;
        int64_t mtime = 0;
    };
    std::vector<candidate> cands;
    std::unordered_map<std::string, size_t> cand_by_base;
    struct loc_update {
        uint32_t uid;
        char loc;
        std::string name;
    };
    struct flag_update_ {
        uint32_t uid, flags, keywords;
    };
    std::vector<loc_update> locs;
    std::vector<flag_update_> flags;

    auto consider = [&](char dir, const std::string& file) {
        maildir_name nm = split_maildir_name(file);
        if (nm.base.empty()) return;
        auto it = by_base.find(nm.base);
        if (it == by_base.end()) {
            auto c = cand_by_base.find(std::string(nm.base));
            if (c == cand_by_base.end()) {
                cands.push_back({dir, file});
                cand_by_base.emplace(std::string(nm.base), cands.size() - 1);
            } else if (dir == 'c') {
                cands[c->second] = {dir, file};  // moved to cur/ while we looked
            }
            return;
        }
        const index_entry& e = entries[it->second];
        seen[it->second] = 1;
        uint32_t fl = 0, kw = 0;
        if (nm.has_info) parse_flag_letters(nm.letters, fl, kw);
        kw &= kw_mask;
        char loc = 'n';
        std::string name = file;
        if (dir == 'c') {
            bool canonical = nm.has_info && file.size() == nm.base.size() + 3 + nm.letters.size() &&
                             nm.letters == flag_letters(fl, kw);
            loc = canonical ? 'c' : 'C';
            if (canonical) name = std::string(nm.base);
        }
        if (e.loc != loc || e.name != name) locs.push_back({e.msg.uid, loc, name});
        if ((dir == 'c' || nm.has_info) && (fl != e.msg.flags || kw != e.msg.keywords))
            flags.push_back({e.msg.uid, fl, kw});
    };
    for (auto& f : sn.names) consider('n', f);
    for (auto& f : sc.names) consider('c', f);

    std::vector<uint32_t> missing;
    for (size_t i = 0; i < entries.size(); i++) {
        if (seen[i]) continue;
        bool in_new = entries[i].loc == 'n';
        if ((in_new && !do_new) || (!in_new && !do_cur)) continue;
        // Not where the index said: it may have moved to the directory we did not read.
        if (!(do_new && do_cur)) return scan_locked(true, true);
        missing.push_back(entries[i].msg.uid);
    }
    by_base.clear();

    for (auto& l : locs) _index->set_location(l.uid, l.loc, l.name);
    for (auto& f : flags) _index->set_flags(f.uid, f.flags, f.keywords, true);
    for (uint32_t uid : missing) _index->expunge(uid, true);

    // New files get UIDs in delivery order. Their date is the file's mtime;
    // sizes come from S=/W= in the name, so only foreign files are read.
    std::vector<index_entry> added;
    for (auto& c : cands) {
        std::string path = _dir + (c.dir == 'n' ? "/new/" : "/cur/") + c.file;
        struct stat st;
        if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
        c.mtime = mtime_ns(st);
    }
    std::erase_if(cands, [](const candidate& c) { return c.mtime == 0; });
    std::sort(cands.begin(), cands.end(), [](const candidate& a, const candidate& b) {
        return a.mtime != b.mtime ? a.mtime < b.mtime : a.file < b.file;
    });
    for (auto& c : cands) {
        maildir_name nm = split_maildir_name(c.file);
        index_entry e;
        if (nm.has_info) parse_flag_letters(nm.letters, e.msg.flags, e.msg.keywords);
        e.msg.keywords &= kw_mask;
        std::string path = _dir + (c.dir == 'n' ? "/new/" : "/cur/") + c.file;
        if (!sizes_from_name(nm.base, e.msg.size, e.msg.wire_size) && !count_file(path, e.msg.size, e.msg.wire_size))
            continue;  // vanished meanwhile
        e.msg.internal_date = c.mtime / 1000000000;
        if (c.dir == 'n') {
            e.loc = 'n';
            e.name = c.file;
        } else if (nm.has_info && nm.letters == flag_letters(e.msg.flags, e.msg.keywords)) {
            e.loc = 'c';
            e.name = std::string(nm.base);
        } else {
            e.loc = 'C';
            e.name = c.file;
        }
        _index->add(std::move(e), true);
    }

    uint64_t s4[4] = {_index->scan[0], _index->scan[1], 0, 0};
    if (do_new) s4[0] = sn.stable ? uint64_t(sn.mtime) : 0;
    if (do_cur) s4[1] = sc.stable ? uint64_t(sc.mtime) : 0;
    _index->set_scan(s4);
    return status::ok();
}

status maildir_folder::claim_locked() {
    std::vector<std::pair<uint32_t, std::string>> in_new;
    for (auto& e : _index->entries)
        if (e.loc == 'n') in_new.emplace_back(e.msg.uid, e.name);
    if (!in_new.empty()) {
        before_changes_locked();
        for (auto& [uid, file] : in_new) {
            maildir_name nm = split_maildir_name(file);
            const index_entry* e = _index->find(uid);
            std::string base(nm.base);
            std::string dest = _dir + "/cur/" + base + ":2," + flag_letters(e->msg.flags, e->msg.keywords);
            if (::rename((_dir + "/new/" + file).c_str(), dest.c_str()) != 0) {
                if (errno == ENOENT) continue;  // moved by someone else; the next scan finds it
                return status::from_errno("rename " + dest);
            }
            _index->set_location(uid, 'c', base);
            _cur_touched = true;
        }
        if (status s = after_changes_locked(); !s) return s;
    }
    // \Recent: this session is the first to see everything from first_recent on.
    for (auto& e : _index->entries)
        if (e.msg.uid >= _index->first_recent) _recent.push_back(e.msg.uid);
    _index->set_first_recent(_index->uidnext);
    return status::ok();
}

std::string maildir_folder::locate_locked(uint32_t uid) {
    const index_entry* e = _index->find(uid);
    if (!e) return "";
    std::string p = path_of(*e);
    struct stat st;
    if (::stat(p.c_str(), &st) == 0) return p;
    if (!scan_locked(true, true)) return "";
    e = _index->find(uid);
    if (!e) return "";
    p = path_of(*e);
    return ::stat(p.c_str(), &st) == 0 ? p : "";
}

status maildir_folder::open_file(uint32_t uid, unique_fd& fd) {
    const index_entry* e = _index->find(uid);
    if (!e) return status::fail(ENOENT, _name + ": no message with UID " + std::to_string(uid));
    std::string p = path_of(*e);
    fd.reset(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (fd) return status::ok();
    if (errno != ENOENT) return status::from_errno("open " + p);
    // Renamed behind our back (another client's flag change): find it under the lock.
    if (status s = begin_write(false); !s) return s;
    p = locate_locked(uid);
    status c = _index->commit();
    end_write();
    if (!c) return c;
    if (p.empty()) return status::fail(ENOENT, _name + ": message " + std::to_string(uid) + " is gone");
    fd.reset(::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return status::from_errno("open " + p);
    return status::ok();
}

status maildir_folder::open_message(uint32_t uid, unique_fd& fd) { return open_file(uid, fd); }

status maildir_folder::read_impl(uint32_t uid, std::string& out) {
    unique_fd fd;
    if (status s = open_file(uid, fd); !s) return s;
    out.clear();
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return status::from_errno("read message " + std::to_string(uid));
        if (n == 0) return status::ok();
        out.append(buf, size_t(n));
    }
}

status maildir_folder::apply_flags_locked(uint32_t uid, uint32_t fl, uint32_t kw) {
    std::string from = locate_locked(uid);
    const index_entry* e = _index->find(uid);
    if (from.empty() || !e) return status::fail(ENOENT, "message gone");
    std::string base(base_of(*e));
    std::string to = _dir + "/cur/" + base + ":2," + flag_letters(fl, kw);
    if (from != to && ::rename(from.c_str(), to.c_str()) != 0) return status::from_errno("rename " + from);
    _cur_touched = true;
    if (e->loc != 'c' || e->name != base) _index->set_location(uid, 'c', base);
    return status::ok();
}

status maildir_folder::remove_locked(std::vector<uint32_t>& uids) {
    status s;
    std::vector<uint32_t> done;
    for (uint32_t uid : uids) {
        std::string p = locate_locked(uid);
        if (!p.empty() && ::unlink(p.c_str()) != 0 && errno != ENOENT) {
            s = status::from_errno("unlink " + p);
            continue;
        }
        _cur_touched = true;
        done.push_back(uid);
    }
    uids = std::move(done);
    return s;
}

status maildir_folder::add_locked(std::string_view data, uint32_t fl, uint32_t kw, int64_t idate, index_entry& e) {
    std::string base = maildir_unique_base();
    uint64_t size = 0, wire = 0;
    if (status s = write_tmp_message(_dir, base, string_reader(data), idate, size, wire); !s) return s;
    std::string tmp = _dir + "/tmp/" + base;
    std::string final_base = base + ",S=" + std::to_string(size) + ",W=" + std::to_string(wire);
    std::string dest = _dir + "/cur/" + final_base + ":2," + flag_letters(fl, kw);
    if (::rename(tmp.c_str(), dest.c_str()) != 0) {
        status s = status::from_errno("rename " + dest);
        ::unlink(tmp.c_str());
        return s;
    }
    _cur_touched = _need_dir_sync = true;
    e.loc = 'c';
    e.name = final_base;
    e.msg.size = size;
    e.msg.wire_size = wire;
    e.msg.internal_date = idate;
    return status::ok();
}

status maildir_folder::link_locked(folder& src, uint32_t uid, uint32_t fl, uint32_t kw, index_entry& out) {
    auto* from = dynamic_cast<maildir_folder*>(&src);
    if (!from) return status::fail(ENOTSUP, "not a maildir");
    const index_entry* e = from->_index->find(uid);
    if (!e) return status::fail(ENOENT, "message gone");
    // A hard link shares the file, its size and its mtime (the internal date).
    std::string final_base = maildir_unique_base() + ",S=" + std::to_string(e->msg.size) +
                             ",W=" + std::to_string(e->msg.wire_size);
    std::string dest = _dir + "/cur/" + final_base + ":2," + flag_letters(fl, kw);
    if (::link(from->path_of(*e).c_str(), dest.c_str()) != 0) return status::fail(ENOTSUP, "cannot link");
    _cur_touched = _need_dir_sync = true;
    out.loc = 'c';
    out.name = final_base;
    out.msg.size = e->msg.size;
    out.msg.wire_size = e->msg.wire_size;
    out.msg.internal_date = e->msg.internal_date;
    return status::ok();
}

status maildir_folder::keywords_changed_locked() {
    std::string text;
    for (size_t i = 0; i < _index->keywords.size(); i++) text += std::to_string(i) + " " + _index->keywords[i] + "\n";
    if (!write_file_atomic(_dir + "/tern-keywords", text, 0600)) return status::from_errno("write tern-keywords");
    return status::ok();
}

}  // namespace tern::mailbox
