// mailbox_index.cpp - the reader side of the folder index (see
// mailbox_index.hpp): parsing, loading and replaying. Line formats (docs/mailbox.md):
//   snapshot: "tern-index 1 GEN", "V uidvalidity uidnext highestmodseq first_recent
//             vanished_floor dirty", "s a b c d", "k bit name", "v uid modseq",
//             "m ENTRY" ..., "end COUNT"
//   log:      "tern-log 1 GEN", then records "a ENTRY", "f uid modseq flags kw",
//             "l uid LOC", "x uid modseq", "k bit name", "r uid", "s a b c d", "d 0|1"
//   ENTRY:    "uid modseq flags kw size wire_size internal_date LOC"
//   LOC:      "n NAME" | "c NAME" | "C NAME" | "m offset raw_len fp"
#include "lib/mailbox_index.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>


namespace tern::mailbox {
namespace {

constexpr char hexdigits[] = "0123456789ABCDEF";

// Space-separated fields of one line.
struct fields {
    std::string_view s;
    bool bad = false;
    std::string_view next() {
        size_t p = s.find(' ');
        std::string_view f = s.substr(0, p);
        s = p == std::string_view::npos ? std::string_view() : s.substr(p + 1);
        if (f.empty()) bad = true;
        return f;
    }
    template <class T>
    T num() {
        auto f = next();
        T v{};
        auto r = std::from_chars(f.data(), f.data() + f.size(), v);
        if (r.ec != std::errc() || r.ptr != f.data() + f.size()) bad = true;
        return v;
    }
    bool done() const { return s.empty(); }
};

bool parse_loc(fields& f, index_entry& e) {
    auto l = f.next();
    if (l.size() != 1) return false;
    e.loc = l[0];
    if (e.loc == 'm') {
        e.offset = f.num<uint64_t>();
        e.raw_len = f.num<uint64_t>();
        e.fp = f.num<uint64_t>();
        return !f.bad && f.done();
    }
    if (e.loc != 'n' && e.loc != 'c' && e.loc != 'C') return false;
    auto n = f.next();
    return !f.bad && f.done() && index_unescape(n, e.name) && !e.name.empty();
}

bool parse_entry(fields& f, index_entry& e) {
    message& m = e.msg;
    m.uid = f.num<uint32_t>();
    m.modseq = f.num<uint64_t>();
    m.flags = f.num<uint32_t>();
    m.keywords = f.num<uint32_t>();
    m.size = f.num<uint64_t>();
    m.wire_size = f.num<uint64_t>();
    m.internal_date = f.num<int64_t>();
    if (f.bad || m.uid == 0 || (m.flags & ~flag::all) != 0) return false;
    return parse_loc(f, e);
}

// Header line "tern-xxx 1 GEN"; the generation or 0.
uint64_t parse_header(std::string_view line, std::string_view magic) {
    fields f{line};
    if (f.next() != magic || f.next() != "1") return 0;
    auto g = f.num<uint64_t>();
    return f.bad || !f.done() ? 0 : g;
}

bool read_all_fd(int fd, uint64_t from, uint64_t limit, std::string& out) {
    out.clear();
    char buf[65536];
    for (;;) {
        ssize_t n = ::pread(fd, buf, sizeof buf, static_cast<off_t>(from + out.size()));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        if (n == 0) return true;
        if (out.size() + size_t(n) > limit) {
            errno = EFBIG;
            return false;
        }
        out.append(buf, size_t(n));
    }
}

void nap_ms(int ms) {
    struct timespec ts{0, ms * 1000000L};
    ::nanosleep(&ts, nullptr);
}

}  // namespace

std::string index_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (unsigned char c : s) {
        if (c <= ' ' || c == '%' || c == 0x7f) {
            out += '%';
            out += hexdigits[c >> 4];
            out += hexdigits[c & 15];
        } else {
            out += char(c);
        }
    }
    return out;
}

bool index_unescape(std::string_view s, std::string& out) {
    out.clear();
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); i++) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return false;
        auto hv = [](char c) -> int {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        int a = hv(s[i + 1]), b = hv(s[i + 2]);
        if (a < 0 || b < 0) return false;
        out += char(a * 16 + b);
        i += 2;
    }
    return true;
}

folder_index::folder_index(std::string base, const limits& lim, bool create_dir)
    : _base(std::move(base)), _lim(lim), _create_dir(create_dir) {}
folder_index::~folder_index() = default;

index_entry* folder_index::find(uint32_t uid) {
    auto it = std::lower_bound(entries.begin(), entries.end(), uid,
                               [](const index_entry& e, uint32_t u) { return e.msg.uid < u; });
    if (it == entries.end() || it->msg.uid != uid || it->loc == 'X') return nullptr;
    return &*it;
}

const index_entry* folder_index::find(uint32_t uid) const { return const_cast<folder_index*>(this)->find(uid); }

uint32_t folder_index::new_uidvalidity(uint32_t previous) {
    uint32_t t = static_cast<uint32_t>(::time(nullptr));
    if (t <= previous) t = previous + 1;
    return t == 0 ? 1 : t;
}

// ---------------------------------------------------------------- reading

bool folder_index::apply_line(std::string_view line, bool report) {
    if (line.size() < 2 || line[1] != ' ') return false;
    fields f{line.substr(2)};
    switch (line[0]) {
    case 'a': {
        index_entry e;
        if (!parse_entry(f, e)) return false;
        if (!entries.empty() && entries.back().msg.uid >= e.msg.uid) return false;
        if (e.msg.uid >= uidnext) uidnext = e.msg.uid + 1;
        highestmodseq = std::max(highestmodseq, e.msg.modseq);
        if (report) _changes.added.push_back(e.msg.uid);
        entries.push_back(std::move(e));
        return true;
    }
    case 'f': {
        auto uid = f.num<uint32_t>();
        auto modseq = f.num<uint64_t>();
        auto fl = f.num<uint32_t>();
        auto kw = f.num<uint32_t>();
        if (f.bad || !f.done() || (fl & ~flag::all) != 0) return false;
        highestmodseq = std::max(highestmodseq, modseq);
        if (auto* e = find(uid)) {
            e->msg.modseq = modseq;
            e->msg.flags = fl;
            e->msg.keywords = kw;
            if (report) _changes.flags_changed.push_back(uid);
        }
        return true;
    }
    case 'l': {
        auto uid = f.num<uint32_t>();
        index_entry loc;
        if (f.bad || !parse_loc(f, loc)) return false;
        if (auto* e = find(uid)) {
            e->loc = loc.loc;
            e->name = std::move(loc.name);
            e->offset = loc.offset;
            e->raw_len = loc.raw_len;
            e->fp = loc.fp;
        }
        return true;
    }
    case 'x': {
        auto uid = f.num<uint32_t>();
        auto modseq = f.num<uint64_t>();
        if (f.bad || !f.done()) return false;
        highestmodseq = std::max(highestmodseq, modseq);
        if (auto* e = find(uid)) {
            e->loc = 'X';
            _tombstones++;
            vanished.emplace_back(uid, modseq);
            while (vanished.size() > _lim.vanished_limit) {
                vanished_floor = std::max(vanished_floor, vanished.front().second);
                vanished.pop_front();
            }
            if (report) _changes.expunged.push_back(uid);
        }
        return true;
    }
    case 'k': {
        auto bit = f.num<size_t>();
        std::string name;
        if (f.bad || bit != keywords.size() || bit >= size_t(max_keywords) || !index_unescape(f.s, name) ||
            name.empty())
            return false;
        keywords.push_back(std::move(name));
        if (report) _changes.keywords_changed = true;
        return true;
    }
    case 'r': {
        auto uid = f.num<uint32_t>();
        if (f.bad || !f.done()) return false;
        first_recent = uid;
        return true;
    }
    case 's': {
        uint64_t v[4];
        for (auto& x : v) x = f.num<uint64_t>();
        if (f.bad || !f.done()) return false;
        std::copy(v, v + 4, scan);
        return true;
    }
    case 'd': {
        auto d = f.num<int>();
        if (f.bad || !f.done()) return false;
        dirty = d != 0;
        return true;
    }
    default:
        return false;
    }
}

void folder_index::erase_pending() {
    if (_tombstones == 0) return;
    std::erase_if(entries, [](const index_entry& e) { return e.loc == 'X'; });
    _tombstones = 0;
}

void folder_index::reset_log_state() {
    _log_fd.reset();
    _log_ino = 0;
    _log_off = 0;
    _log_stale = true;
}

// Read complete log lines from _log_off on; a partial last line waits for its writer.
status folder_index::read_log(bool from_start) {
    if (!_log_fd) return status::ok();
    std::string buf;
    uint64_t start = from_start ? 0 : _log_off;
    if (!read_all_fd(_log_fd.get(), start, _lim.index_size_limit, buf))
        return status::from_errno("read " + _base + ".log");
    size_t pos = 0;
    if (from_start) {
        size_t nl = buf.find('\n');
        if (nl == std::string::npos) return status::fail(EBADMSG, _base + ".log: no header");
        pos = nl + 1;
    }
    for (;;) {
        size_t nl = buf.find('\n', pos);
        if (nl == std::string::npos) break;
        if (!apply_line(std::string_view(buf).substr(pos, nl - pos), true))
            return status::fail(EBADMSG, _base + ".log: bad record at offset " + std::to_string(start + pos));
        pos = nl + 1;
    }
    _log_off = start + pos;
    return status::ok();
}

status folder_index::load_full() {
    for (int attempt = 0;; attempt++) {
        unique_fd fd(::open(_base.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) {
            if (errno == ENOENT) return status::fail(ENOENT, _base + ": no index");
            return status::from_errno("open " + _base);
        }
        struct stat st;
        if (::fstat(fd.get(), &st) != 0) return status::from_errno("stat " + _base);
        std::string text;
        if (!read_all_fd(fd.get(), 0, _lim.index_size_limit, text)) {
            if (errno == EFBIG) return status::fail(EBADMSG, _base + ": larger than mailbox_index_size_limit");
            return status::from_errno("read " + _base);
        }

        // Parse into a fresh object, then swap the state in.
        folder_index n(_base, _lim, false);
        std::string_view rest(text);
        auto next_line = [&](std::string_view& line) {
            size_t nl = rest.find('\n');
            if (nl == std::string_view::npos) return false;
            line = rest.substr(0, nl);
            rest.remove_prefix(nl + 1);
            return true;
        };
        std::string_view line;
        auto bad = [&](const char* why) { return status::fail(EBADMSG, _base + ": " + why); };
        if (!next_line(line)) return bad("empty");
        uint64_t gen = parse_header(line, "tern-index");
        if (gen == 0) return bad("bad header");
        _max_gen_seen = std::max(_max_gen_seen, gen);
        if (!next_line(line) || line.size() < 2 || line[0] != 'V') return bad("no V line");
        {
            fields f{line.substr(2)};
            n.uidvalidity = f.num<uint32_t>();
            n.uidnext = f.num<uint32_t>();
            n.highestmodseq = f.num<uint64_t>();
            n.first_recent = f.num<uint32_t>();
            n.vanished_floor = f.num<uint64_t>();
            n.dirty = f.num<int>() != 0;
            if (f.bad || !f.done() || n.uidvalidity == 0 || n.uidnext == 0) return bad("bad V line");
            _salvaged_uidvalidity = std::max(_salvaged_uidvalidity, n.uidvalidity);
        }
        size_t count = 0;
        bool ended = false;
        while (next_line(line)) {
            if (line.starts_with("end ")) {
                fields f{line.substr(4)};
                auto c = f.num<size_t>();
                if (f.bad || c != count || !rest.empty()) return bad("bad end line");
                ended = true;
                break;
            }
            if (line.size() < 2 || line[1] != ' ') return bad("bad line");
            fields f{line.substr(2)};
            if (line[0] == 'm') {
                index_entry e;
                if (!parse_entry(f, e)) return bad("bad message line");
                if ((!n.entries.empty() && n.entries.back().msg.uid >= e.msg.uid) || e.msg.uid >= n.uidnext)
                    return bad("message lines out of order");
                n.entries.push_back(std::move(e));
                count++;
            } else if (line[0] == 'v') {
                auto uid = f.num<uint32_t>();
                auto ms = f.num<uint64_t>();
                if (f.bad || !f.done()) return bad("bad vanished line");
                n.vanished.emplace_back(uid, ms);
            } else if (!n.apply_line(line, false)) {
                return bad("bad line");
            }
        }
        if (!ended) return bad("truncated");

        // The log must belong to this snapshot.
        unique_fd lfd(::open((_base + ".log").c_str(), O_RDWR | O_CLOEXEC));
        if (!lfd && errno == EACCES) lfd.reset(::open((_base + ".log").c_str(), O_RDONLY | O_CLOEXEC));
        uint64_t lgen = 0;
        std::string head;
        struct stat lst{};
        if (lfd) {
            char hb[64];
            ssize_t k = ::pread(lfd.get(), hb, sizeof hb, 0);
            if (k > 0) head.assign(hb, size_t(k));
            size_t nl = head.find('\n');
            if (nl != std::string::npos) lgen = parse_header(head.substr(0, nl), "tern-log");
            ::fstat(lfd.get(), &lst);
            _max_gen_seen = std::max(_max_gen_seen, lgen);
        } else if (errno != ENOENT) {
            return status::from_errno("open " + _base + ".log");
        }
        if (lgen > gen && attempt < 20) {
            // A writer replaced the snapshot after we opened it; read the new one.
            nap_ms(1 + attempt);
            continue;
        }

        // Install: keep the old entries to report what changed.
        bool was_loaded = _loaded;
        uint32_t old_uv = uidvalidity;
        size_t old_kw = keywords.size();
        std::vector<index_entry> old = std::move(entries);
        uidvalidity = n.uidvalidity;
        uidnext = n.uidnext;
        highestmodseq = n.highestmodseq;
        first_recent = n.first_recent;
        vanished_floor = n.vanished_floor;
        dirty = n.dirty;
        std::copy(n.scan, n.scan + 4, scan);
        keywords = std::move(n.keywords);
        vanished = std::move(n.vanished);
        entries = std::move(n.entries);
        _tombstones = 0;
        _gen = gen;
        _snap_ino = st.st_ino;
        _snap_size = uint64_t(st.st_size);
        _snap_fd = std::move(fd);
        _loaded = true;
        if (lfd && lgen == gen) {
            _log_fd = std::move(lfd);
            _log_ino = lst.st_ino;
            _log_off = head.find('\n') + 1;
            _log_stale = false;
            // Records of the log are reported through the diff below, not one by one.
            changes saved = std::move(_changes);
            _changes = {};
            status s = read_log(false);
            _changes = std::move(saved);
            if (!s) {
                _loaded = false;
                return s;
            }
        } else {
            reset_log_state();
            if (lfd) {
                _log_fd = std::move(lfd);  // stale: keep it for the inode check
                _log_ino = lst.st_ino;
            }
        }
        erase_pending();
        if (was_loaded && old_uv != uidvalidity) {
            _changes = {};
            _changes.uidvalidity_changed = true;
        } else if (was_loaded) {
            diff_report(old);
            if (keywords.size() != old_kw) _changes.keywords_changed = true;
        }
        return status::ok();
    }
}

void folder_index::diff_report(const std::vector<index_entry>& old) {
    size_t i = 0, j = 0;
    while (i < old.size() || j < entries.size()) {
        if (i < old.size() && old[i].loc == 'X') {
            i++;
            continue;
        }
        if (j == entries.size() || (i < old.size() && old[i].msg.uid < entries[j].msg.uid)) {
            _changes.expunged.push_back(old[i++].msg.uid);
        } else if (i == old.size() || entries[j].msg.uid < old[i].msg.uid) {
            _changes.added.push_back(entries[j++].msg.uid);
        } else {
            if (old[i].msg.modseq != entries[j].msg.modseq || old[i].msg.flags != entries[j].msg.flags ||
                old[i].msg.keywords != entries[j].msg.keywords)
                _changes.flags_changed.push_back(entries[j].msg.uid);
            i++;
            j++;
        }
    }
}

status folder_index::refresh() {
    if (!_loaded) return load_full();
    struct stat st;
    if (::stat(_base.c_str(), &st) != 0) {
        if (errno == ENOENT) return status::fail(ENOENT, _base + ": index removed");
        return status::from_errno("stat " + _base);
    }
    if (st.st_ino != _snap_ino) return load_full();
    struct stat lst;
    if (::stat((_base + ".log").c_str(), &lst) != 0) {
        if (errno != ENOENT) return status::from_errno("stat " + _base + ".log");
        reset_log_state();
        return status::ok();
    }
    if (lst.st_ino != _log_ino) {
        // A writer recreated the log (after finding it stale): start it over.
        unique_fd lfd(::open((_base + ".log").c_str(), O_RDWR | O_CLOEXEC));
        if (!lfd && errno == EACCES) lfd.reset(::open((_base + ".log").c_str(), O_RDONLY | O_CLOEXEC));
        if (!lfd) return status::from_errno("open " + _base + ".log");
        char hb[64];
        ssize_t k = ::pread(lfd.get(), hb, sizeof hb, 0);
        std::string head(hb, k > 0 ? size_t(k) : 0);
        size_t nl = head.find('\n');
        uint64_t lgen = nl == std::string::npos ? 0 : parse_header(head.substr(0, nl), "tern-log");
        if (lgen > _gen) return load_full();
        _log_fd = std::move(lfd);
        _log_ino = lst.st_ino;
        if (lgen < _gen) {
            _log_stale = true;
            return status::ok();
        }
        _log_off = nl + 1;
        _log_stale = false;
    }
    if (_log_stale) return status::ok();
    status s = read_log(false);
    erase_pending();
    return s;
}

changes folder_index::take_changes() {
    changes c = std::move(_changes);
    _changes = {};
    if (c.uidvalidity_changed) {
        c.added.clear();
        c.flags_changed.clear();
        c.expunged.clear();
        return c;
    }
    auto norm = [](std::vector<uint32_t>& v) {
        std::sort(v.begin(), v.end());
        v.erase(std::unique(v.begin(), v.end()), v.end());
    };
    norm(c.added);
    norm(c.flags_changed);
    norm(c.expunged);
    // Added and gone within one sync: the session never needs to hear of it.
    std::vector<uint32_t> both;
    std::set_intersection(c.added.begin(), c.added.end(), c.expunged.begin(), c.expunged.end(),
                          std::back_inserter(both));
    auto minus = [](std::vector<uint32_t>& v, const std::vector<uint32_t>& drop) {
        std::vector<uint32_t> out;
        std::set_difference(v.begin(), v.end(), drop.begin(), drop.end(), std::back_inserter(out));
        v = std::move(out);
    };
    minus(c.added, both);
    minus(c.expunged, both);
    minus(c.flags_changed, c.added);
    minus(c.flags_changed, c.expunged);
    minus(c.flags_changed, both);
    return c;
}

}  // namespace tern::mailbox
