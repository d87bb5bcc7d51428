// cmd_list.cpp - LIST and LSUB (RFC 3501 6.3.8-6.3.9) with LIST-EXTENDED
// (RFC 5258: selection SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE;
// return SUBSCRIBED, CHILDREN, SPECIAL-USE, STATUS), LIST-STATUS (RFC
// 5819), CHILDREN (RFC 3348) and SPECIAL-USE (RFC 6154) attributes.
// SECURITY: patterns are client text; matching is a bounded dynamic
// programme (pattern length limited), never exponential backtracking.
#include <algorithm>
#include <map>
#include <set>

#include "imapd/format.hpp"
#include "imapd/session.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

namespace {

constexpr size_t kMaxPattern = 512;

// IMAP list wildcards: '*' matches anything, '%' anything but the separator.
bool list_match(std::string_view name, std::string_view pat) {
    std::vector<char> cur(name.size() + 1, 0), next(name.size() + 1, 0);
    cur[0] = 1;
    for (char p : pat) {
        std::fill(next.begin(), next.end(), 0);
        if (p == '*' || p == '%') {
            bool run = false;
            for (size_t j = 0; j <= name.size(); j++) {
                if (cur[j]) run = true;
                if (run) next[j] = 1;
                if (p == '%' && j < name.size() && name[j] == mailbox::separator) run = false;
            }
        } else {
            for (size_t j = 0; j < name.size(); j++)
                if (cur[j] && name[j] == p) next[j + 1] = 1;
        }
        cur.swap(next);
    }
    return cur[name.size()];
}

// The canonical pattern: reference + pattern, INBOX prefix in upper case.
std::string canonical(std::string_view ref, std::string_view pat) {
    std::string p;
    if (!pat.empty() && pat[0] == mailbox::separator && !ref.empty() && ref.back() == mailbox::separator)
        p = std::string(ref) + std::string(pat.substr(1));
    else
        p = std::string(ref) + std::string(pat);
    if (p.size() >= 5 && iequals(std::string_view(p).substr(0, 5), "INBOX") &&
        (p.size() == 5 || p[5] == mailbox::separator))
        for (size_t i = 0; i < 5; i++) p[i] = char(std::toupper(static_cast<unsigned char>(p[i])));
    return p;
}

std::string attrs_text(uint32_t attrs, bool subscribed, bool nonexistent) {
    std::string out = "(";
    auto add = [&](const std::string& a) {
        if (out.size() > 1) out += ' ';
        out += a;
    };
    if (nonexistent) add("\\NonExistent");
    for (auto& a : mailbox::attr_names(attrs)) add(a);
    if (subscribed) add("\\Subscribed");
    return out + ")";
}

}  // namespace

void session::cmd_list(command& c) {
    bool lsub = c.name == "LSUB";
    const auto& a = c.args;
    size_t i = 0;
    bool sel_subscribed = false, sel_special = false, recursive = false;
    bool ret_subscribed = false, ret_status = false, extended = false;
    std::vector<std::string> status_items;
    if (!lsub && i < a.size() && a[i].is_list()) {
        extended = true;
        for (auto& o : a[i].items) {
            if (o.is("SUBSCRIBED")) sel_subscribed = true;
            else if (o.is("REMOTE")) {
            } else if (o.is("RECURSIVEMATCH")) recursive = true;
            else if (o.is("SPECIAL-USE")) sel_special = true;
            else return bad(c, "Unknown LIST selection option");
        }
        if (recursive && !sel_subscribed && !sel_special) return bad(c, "RECURSIVEMATCH needs another selection option");
        ++i;
    }
    if (a.size() < i + 2 || !a[i].is_astring()) return bad(c, "Usage: " + c.name + " reference mailbox-pattern");
    std::string_view ref = a[i].text;
    std::vector<std::string_view> pats;
    if (a[i + 1].is_list() && !lsub) {
        extended = true;
        for (auto& p : a[i + 1].items) {
            if (!p.is_astring()) return bad(c, "Patterns are strings");
            pats.push_back(p.text);
        }
        if (pats.empty()) return bad(c, "Empty pattern list");
    } else if (a[i + 1].is_astring()) {
        pats.push_back(a[i + 1].text);
    } else {
        return bad(c, "Mailbox pattern expected");
    }
    i += 2;
    if (!lsub && i < a.size()) {
        if (!a[i].is("RETURN") || i + 1 >= a.size() || !a[i + 1].is_list()) return bad(c, "Expected RETURN (options)");
        extended = true;
        const auto& ro = a[i + 1].items;
        for (size_t k = 0; k < ro.size(); k++) {
            if (ro[k].is("SUBSCRIBED")) ret_subscribed = true;
            else if (ro[k].is("CHILDREN") || ro[k].is("SPECIAL-USE")) {
            } else if (ro[k].is("STATUS")) {
                if (k + 1 >= ro.size() || !ro[k + 1].is_list()) return bad(c, "RETURN STATUS needs a list of items");
                std::string err;
                if (!parse_status_items(ro[k + 1], status_items, err)) return bad(c, err);
                ret_status = true;
                ++k;
            } else {
                return bad(c, "Unknown LIST return option");
            }
        }
        i += 2;
    }
    if (i != a.size()) return bad(c, "Too many arguments");
    for (auto p : pats)
        if (p.size() + ref.size() > kMaxPattern) return bad(c, "Pattern too long");

    // LIST "" "": the hierarchy delimiter and root
    if (pats.size() == 1 && pats[0].empty() && !extended) {
        untagged(c.name + " (\\Noselect) \"/\" \"\"");
        return ok(c, c.name + " completed.");
    }

    std::vector<mailbox::folder_info> folders;
    if (auto st = _store->list_folders(folders); !st) return fail(c, st);
    std::set<std::string> subs;
    if (lsub || sel_subscribed || ret_subscribed) {
        std::vector<std::string> v;
        if (auto st = _store->subscriptions(v); !st) return fail(c, st);
        for (auto& s : v) subs.insert(s == "inbox" || iequals(s, "INBOX") ? std::string("INBOX") : s);
    }
    std::vector<std::string> canon;
    for (auto p : pats) canon.push_back(canonical(ref, p));
    auto matches = [&](const std::string& name) {
        for (auto& p : canon)
            if (list_match(name, p)) return true;
        return false;
    };
    std::map<std::string, uint32_t> exists;
    for (auto& f : folders) exists[f.name] = f.attrs;

    struct entry {
        std::string name;
        uint32_t attrs;
        bool subscribed, nonexistent, childinfo;
    };
    std::vector<entry> out;
    std::set<std::string> emitted;
    if (lsub) {
        for (auto& s : subs) {
            if (matches(s)) {
                auto it = exists.find(s);
                uint32_t at = it == exists.end() ? 0 : (it->second & (mailbox::attr::noinferiors));
                if (it != exists.end() && (it->second & mailbox::attr::noselect)) at |= mailbox::attr::noselect;
                out.push_back({s, at, false, false, false});
                emitted.insert(s);
            }
        }
        // '%' may stop at a level that is not subscribed itself: list it \Noselect
        for (auto& s : subs)
            for (size_t p = s.find(mailbox::separator); p != std::string::npos; p = s.find(mailbox::separator, p + 1)) {
                std::string parent = s.substr(0, p);
                if (!emitted.count(parent) && !subs.count(parent) && matches(parent)) {
                    out.push_back({parent, mailbox::attr::noselect, false, false, false});
                    emitted.insert(parent);
                }
            }
    } else if (sel_subscribed) {
        for (auto& s : subs) {
            auto it = exists.find(s);
            bool ne = it == exists.end();
            uint32_t at = ne ? 0 : it->second;
            if (sel_special && !(at & (mailbox::attr::sent | mailbox::attr::drafts | mailbox::attr::trash |
                                       mailbox::attr::junk | mailbox::attr::archive)))
                continue;
            if (matches(s)) {
                out.push_back({s, at, true, ne, false});
                emitted.insert(s);
            }
        }
        if (recursive)
            for (auto& s : subs)
                for (size_t p = s.find(mailbox::separator); p != std::string::npos;
                     p = s.find(mailbox::separator, p + 1)) {
                    std::string parent = s.substr(0, p);
                    if (!matches(parent)) continue;
                    auto e = std::find_if(out.begin(), out.end(), [&](const entry& x) { return x.name == parent; });
                    if (e != out.end()) {
                        e->childinfo = true;
                    } else {
                        auto it = exists.find(parent);
                        out.push_back({parent, it == exists.end() ? 0 : it->second, false, it == exists.end(), true});
                    }
                }
    } else {
        for (auto& f : folders) {
            if (sel_special && !(f.attrs & (mailbox::attr::sent | mailbox::attr::drafts | mailbox::attr::trash |
                                            mailbox::attr::junk | mailbox::attr::archive)))
                continue;
            if (matches(f.name)) out.push_back({f.name, f.attrs, ret_subscribed && subs.count(f.name) > 0, false, false});
        }
    }
    for (auto& e : out) {
        std::string line = c.name + " " + attrs_text(e.attrs, e.subscribed, e.nonexistent) + " \"/\" " + mailbox_name(e.name);
        if (e.childinfo) line += " (\"CHILDINFO\" (\"SUBSCRIBED\"))";
        untagged(line);
        if (ret_status && !e.nonexistent && !(e.attrs & mailbox::attr::noselect)) {
            std::string data;
            if (status_data(e.name, status_items, data)) untagged("STATUS " + mailbox_name(e.name) + " " + data);
        }
    }
    ok(c, c.name + " completed.");
}

}  // namespace tern::imap
