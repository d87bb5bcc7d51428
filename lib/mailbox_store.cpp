// mailbox_store.cpp - a user's mail store: folder names, listing with LIST
// attributes, create/delete/rename (INBOX rename too), subscriptions and the
// default special-use folders. Maildir stores keep folders as maildir++
// ".A.B" directories; mbox stores as files under folder_dir.
// Called by imapd (and pop3d/local-delivery to open INBOX).
// SECURITY: folder names come from IMAP clients: normalize_folder_name()
// rejects everything that could leave the store ("..", empty components,
// control characters) before a name becomes a path.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/mailbox_impl.hpp"
#include "lib/mailbox_lock.hpp"
#include "lib/strutil.hpp"

namespace tern::mailbox {
namespace {

std::atomic<unsigned> temp_counter{0};

std::string temp_name(const std::string& dir, const char* what) {
    return dir + "/.." + what + "." + std::to_string(::getpid()) + "." + std::to_string(++temp_counter);
}

constexpr std::pair<const char*, uint32_t> special_folders[] = {
    {"Sent", attr::sent}, {"Drafts", attr::drafts}, {"Trash", attr::trash}, {"Junk", attr::junk},
    {"Archive", attr::archive},
};

bool is_dir(const std::string& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

}  // namespace

// ---------------------------------------------------------------- names

std::optional<std::string> normalize_folder_name(std::string_view name, std::string* reason) {
    auto bad = [&](const char* why) -> std::optional<std::string> {
        if (reason) *reason = why;
        return std::nullopt;
    };
    if (name.empty()) return bad("empty folder name");
    if (name.size() > 1000) return bad("folder name too long");
    for (unsigned char c : name) {
        if (c < ' ' || c == 0x7f) return bad("control character in folder name");
        if (c == '*' || c == '%') return bad("wildcard character in folder name");
    }
    std::string out;
    size_t start = 0;
    for (;;) {
        size_t sl = name.find(separator, start);
        std::string_view comp = name.substr(start, sl == std::string_view::npos ? std::string_view::npos : sl - start);
        if (comp.empty()) return bad("empty hierarchy level in folder name");
        if (comp == "." || comp == "..") return bad("\".\" or \"..\" in folder name");
        if (comp.size() > 200) return bad("folder name level too long");
        if (start == 0 && iequals(comp, "INBOX"))
            out += "INBOX";
        else
            out += comp;
        if (sl == std::string_view::npos) break;
        out += separator;
        start = sl + 1;
    }
    return out;
}

uint32_t special_use_of(std::string_view name) {
    for (auto& [n, a] : special_folders)
        if (name == n) return a;
    return 0;
}

std::vector<std::string> attr_names(uint32_t attrs) {
    static constexpr std::pair<uint32_t, const char*> names[] = {
        {attr::noselect, "\\Noselect"}, {attr::has_children, "\\HasChildren"},
        {attr::has_no_children, "\\HasNoChildren"}, {attr::noinferiors, "\\Noinferiors"},
        {attr::sent, "\\Sent"}, {attr::drafts, "\\Drafts"}, {attr::trash, "\\Trash"},
        {attr::junk, "\\Junk"}, {attr::archive, "\\Archive"},
    };
    std::vector<std::string> out;
    for (auto& [bit, n] : names)
        if (attrs & bit) out.emplace_back(n);
    return out;
}

std::string maildirpp_encode(std::string_view name) {
    std::string out = ".";
    for (char c : name) {
        if (c == separator)
            out += '.';
        else if (c == '.')
            out += "%2E";
        else
            out += c;
    }
    return out;
}

std::optional<std::string> maildirpp_decode(std::string_view dirname) {
    if (dirname.size() < 2 || dirname[0] != '.' || dirname[1] == '.') return std::nullopt;
    std::string out;
    for (size_t i = 1; i < dirname.size(); i++) {
        char c = dirname[i];
        if (c == '.')
            out += separator;
        else if (c == '%' && dirname.substr(i, 3) == "%2E") {
            out += '.';
            i += 2;
        } else {
            out += c;
        }
    }
    auto n = normalize_folder_name(out);
    // Only names we would have written ourselves (no foreign escapes, INBOX spelled once).
    if (!n || maildirpp_encode(*n) != dirname || *n == "INBOX") return std::nullopt;
    return n;
}

std::vector<folder_info> finish_folder_list(std::vector<folder_info> in) {
    std::map<std::string, uint32_t> all;
    for (auto& f : in) all[f.name] |= f.attrs;
    // Parents that do not exist themselves are listed \Noselect (RFC 3501 6.3.8).
    std::vector<std::string> names;
    for (auto& [n, a] : all) names.push_back(n);
    std::set<std::string> parents;
    for (auto& n : names) {
        for (size_t p = n.find(separator); p != std::string::npos; p = n.find(separator, p + 1)) {
            std::string parent = n.substr(0, p);
            parents.insert(parent);
            if (!all.count(parent)) all[parent] = attr::noselect;
        }
    }
    std::vector<folder_info> out;
    for (auto& [n, a] : all) {
        uint32_t at = a | (parents.count(n) ? attr::has_children : attr::has_no_children) |
                      (n.find(separator) == std::string::npos ? special_use_of(n) : 0);
        folder_info fi{n, at};
        if (n == "INBOX")
            out.insert(out.begin(), fi);
        else
            out.push_back(fi);
    }
    return out;
}

bool remove_tree(const std::string& path) {
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return errno == ENOENT;
    if (!S_ISDIR(st.st_mode)) return ::unlink(path.c_str()) == 0 || errno == ENOENT;
    DIR* d = ::opendir(path.c_str());
    if (!d) return false;
    std::vector<std::string> kids;
    while (struct dirent* de = ::readdir(d)) {
        std::string n = de->d_name;
        if (n != "." && n != "..") kids.push_back(n);
    }
    ::closedir(d);
    for (auto& k : kids)
        if (!remove_tree(path + "/" + k)) return false;
    return ::rmdir(path.c_str()) == 0 || errno == ENOENT;
}

status move_inbox(store& st, const std::string& to) {
    if (status s = st.create_folder(to); !s) return s;
    std::unique_ptr<folder> inbox, dest;
    if (status s = st.open_folder("INBOX", open_mode::read_write, inbox); !s) return s;
    if (status s = st.open_folder(to, open_mode::read_write, dest); !s) return s;
    std::vector<uint32_t> uids;
    for (size_t i = 0; i < inbox->count(); i++) uids.push_back(inbox->at(i).uid);
    std::vector<std::pair<uint32_t, uint32_t>> map;
    return inbox->copy_to(uids, *dest, true, map);
}

// ---------------------------------------------------------------- store

store::~store() = default;

status store::open(const store_spec& spec, const limits& lim, std::unique_ptr<store>& out) {
    if (spec.path.empty()) return status::fail(EINVAL, "mail store without a path");
    if (spec.type == store_type::maildir)
        out = std::make_unique<maildir_store>(spec, lim);
    else
        out = std::make_unique<mbox_store>(spec, lim);
    return status::ok();
}

bool store::folder_exists(std::string_view name) {
    auto n = normalize_folder_name(name);
    if (!n) return false;
    std::vector<folder_info> list;
    if (!list_folders(list)) return false;
    for (auto& f : list)
        if (f.name == *n) return !(f.attrs & attr::noselect);
    return false;
}

status store::subscriptions(std::vector<std::string>& out) {
    out.clear();
    auto text = read_file(subscriptions_path(), 16u << 20);
    if (!text) {
        if (errno == ENOENT) return status::ok();
        return status::from_errno("read " + subscriptions_path());
    }
    for (auto& line : split_char(*text, '\n'))
        if (!line.empty()) out.push_back(line);
    return status::ok();
}

namespace {
// Read-modify-write of the subscriptions file under its lock.
template <class F>
status edit_subscriptions(store& st, const std::string& path, int timeout, F&& edit) {
    if (!make_dirs(dirname_of(path), 0700)) return status::from_errno("mkdir " + dirname_of(path));
    unique_fd lock = open_locked(path + ".lock", timeout);
    if (!lock) return status::from_errno("lock " + path);
    std::vector<std::string> subs;
    if (status s = st.subscriptions(subs); !s) return s;
    std::vector<std::string> before = subs;
    edit(subs);
    if (subs == before) return status::ok();
    std::string text;
    for (auto& s : subs) text += s + "\n";
    if (!write_file_atomic(path, text, 0600)) return status::from_errno("write " + path);
    return status::ok();
}
}  // namespace

status store::subscribe(std::string_view name, bool on) {
    std::string reason;
    auto n = normalize_folder_name(name, &reason);
    if (!n) return status::fail(EINVAL, reason);
    return edit_subscriptions(*this, subscriptions_path(), _lim.lock_timeout, [&](std::vector<std::string>& subs) {
        auto it = std::find(subs.begin(), subs.end(), *n);
        if (on && it == subs.end()) subs.push_back(*n);
        if (!on && it != subs.end()) subs.erase(it);
    });
}

status store::rename_subscriptions(const std::string& from, const std::string& to) {
    return edit_subscriptions(*this, subscriptions_path(), _lim.lock_timeout, [&](std::vector<std::string>& subs) {
        for (auto& s : subs) {
            if (s == from)
                s = to;
            else if (s.starts_with(from + separator))
                s = to + s.substr(from.size());
        }
    });
}

status store::ensure_default_folders() {
    std::unique_ptr<folder> inbox;
    if (status s = open_folder("INBOX", open_mode::read_only, inbox); !s) return s;
    if (_spec.type == store_type::mbox && _spec.folder_dir.empty()) return subscribe("INBOX", true);
    for (auto& [name, a] : special_folders) {
        status s = create_folder(name);
        if (!s && s.err != EEXIST) return s;
    }
    if (status s = subscribe("INBOX", true); !s) return s;
    for (auto& [name, a] : special_folders)
        if (status s = subscribe(name, true); !s) return s;
    return status::ok();
}

// ---------------------------------------------------------------- maildir++

std::string maildir_store::dir_of(const std::string& n) const {
    return n == "INBOX" ? _spec.path : _spec.path + "/" + maildirpp_encode(n);
}

status maildir_store::folder_names(std::vector<std::string>& out) {
    out.clear();
    DIR* d = ::opendir(_spec.path.c_str());
    if (!d) {
        if (errno == ENOENT) return status::ok();
        return status::from_errno("opendir " + _spec.path);
    }
    while (struct dirent* de = ::readdir(d)) {
        if (de->d_name[0] != '.') continue;
        auto n = maildirpp_decode(de->d_name);
        if (!n) continue;
        if (de->d_type != DT_DIR && !(de->d_type == DT_UNKNOWN && is_dir(_spec.path + "/" + de->d_name))) continue;
        if (out.size() >= _lim.folder_limit) break;
        out.push_back(*n);
    }
    ::closedir(d);
    return status::ok();
}

status maildir_store::list_folders(std::vector<folder_info>& out) {
    std::vector<std::string> names;
    if (status s = folder_names(names); !s) return s;
    std::vector<folder_info> in{{"INBOX", 0}};
    for (auto& n : names) in.push_back({n, 0});
    out = finish_folder_list(std::move(in));
    return status::ok();
}

status maildir_store::create_folder(std::string_view name) {
    std::string reason;
    auto n = normalize_folder_name(name, &reason);
    if (!n) return status::fail(EINVAL, reason);
    if (*n == "INBOX" || is_dir(dir_of(*n))) return status::fail(EEXIST, *n + " already exists");
    if (maildirpp_encode(*n).size() > 250) return status::fail(EINVAL, "folder name too long");
    std::vector<std::string> names;
    if (status s = folder_names(names); !s) return s;
    if (names.size() >= _lim.folder_limit) return status::fail(EDQUOT, "too many folders (mailbox_folder_limit)");
    if (status s = make_maildir(_spec.path); !s) return s;
    // Build it under a temporary name, then rename: nobody sees half a folder.
    std::string tmp = temp_name(_spec.path, "tern-new");
    if (status s = make_maildir(tmp); !s) {
        remove_tree(tmp);
        return s;
    }
    if (::rename(tmp.c_str(), dir_of(*n).c_str()) != 0) {
        int e = errno;
        remove_tree(tmp);
        if (e == EEXIST || e == ENOTEMPTY) return status::fail(EEXIST, *n + " already exists");
        errno = e;
        return status::from_errno("rename " + dir_of(*n));
    }
    fsync_dir(_spec.path);
    return status::ok();
}

status maildir_store::delete_folder(std::string_view name) {
    std::string reason;
    auto n = normalize_folder_name(name, &reason);
    if (!n) return status::fail(EINVAL, reason);
    if (*n == "INBOX") return status::fail(EINVAL, "INBOX cannot be deleted");
    std::string dir = dir_of(*n);
    if (!is_dir(dir)) return status::fail(ENOENT, "no such folder: " + *n);
    // Rename first: the folder disappears at once, the removal can take its time.
    std::string tmp = temp_name(_spec.path, "tern-del");
    if (::rename(dir.c_str(), tmp.c_str()) != 0) return status::from_errno("rename " + dir);
    if (!remove_tree(tmp)) return status::from_errno("remove " + tmp);
    return status::ok();
}

status maildir_store::rename_folder(std::string_view from, std::string_view to) {
    std::string reason;
    auto f = normalize_folder_name(from, &reason);
    if (!f) return status::fail(EINVAL, reason);
    auto t = normalize_folder_name(to, &reason);
    if (!t) return status::fail(EINVAL, reason);
    if (*t == "INBOX" || *t == *f) return status::fail(EEXIST, *t + " already exists");
    if (t->starts_with(*f + separator)) return status::fail(EINVAL, "cannot rename a folder into itself");
    if (maildirpp_encode(*t).size() > 250) return status::fail(EINVAL, "folder name too long");
    if (*f == "INBOX") return move_inbox(*this, *t);
    std::vector<std::string> names;
    if (status s = folder_names(names); !s) return s;
    std::vector<std::pair<std::string, std::string>> moves;
    for (auto& n : names)
        if (n == *f || n.starts_with(*f + separator)) moves.emplace_back(n, *t + n.substr(f->size()));
    if (moves.empty()) return status::fail(ENOENT, "no such folder: " + *f);
    for (auto& [a, b] : moves) {
        if (is_dir(dir_of(b))) return status::fail(EEXIST, b + " already exists");
        if (maildirpp_encode(b).size() > 250) return status::fail(EINVAL, "folder name too long");
    }
    for (auto& [a, b] : moves) {
        if (::rename(dir_of(a).c_str(), dir_of(b).c_str()) != 0) return status::from_errno("rename " + dir_of(a));
    }
    fsync_dir(_spec.path);
    return rename_subscriptions(*f, *t);
}

status maildir_store::open_folder(std::string_view name, open_mode mode, std::unique_ptr<folder>& out) {
    std::string reason;
    auto n = normalize_folder_name(name, &reason);
    if (!n) return status::fail(EINVAL, reason);
    return maildir_folder::open(dir_of(*n), *n, mode, _lim, out);
}

// ---------------------------------------------------------------- mbox

mbox_store::mbox_store(store_spec spec, limits lim) : store(std::move(spec), lim) {
    if (_spec.index_dir.empty())
        _spec.index_dir = _spec.folder_dir.empty() ? _spec.path + ".tern-index" : _spec.folder_dir + "/.tern-index";
}

std::string mbox_store::path_of(const std::string& n) const {
    return n == "INBOX" ? _spec.path : _spec.folder_dir + "/" + n;
}

std::string mbox_store::index_base_of(const std::string& n) const { return _spec.index_dir + "/" + n + ".idx"; }

namespace {
// Names an mbox store can hold: no hidden files, nothing that looks like our lock or temp files.
status mbox_name(const store_spec& spec, std::string_view name, std::string& n) {
    std::string reason;
    auto nn = normalize_folder_name(name, &reason);
    if (!nn) return status::fail(EINVAL, reason);
    n = *nn;
    if (n == "INBOX") return status::ok();
    if (spec.folder_dir.empty()) return status::fail(ENOTSUP, "this mbox store holds only INBOX");
    if (n.starts_with("INBOX/")) return status::fail(EINVAL, "INBOX cannot have children in an mbox store");
    for (auto& comp : split_char(n, separator)) {
        if (comp[0] == '.' || comp.ends_with(".lock") || comp.ends_with(".tern-tmp"))
            return status::fail(EINVAL, "folder name not allowed in an mbox store");
    }
    return status::ok();
}

void walk_mbox_dir(const std::string& dir, const std::string& prefix, int depth, size_t limit,
                   std::vector<folder_info>& out) {
    if (depth > 16) return;
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    std::vector<std::pair<std::string, bool>> kids;
    while (struct dirent* de = ::readdir(d)) {
        std::string n = de->d_name;
        if (n[0] == '.' || n.ends_with(".lock") || n.ends_with(".tern-tmp")) continue;
        struct stat st;
        if (::lstat((dir + "/" + n).c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) kids.emplace_back(n, S_ISDIR(st.st_mode));
    }
    ::closedir(d);
    for (auto& [n, isdir] : kids) {
        if (out.size() >= limit) return;
        std::string name = prefix.empty() ? n : prefix + separator + n;
        auto norm = normalize_folder_name(name);
        if (!norm || *norm != name || name == "INBOX") continue;
        out.push_back({name, isdir ? attr::noselect : attr::noinferiors});
        if (isdir) walk_mbox_dir(dir + "/" + n, name, depth + 1, limit, out);
    }
}
}  // namespace

status mbox_store::list_folders(std::vector<folder_info>& out) {
    std::vector<folder_info> in{{"INBOX", attr::noinferiors}};
    if (!_spec.folder_dir.empty()) walk_mbox_dir(_spec.folder_dir, "", 0, _lim.folder_limit, in);
    out = finish_folder_list(std::move(in));
    return status::ok();
}

status mbox_store::create_folder(std::string_view name) {
    std::string n;
    if (status s = mbox_name(_spec, name, n); !s) return s;
    if (n == "INBOX") return status::fail(EEXIST, "INBOX already exists");
    std::vector<folder_info> list;
    walk_mbox_dir(_spec.folder_dir, "", 0, _lim.folder_limit, list);
    if (list.size() >= _lim.folder_limit) return status::fail(EDQUOT, "too many folders (mailbox_folder_limit)");
    std::string p = path_of(n);
    if (!make_dirs(dirname_of(p), 0700)) {
        if (errno == ENOTDIR || errno == EEXIST) return status::fail(EINVAL, "a parent of " + n + " is a folder file");
        return status::from_errno("mkdir " + dirname_of(p));
    }
    unique_fd fd(::open(p.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
        if (errno == EEXIST) return status::fail(EEXIST, n + " already exists");
        return status::from_errno("create " + p);
    }
    fsync_dir(dirname_of(p));
    return status::ok();
}

status mbox_store::delete_folder(std::string_view name) {
    std::string n;
    if (status s = mbox_name(_spec, name, n); !s) return s;
    if (n == "INBOX") return status::fail(EINVAL, "INBOX cannot be deleted");
    std::string p = path_of(n);
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) return status::fail(ENOENT, "no such folder: " + n);
    if (S_ISDIR(st.st_mode)) {
        if (::rmdir(p.c_str()) != 0) {
            if (errno == ENOTEMPTY || errno == EEXIST) return status::fail(ENOTEMPTY, n + " has children");
            return status::from_errno("rmdir " + p);
        }
        remove_tree(_spec.index_dir + "/" + n);
        return status::ok();
    }
    if (::unlink(p.c_str()) != 0) return status::from_errno("unlink " + p);
    std::string base = index_base_of(n);
    for (const char* suffix : {"", ".log", ".lock", ".tmp", ".log.tmp"}) ::unlink((base + suffix).c_str());
    return status::ok();
}

status mbox_store::rename_folder(std::string_view from, std::string_view to) {
    std::string f, t;
    if (status s = mbox_name(_spec, from, f); !s) return s;
    if (status s = mbox_name(_spec, to, t); !s) return s;
    if (t == "INBOX" || t == f) return status::fail(EEXIST, t + " already exists");
    if (t.starts_with(f + separator)) return status::fail(EINVAL, "cannot rename a folder into itself");
    if (f == "INBOX") return move_inbox(*this, t);
    std::string pf = path_of(f), pt = path_of(t);
    struct stat st;
    if (::lstat(pf.c_str(), &st) != 0) return status::fail(ENOENT, "no such folder: " + f);
    if (::lstat(pt.c_str(), &st) == 0) return status::fail(EEXIST, t + " already exists");
    if (!make_dirs(dirname_of(pt), 0700)) return status::fail(EINVAL, "a parent of " + t + " is a folder file");
    if (::rename(pf.c_str(), pt.c_str()) != 0) return status::from_errno("rename " + pf);
    // The index moves along, so the folder keeps its UIDs.
    std::string bf = index_base_of(f), bt = index_base_of(t);
    make_dirs(dirname_of(bt), 0700);
    for (const char* suffix : {"", ".log"}) ::rename((bf + suffix).c_str(), (bt + suffix).c_str());
    ::rename((_spec.index_dir + "/" + f).c_str(), (_spec.index_dir + "/" + t).c_str());
    return rename_subscriptions(f, t);
}

status mbox_store::open_folder(std::string_view name, open_mode mode, std::unique_ptr<folder>& out) {
    std::string n;
    if (status s = mbox_name(_spec, name, n); !s) return s;
    return mbox_folder::open(path_of(n), index_base_of(n), n, mode, _lim, out);
}

}  // namespace tern::mailbox
