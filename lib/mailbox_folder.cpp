// mailbox_folder.cpp - what every folder does on top of its index, whatever
// the store type: message lookup, flag changes with modseqs and
// UNCHANGEDSINCE, expunge, append, copy/move, QRESYNC's VANISHED, \Recent,
// keywords; plus the inotify notifier and the flag name helpers.
// Called by pop3d and imapd through lib/mailbox.hpp.
#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "lib/config.hpp"
#include "lib/log.hpp"
#include "lib/mailbox_impl.hpp"
#include "lib/mailbox_lock.hpp"
#include "lib/strutil.hpp"

namespace tern::mailbox {

limits limits::from_config(const config& cfg) {
    limits l;
    l.lock_timeout = int(cfg.get_time("mailbox_lock_timeout"));
    l.stale_lock_time = int(cfg.get_time("stale_lock_time"));
    l.index_log_limit = cfg.get_size("mailbox_index_log_limit");
    l.index_size_limit = cfg.get_size("mailbox_index_size_limit");
    l.vanished_limit = size_t(cfg.get_int("mailbox_vanished_limit"));
    l.folder_limit = size_t(cfg.get_int("mailbox_folder_limit"));
    l.fsync = cfg.get_bool("mailbox_fsync");
    return l;
}

namespace {
struct flag_name {
    uint32_t bit;
    const char* name;
};
constexpr flag_name system_flags[] = {
    {flag::seen, "\\Seen"},     {flag::answered, "\\Answered"}, {flag::flagged, "\\Flagged"},
    {flag::deleted, "\\Deleted"}, {flag::draft, "\\Draft"},
};
}  // namespace

std::optional<uint32_t> parse_system_flag(std::string_view name) {
    for (auto& f : system_flags)
        if (iequals(name, f.name)) return f.bit;
    return std::nullopt;
}

std::vector<std::string> system_flag_names(uint32_t flags) {
    std::vector<std::string> out;
    for (auto& f : system_flags)
        if (flags & f.bit) out.emplace_back(f.name);
    return out;
}

bool valid_keyword(std::string_view name) {
    if (name.empty() || name.size() > 100) return false;
    for (unsigned char c : name) {
        // IMAP atom characters (RFC 3501 atom-specials excluded) and no flag backslash.
        if (c <= ' ' || c >= 0x7f || std::string_view("(){%*\"\\]").find(char(c)) != std::string_view::npos)
            return false;
    }
    return true;
}

std::string pop3_uidl(uint32_t uidvalidity, uint32_t uid) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "%08x%08x", uidvalidity, uid);
    return buf;
}

// ---------------------------------------------------------------- folder

folder::folder(std::string name, open_mode mode, const limits& lim, std::unique_ptr<folder_index> index)
    : _index(std::move(index)), _name(std::move(name)), _mode(mode), _lim(lim) {}

folder::~folder() = default;

uint32_t folder::uidvalidity() const { return _index->uidvalidity; }
uint32_t folder::uidnext() const { return _index->uidnext; }
uint64_t folder::highestmodseq() const { return _index->highestmodseq; }
size_t folder::count() const { return _index->entries.size(); }
const message& folder::at(size_t i) const { return _index->entries.at(i).msg; }
const std::vector<std::string>& folder::keywords() const { return _index->keywords; }
bool folder::can_create_keywords() const { return !read_only() && _index->keywords.size() < size_t(max_keywords); }

const message* folder::find(uint32_t uid) const {
    const index_entry* e = _index->find(uid);
    return e ? &e->msg : nullptr;
}

std::optional<size_t> folder::index_of(uint32_t uid) const {
    auto& v = _index->entries;
    auto it = std::lower_bound(v.begin(), v.end(), uid, [](const index_entry& e, uint32_t u) { return e.msg.uid < u; });
    if (it == v.end() || it->msg.uid != uid) return std::nullopt;
    return size_t(it - v.begin());
}

bool folder::is_recent(uint32_t uid) const { return std::binary_search(_recent.begin(), _recent.end(), uid); }

folder_counts folder::counts() const {
    folder_counts c;
    for (auto& e : _index->entries) {
        c.messages++;
        if (!(e.msg.flags & flag::seen)) c.unseen++;
        if (_mode == open_mode::select ? is_recent(e.msg.uid) : e.msg.uid >= _index->first_recent) c.recent++;
        c.size += e.msg.size;
        c.wire_size += e.msg.wire_size;
    }
    return c;
}

status folder::begin_write(bool need_writable) {
    if (need_writable && read_only()) return status::fail(EROFS, _name + ": opened read-only");
    status s = _index->lock(_lim.lock_timeout);
    if (!s && (s.err == ENOENT || s.err == EBADMSG) && _index->locked()) {
        if (s.err == EBADMSG) log::warn("mailbox index %s; rebuilding", s.reason.c_str());
        s = rebuild_locked();
        if (s) s = _index->commit();
    }
    if (!s) _index->unlock();
    return s;
}

void folder::end_write() { _index->unlock(); }

status folder::sync(changes& out) {
    status s = sync_impl();
    out = _index->take_changes();
    if (out.uidvalidity_changed) _recent.clear();
    for (uint32_t uid : out.expunged) {
        auto it = std::lower_bound(_recent.begin(), _recent.end(), uid);
        if (it != _recent.end() && *it == uid) _recent.erase(it);
    }
    return s;
}

status folder::read(uint32_t uid, std::string& out) {
    out.clear();
    if (!_index->find(uid)) return status::fail(ENOENT, _name + ": no message with UID " + std::to_string(uid));
    return read_impl(uid, out);
}

status folder::read(uint32_t uid, uint64_t offset, uint64_t len, std::string& out) {
    std::string all;
    status s = read(uid, all);
    out.clear();
    if (!s) return s;
    if (offset < all.size()) out = all.substr(size_t(offset), size_t(std::min<uint64_t>(len, all.size() - offset)));
    return s;
}

int folder::keyword_bit_locked(std::string_view name) {
    auto& kw = _index->keywords;
    for (size_t i = 0; i < kw.size(); i++)
        if (iequals(kw[i], name)) return int(i);
    if (kw.size() >= size_t(max_keywords)) return -1;
    int bit = _index->add_keyword(std::string(name));
    if (!keywords_changed_locked()) return -1;
    return bit;
}

status folder::keyword_bit(std::string_view name, bool create, int& bit) {
    if (!valid_keyword(name)) return status::fail(EINVAL, "invalid keyword");
    auto& kw = _index->keywords;
    for (size_t i = 0; i < kw.size(); i++) {
        if (iequals(kw[i], name)) {
            bit = int(i);
            return status::ok();
        }
    }
    if (!create) return status::fail(ENOENT, "no such keyword");
    if (status s = begin_write(true); !s) return s;
    bit = keyword_bit_locked(name);
    status s = _index->commit();
    end_write();
    if (s && bit < 0) s = status::fail(ENOSPC, _name + ": no room for more keywords");
    return s;
}

status folder::store(const std::vector<uint32_t>& uids, flag_op op, uint32_t flags, uint32_t keywords,
                     std::optional<uint64_t> unchanged_since, store_result& out) {
    out = {};
    flags &= flag::imap_mask;
    if (status s = begin_write(true); !s) return s;
    before_changes_locked();
    status s;
    for (uint32_t uid : uids) {
        const index_entry* e = _index->find(uid);
        if (!e) continue;
        if (unchanged_since && e->msg.modseq > *unchanged_since) {
            out.modified.push_back(uid);
            continue;
        }
        uint32_t nf = e->msg.flags, nk = e->msg.keywords;
        switch (op) {
        case flag_op::add: nf |= flags, nk |= keywords; break;
        case flag_op::remove: nf &= ~flags, nk &= ~keywords; break;
        case flag_op::replace: nf = (nf & ~flag::imap_mask) | flags, nk = keywords; break;
        }
        nk &= (_index->keywords.size() >= 32 ? ~0u : (1u << _index->keywords.size()) - 1);
        if (nf == e->msg.flags && nk == e->msg.keywords) continue;
        s = apply_flags_locked(uid, nf, nk);
        if (!s) {
            if (s.err == ENOENT) {  // gone meanwhile: like an expunged message, not an error
                s = status::ok();
                continue;
            }
            break;
        }
        _index->set_flags(uid, nf, nk, false);
        out.updated.push_back({uid, _index->txn_modseq(), nf, nk});
    }
    if (status a = after_changes_locked(); !a && s) s = a;
    status c = _index->commit();
    end_write();
    if (!c) {
        out.updated.clear();
        return c;
    }
    return s;
}

status folder::expunge(const std::vector<uint32_t>* uids, bool require_deleted, std::vector<uint32_t>& expunged) {
    expunged.clear();
    if (status s = begin_write(true); !s) return s;
    std::vector<uint32_t> targets;
    if (!uids) {
        for (auto& e : _index->entries)
            if (e.msg.flags & flag::deleted) targets.push_back(e.msg.uid);
    } else {
        for (uint32_t uid : *uids) {
            const index_entry* e = _index->find(uid);
            if (e && (!require_deleted || (e->msg.flags & flag::deleted))) targets.push_back(uid);
        }
        std::sort(targets.begin(), targets.end());
        targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
    }
    status s = status::ok();
    before_changes_locked();
    if (!targets.empty()) s = remove_locked(targets);
    for (uint32_t uid : targets) _index->expunge(uid, false);
    if (status a = after_changes_locked(); !a && s) s = a;
    status c = _index->commit();
    end_write();
    if (!c) return c;
    expunged = targets;
    std::vector<uint32_t> keep;
    std::set_difference(_recent.begin(), _recent.end(), targets.begin(), targets.end(), std::back_inserter(keep));
    _recent = std::move(keep);
    return s;
}

status folder::append(std::string_view data, uint32_t flags, const std::vector<std::string>& keywords,
                      int64_t internal_date, uint32_t& uid) {
    uid = 0;
    for (auto& k : keywords)
        if (!valid_keyword(k)) return status::fail(EINVAL, "invalid keyword");
    if (status s = begin_write(true); !s) return s;
    uint32_t kw = 0;
    for (auto& k : keywords) {
        int bit = keyword_bit_locked(k);
        if (bit >= 0) kw |= 1u << bit;  // a full keyword table drops the keyword, as PERMANENTFLAGS says
    }
    if (internal_date <= 0) internal_date = ::time(nullptr);
    index_entry e;
    flags &= flag::imap_mask;
    before_changes_locked();
    status s = add_locked(data, flags, kw, internal_date, e);
    if (s) {
        e.msg.flags = flags;
        e.msg.keywords = kw;
        uid = _index->add(std::move(e), false);
    }
    if (status a = after_changes_locked(); !a && s) {
        s = a;
        uid = 0;
    }
    status c = _index->commit();
    end_write();
    if (!c) {
        uid = 0;
        return c;
    }
    return s;
}

status folder::link_locked(folder&, uint32_t, uint32_t, uint32_t, index_entry&) {
    return status::fail(ENOTSUP, "no fast copy");
}

status folder::copy_to(const std::vector<uint32_t>& uids, folder& dest, bool move,
                       std::vector<std::pair<uint32_t, uint32_t>>& map) {
    map.clear();
    if (move && read_only()) return status::fail(EROFS, _name + ": opened read-only");
    // The same folder as destination is allowed (IMAP COPY into the selected
    // mailbox duplicates the messages under new UIDs): the messages to copy
    // all have UIDs below the ones the copies get.
    std::vector<uint32_t> todo(uids);
    std::sort(todo.begin(), todo.end());
    todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
    if (status s = dest.begin_write(true); !s) return s;
    dest.before_changes_locked();
    status s;
    for (uint32_t uid : todo) {
        const index_entry* e = _index->find(uid);
        if (!e) continue;
        message m = e->msg;
        // Keywords go by name: the two folders number them differently.
        uint32_t kw = 0;
        for (int i = 0; i < max_keywords && size_t(i) < _index->keywords.size(); i++) {
            if (!(m.keywords & (1u << i))) continue;
            int bit = dest.keyword_bit_locked(_index->keywords[size_t(i)]);
            if (bit >= 0) kw |= 1u << bit;
        }
        index_entry ne;
        s = dest.link_locked(*this, uid, m.flags, kw, ne);
        if (!s && s.err == ENOTSUP) {
            std::string data;
            s = read_impl(uid, data);
            if (s) s = dest.add_locked(data, m.flags, kw, m.internal_date, ne);
        }
        if (!s) {
            if (s.err == ENOENT) {  // expunged meanwhile: skip it, as if it was never asked for
                s = status::ok();
                continue;
            }
            break;
        }
        ne.msg.flags = m.flags;
        ne.msg.keywords = kw;
        ne.msg.internal_date = m.internal_date;
        map.emplace_back(uid, dest._index->add(std::move(ne), false));
    }
    if (status a = dest.after_changes_locked(); !a && s) {
        s = a;
        map.clear();
    }
    status c = dest._index->commit();
    dest.end_write();
    if (!c) {
        map.clear();
        return c;
    }
    if (!s) return s;
    if (move && !map.empty()) {
        std::vector<uint32_t> src;
        for (auto& p : map) src.push_back(p.first);
        std::vector<uint32_t> gone;
        return expunge(&src, false, gone);
    }
    return status::ok();
}

namespace {
std::vector<uid_range> to_ranges(const std::vector<uint32_t>& sorted) {
    std::vector<uid_range> out;
    for (uint32_t u : sorted) {
        if (!out.empty() && out.back().last + 1 == u)
            out.back().last = u;
        else if (out.empty() || out.back().last < u)
            out.push_back({u, u});
    }
    return out;
}
}  // namespace

std::vector<uid_range> folder::vanished_since(uint64_t modseq) const {
    if (modseq >= _index->vanished_floor) {
        std::vector<uint32_t> v;
        for (auto& [uid, ms] : _index->vanished)
            if (ms > modseq) v.push_back(uid);
        std::sort(v.begin(), v.end());
        return to_ranges(v);
    }
    // Forgotten that far back: every UID that is not here may have vanished.
    std::vector<uid_range> out;
    uint32_t next = 1;
    for (auto& e : _index->entries) {
        if (e.msg.uid > next) out.push_back({next, e.msg.uid - 1});
        next = e.msg.uid + 1;
    }
    if (next < _index->uidnext) out.push_back({next, _index->uidnext - 1});
    return out;
}

std::vector<uint32_t> folder::changed_since(uint64_t modseq) const {
    std::vector<uint32_t> out;
    for (auto& e : _index->entries)
        if (e.msg.modseq > modseq) out.push_back(e.msg.uid);
    return out;
}

status folder::session_lock(std::string_view tag, unique_fd& out) {
    std::string path = _index->base() + "." + std::string(tag) + ".lock";
    unique_fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return status::from_errno("open " + path);
    if (!ofd_lock(fd.get(), true, 0)) {
        if (errno == EAGAIN || errno == EACCES) return status::fail(EAGAIN, _name + ": in use by another session");
        return status::from_errno("lock " + path);
    }
    out = std::move(fd);
    return status::ok();
}

// ---------------------------------------------------------------- notifier

notifier::notifier() = default;
notifier::~notifier() = default;

status notifier::init() {
    _fd.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!_fd) return status::from_errno("inotify_init1");
    return status::ok();
}

status notifier::watch(const folder& f, uint64_t cookie) {
    if (!_fd) return status::fail(EINVAL, "notifier not initialised");
    constexpr uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_CLOSE_WRITE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    for (auto& p : f.notify_paths()) {
        int wd = ::inotify_add_watch(_fd.get(), p.c_str(), mask);
        if (wd < 0) {
            if (errno == ENOENT) continue;  // e.g. an index directory not created yet
            status s = status::from_errno("inotify_add_watch " + p);
            unwatch(cookie);
            return s;
        }
        _watches.emplace_back(wd, cookie);
    }
    return status::ok();
}

void notifier::unwatch(uint64_t cookie) {
    std::vector<int> dropped;
    std::erase_if(_watches, [&](auto& w) {
        if (w.second != cookie) return false;
        dropped.push_back(w.first);
        return true;
    });
    // The kernel shares one wd per inode: remove it only when nobody else uses it.
    for (int wd : dropped) {
        bool used = std::any_of(_watches.begin(), _watches.end(), [&](auto& w) { return w.first == wd; });
        if (!used && _fd) ::inotify_rm_watch(_fd.get(), wd);
    }
}

std::vector<uint64_t> notifier::read_events() {
    std::vector<uint64_t> out;
    if (!_fd) return out;
    alignas(struct inotify_event) char buf[8192];
    for (;;) {
        ssize_t n = ::read(_fd.get(), buf, sizeof buf);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) continue;
            break;
        }
        for (char* p = buf; p < buf + n;) {
            auto* ev = reinterpret_cast<struct inotify_event*>(p);
            for (auto& w : _watches)
                if (w.first == ev->wd) out.push_back(w.second);
            if (ev->mask & IN_Q_OVERFLOW)
                for (auto& w : _watches) out.push_back(w.second);
            p += sizeof(struct inotify_event) + ev->len;
        }
    }
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

}  // namespace tern::mailbox
