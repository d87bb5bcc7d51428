// resolve.cpp - see resolve.hpp.
#include "local-delivery/resolve.hpp"

#include <algorithm>
#include <cctype>

#include "lib/fd.hpp"
#include "lib/strutil.hpp"

namespace tern::local {

const char* leaf_kind_name(leaf_kind k) {
    switch (k) {
    case leaf_kind::maildir: return "maildir";
    case leaf_kind::mbox: return "mbox";
    case leaf_kind::file: return "file";
    case leaf_kind::command: return "command";
    case leaf_kind::forward: return "forward";
    }
    return "?";
}

std::pair<std::string, std::string> split_extension(std::string_view local, std::string_view delimiters) {
    if (delimiters.empty() || local.empty()) return {std::string(local), ""};
    size_t p = local.find_first_of(delimiters);
    if (p == std::string_view::npos || p == 0) return {std::string(local), ""};
    return {std::string(local.substr(0, p)), std::string(local.substr(p + 1))};
}

std::string loop_key(std::string_view address) { return to_lower(address); }

std::string expand_forward_path(std::string_view templ, const user_info& u, std::string_view extension,
                                std::string_view delimiter) {
    std::string out;
    for (size_t i = 0; i < templ.size();) {
        if (templ[i] != '$') {
            out += templ[i++];
            continue;
        }
        std::string name;
        size_t j = i + 1;
        if (j < templ.size() && (templ[j] == '{' || templ[j] == '(')) {
            char close = templ[j] == '{' ? '}' : ')';
            size_t e = templ.find(close, j);
            if (e == std::string_view::npos) return "";
            name = std::string(templ.substr(j + 1, e - j - 1));
            j = e + 1;
        } else {
            while (j < templ.size() && (std::isalnum(static_cast<unsigned char>(templ[j])) || templ[j] == '_')) ++j;
            name = std::string(templ.substr(i + 1, j - i - 1));
        }
        if (name == "home") out += u.home;
        else if (name == "user") out += u.name;
        else if (name == "extension") {
            if (extension.empty()) return "";
            out += extension;
        } else if (name == "recipient_delimiter") {
            if (!delimiter.empty()) out += delimiter.front();
        } else {
            return "";  // unknown names make the element unusable
        }
        i = j;
    }
    return out;
}

struct resolver::state {
    resolution res;
    std::set<std::string> leaf_keys;  // kind + dest, for duplicates
    std::vector<std::string> path;    // loop keys of the addresses being expanded
    const std::set<std::string>* delivered_to = nullptr;
    bool stopped = false;
};

bool resolver::fail(state& st, outcome o, std::string status, std::string text) {
    // the first defer or bounce decides; a defer wins over a bounce found later
    if (!st.stopped) {
        st.res.result = o;
        st.res.status = std::move(status);
        st.res.text = std::move(text);
        st.stopped = true;
    }
    return false;
}

bool resolver::add_leaf(state& st, leaf l) {
    std::string key = std::string(leaf_kind_name(l.kind)) + ":" + l.dest;
    if (!st.leaf_keys.insert(key).second) return true;  // the same target twice: once is enough
    if (st.res.leaves.size() >= _s.leaf_limit)
        return fail(st, outcome::bounce, "5.2.4",
                    "expansion of the recipient gives more than " + std::to_string(_s.leaf_limit) + " destinations");
    st.res.leaves.push_back(std::move(l));
    return true;
}

namespace {

// A target address as written: "user" alone stays unqualified (local).
std::string with_extension(const std::string& address, const std::string& ext, std::string_view delimiters) {
    if (ext.empty() || delimiters.empty()) return address;
    std::string_view local = address_local(address);
    if (local.find_first_of(delimiters) != std::string_view::npos) return address;  // has its own
    std::string out(local);
    out += delimiters.front();
    out += ext;
    auto at = address.rfind('@');
    if (at != std::string::npos) out += address.substr(at);
    return out;
}

bool safe_relative_path(std::string_view p) {
    if (p.empty()) return false;
    for (auto& part : split_char(p, '/'))
        if (part == "..") return false;
    return p.find('\0') == std::string_view::npos;
}

std::string join_path(const std::string& dir, std::string_view rel) {
    std::string out = dir;
    while (!rel.empty() && rel.front() == '/') rel.remove_prefix(1);
    if (!out.empty() && out.back() != '/') out += '/';
    out += rel;
    return out;
}

}  // namespace

bool resolver::expand_targets(state& st, const std::vector<target>& targets, size_t depth, const std::string& parent,
                              const std::string& ext, bool ext_unmatched, source_class cls, const user_info& privs,
                              const std::string& origin) {
    for (const auto& t : targets) {
        switch (t.kind) {
        case target_kind::address: {
            std::string a = t.text;
            if (ext_unmatched && _s.propagate_extension) a = with_extension(a, ext, _s.delimiters);
            if (!expand(st, a, depth + 1, t.literal, origin)) return false;
            break;
        }
        case target_kind::file: {
            if (!(_s.allow_files & static_cast<unsigned>(cls)))
                return fail(st, outcome::bounce, "5.7.1", origin + ": mail to files is not allowed here");
            if (t.text.empty() || t.text.front() != '/')
                return fail(st, outcome::bounce, "5.3.5", origin + ": file name is not absolute: " + t.text);
            leaf l;
            l.kind = leaf_kind::file;
            l.dest = t.text;
            l.as = privs;
            l.address = parent;
            l.origin = origin;
            if (!add_leaf(st, std::move(l))) return false;
            break;
        }
        case target_kind::command: {
            if (!(_s.allow_commands & static_cast<unsigned>(cls)))
                return fail(st, outcome::bounce, "5.7.1", origin + ": mail to commands is not allowed here");
            leaf l;
            l.kind = leaf_kind::command;
            l.dest = t.text;
            l.as = privs;
            l.address = parent;
            auto [u, e] = split_extension(address_local(parent), _s.delimiters);
            l.user = u;
            l.extension = e;
            l.origin = origin;
            if (!add_leaf(st, std::move(l))) return false;
            break;
        }
        case target_kind::include: {
            if (depth + 1 > _s.depth_limit)
                return fail(st, outcome::bounce, "5.4.6", "expansion of " + parent + " is nested too deeply");
            if (t.text.empty() || t.text.front() != '/')
                return fail(st, outcome::bounce, "5.3.5", origin + ": :include: file name is not absolute");
            // aliases' include files are read as root; .forward's as the user
            user_info reader = cls == source_class::alias ? user_info{} : privs;
            auto f = _h.read_file(reader, t.text);
            if (f.status == found::error)
                return fail(st, outcome::defer, "4.3.0", ":include:" + t.text + ": " + f.error);
            if (f.status == found::no)
                return fail(st, outcome::bounce, "5.3.5", ":include:" + t.text + ": no such file");
            // in a user's context, only the user's (or root's) include files count
            if (cls != source_class::alias && f.owner != privs.uid && f.owner != 0)
                return fail(st, outcome::defer, "4.7.0", ":include:" + t.text + ": not owned by " + privs.name);
            auto parsed = _h.parse(f.text);
            if (!parsed.ok)
                return fail(st, outcome::defer, "4.3.5", ":include:" + t.text + ": " + parsed.error);
            // files and commands in an aliases' include file run as the
            // file's owner, or default_privs when root owns it; in a user's
            // own include file, as that user
            user_info inc_privs = privs;
            if (cls == source_class::alias) {
                inc_privs = _s.default_privs;
                if (f.owner != 0 && _h.user_by_uid) {
                    if (auto o = _h.user_by_uid(f.owner)) inc_privs = *o;
                }
            }
            if (!expand_targets(st, parsed.targets, depth + 1, parent, ext, ext_unmatched, source_class::include,
                                inc_privs, ":include:" + t.text))
                return false;
            break;
        }
        }
    }
    return true;
}

bool resolver::expand(state& st, const std::string& address, size_t depth, bool literal, const std::string& origin) {
    if (st.stopped) return false;
    if (depth > _s.depth_limit)
        return fail(st, outcome::bounce, "5.4.6", "expansion of " + address + " is nested too deeply (a loop?)");
    std::string key = loop_key(address);
    if (st.delivered_to && st.delivered_to->count(key))
        return fail(st, outcome::bounce, "5.4.6", "mail forwarding loop for " + address);
    // an address below itself: deliver to its own mailbox, expand no further
    if (std::find(st.path.begin(), st.path.end(), key) != st.path.end()) literal = true;

    std::string domain = address_domain(address);
    std::string local(address_local(address));
    bool table_error = false;
    domain_class cls = _s.domains.classify(domain, &table_error);
    if (table_error) return fail(st, outcome::defer, "4.3.0", "domain table lookup failed for " + domain);
    auto [user0, ext0] = split_extension(local, _s.delimiters);
    // virtual aliases come first, for every domain (Postfix applies them
    // before routing); an address aliased to itself is then delivered as is
    if (!literal && _h.valias) {
        std::string ll = to_lower(local), lu = to_lower(user0);
        std::vector<std::string> keys{ll + (domain.empty() ? "" : "@" + domain)};
        if (!ext0.empty()) keys.push_back(lu + (domain.empty() ? "" : "@" + domain));
        if (!domain.empty()) keys.push_back("@" + domain);
        for (size_t i = 0; i < keys.size(); ++i) {
            auto v = _h.valias(keys[i]);
            if (v.status == found::error)
                return fail(st, outcome::defer, "4.3.0", "virtual alias lookup of " + keys[i] + " failed: " + v.error);
            if (v.status == found::no) continue;
            std::vector<target> targets;
            for (auto& a : split_list(v.value)) targets.push_back({target_kind::address, a, false});
            if (targets.empty())
                return fail(st, outcome::defer, "4.3.5", "virtual alias " + keys[i] + " has an empty value");
            bool unmatched = !ext0.empty() && keys[i] != keys[0];
            st.path.push_back(key);
            bool ok = expand_targets(st, targets, depth, key, ext0, unmatched, source_class::alias, _s.default_privs,
                                     "virtual alias " + keys[i]);
            st.path.pop_back();
            return ok;
        }
    }
    if (cls == domain_class::virtual_alias)
        return fail(st, outcome::bounce, "5.1.1", "unknown user: " + key + " (no virtual alias)");
    // at the top, whatever the qmgr sent us is ours (transport_maps may
    // route any domain here); below, other domains are forwarded
    if (cls == domain_class::other && depth > 0) {
        leaf l;
        l.kind = leaf_kind::forward;
        l.dest = address;
        l.address = st.path.empty() ? key : st.path.back();
        l.origin = origin;
        return add_leaf(st, std::move(l));
    }
    auto [user, ext] = split_extension(local, _s.delimiters);
    std::string luser = to_lower(user), llocal = to_lower(local);
    std::string ldomain = domain;

    st.path.push_back(key);
    struct pop_guard {
        std::vector<std::string>& p;
        ~pop_guard() { p.pop_back(); }
    } guard{st.path};

    // aliases: the whole local part first, then without the extension
    auto try_aliases = [&](const std::vector<std::string>& keys, bool& handled) -> bool {
        handled = false;
        for (size_t i = 0; i < keys.size(); ++i) {
            auto v = _h.alias(keys[i]);
            if (v.status == found::error)
                return fail(st, outcome::defer, "4.3.0", "alias lookup of " + keys[i] + " failed: " + v.error);
            if (v.status == found::no) continue;
            auto parsed = _h.parse(v.value);
            if (!parsed.ok)
                return fail(st, outcome::defer, "4.3.5", "alias " + keys[i] + " has a bad value: " + parsed.error);
            handled = true;
            // the key without extension matched: the extension was not used
            bool unmatched = !ext.empty() && (keys[i] == luser || keys[i] == luser + "@" + ldomain);
            return expand_targets(st, parsed.targets, depth, key, ext, unmatched, source_class::alias,
                                  _s.default_privs, "alias " + keys[i]);
        }
        return true;
    };

    if (cls == domain_class::virtual_mailbox) {
        std::vector<std::string> keys{llocal + "@" + ldomain};
        if (!ext.empty()) keys.push_back(luser + "@" + ldomain);
        keys.push_back("@" + ldomain);
        for (const auto& k : keys) {
            auto v = _h.vmailbox(k);
            if (v.status == found::error)
                return fail(st, outcome::defer, "4.3.0", "virtual mailbox lookup of " + k + " failed: " + v.error);
            if (v.status == found::no) continue;
            std::string rel(trim(v.value));
            if (!safe_relative_path(rel))
                return fail(st, outcome::defer, "4.3.5", "virtual mailbox path for " + k + " is not acceptable: " + rel);
            leaf l;
            l.kind = rel.back() == '/' ? leaf_kind::maildir : leaf_kind::mbox;
            l.dest = join_path(_s.virtual_mailbox_base, rel);
            l.as = _s.virtual_owner;
            l.address = key;
            l.user = user;
            l.extension = ext;
            l.origin = "virtual " + k;
            l.is_virtual = true;
            return add_leaf(st, std::move(l));
        }
        if (!literal && _s.virtual_alias_fallback) {
            std::vector<std::string> akeys{llocal + "@" + ldomain};
            if (!ext.empty()) akeys.push_back(luser + "@" + ldomain);
            akeys.push_back(llocal);
            if (!ext.empty()) akeys.push_back(luser);
            bool handled = false;
            if (!try_aliases(akeys, handled)) return false;
            if (handled) return true;
        }
        return fail(st, outcome::bounce, "5.1.1", "unknown user: " + key);
    }

    // local (mydestination) users
    if (!literal) {
        std::vector<std::string> akeys{llocal};
        if (!ext.empty()) akeys.push_back(luser);
        bool handled = false;
        if (!try_aliases(akeys, handled)) return false;
        if (handled) return true;
    }
    if (luser.find('/') != std::string::npos || luser.empty() || luser[0] == '.')
        return fail(st, outcome::bounce, "5.1.1", "unknown user: " + key);
    auto pw = _h.user(luser);
    if (!pw) return fail(st, outcome::bounce, "5.1.1", "unknown user: " + key);

    if (!literal && !_s.forward_path.empty()) {
        std::vector<std::pair<std::string, bool>> files;  // path, names the extension
        for (const auto& t : _s.forward_path) {
            std::string f = expand_forward_path(t, *pw, to_lower(ext), _s.delimiters);
            if (!f.empty() && f.front() == '/') files.emplace_back(f, t.find("extension") != std::string::npos);
        }
        for (const auto& [f, with_ext] : files) {
            auto t = _h.read_file(*pw, f);
            if (t.status == found::error) return fail(st, outcome::defer, "4.3.0", f + ": " + t.error);
            if (t.status == found::no) continue;
            // a .forward someone else planted is not the user's wish
            if (t.owner != pw->uid && t.owner != 0) continue;
            auto parsed = _h.parse(t.text);
            if (!parsed.ok) return fail(st, outcome::defer, "4.3.5", f + ": " + parsed.error);
            if (parsed.targets.empty()) continue;  // an empty .forward is no .forward
            // a file without the extension in its name leaves it unmatched
            bool unmatched = !ext.empty() && !with_ext;
            return expand_targets(st, parsed.targets, depth, key, ext, unmatched, source_class::forward, *pw,
                                  "~" + pw->name + "/" + basename_of(f));
        }
    }

    leaf l;
    if (!_s.home_mailbox.empty()) {
        l.dest = join_path(pw->home, _s.home_mailbox);
        l.kind = _s.home_mailbox.back() == '/' ? leaf_kind::maildir : leaf_kind::mbox;
    } else {
        l.dest = join_path(_s.mail_spool_directory, pw->name);
        l.kind = leaf_kind::mbox;
    }
    l.as = *pw;
    l.address = key;
    l.user = pw->name;
    l.extension = ext;
    l.origin = "user " + pw->name;
    return add_leaf(st, std::move(l));
}

resolution resolver::resolve(const std::string& recipient, const std::set<std::string>& delivered_to) {
    state st;
    st.delivered_to = &delivered_to;
    expand(st, recipient, 0, false, "recipient");
    if (st.stopped) st.res.leaves.clear();
    return std::move(st.res);
}

}  // namespace tern::local
