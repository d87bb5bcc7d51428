// thread.cpp - see thread.hpp. The REFERENCES algorithm follows RFC 5256
// section 3 step by step; walks are iterative so a hostile chain of
// References cannot exhaust the stack, and ancestor checks are bounded.
#include "imapd/thread.hpp"

#include <algorithm>
#include <unordered_map>

#include "imapd/search.hpp"
#include "lib/mime.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

// ---------------------------------------------------------------- base subject

namespace {

bool istarts(std::string_view s, size_t i, std::string_view w) {
    return s.size() - i >= w.size() && iequals(s.substr(i, w.size()), w);
}

// subj-blob = "[" *BLOBCHAR "]" *WSP at i; its length or 0
size_t blob_len(std::string_view s, size_t i) {
    if (i >= s.size() || s[i] != '[') return 0;
    size_t j = i + 1;
    while (j < s.size() && s[j] != ']' && s[j] != '[') ++j;
    if (j >= s.size() || s[j] != ']') return 0;
    ++j;
    while (j < s.size() && s[j] == ' ') ++j;
    return j - i;
}

// subj-leader = (*subj-blob subj-refwd) / WSP; its length or 0
size_t leader_len(std::string_view s, bool& refwd) {
    refwd = false;
    if (s.empty()) return 0;
    if (s[0] == ' ') return 1;
    size_t i = 0;
    while (size_t b = blob_len(s, i)) i += b;
    size_t w = 0;
    if (istarts(s, i, "re")) w = 2;
    else if (istarts(s, i, "fwd")) w = 3;
    else if (istarts(s, i, "fw")) w = 2;
    if (!w) return 0;
    i += w;
    while (i < s.size() && s[i] == ' ') ++i;
    i += blob_len(s, i);
    if (i >= s.size() || s[i] != ':') return 0;
    refwd = true;
    return i + 1;
}

}  // namespace

std::string base_subject(std::string_view raw_value, bool* reply_or_forward) {
    std::string d = decode_header_text(raw_value);
    std::string s;
    s.reserve(d.size());
    for (char c : d) {
        if (c == '\t' || c == '\r' || c == '\n') c = ' ';
        if (c == ' ' && !s.empty() && s.back() == ' ') continue;
        s += c;
    }
    bool rf = false;
    for (;;) {
        // (2) trailers
        for (;;) {
            if (!s.empty() && s.back() == ' ') {
                s.pop_back();
            } else if (s.size() >= 5 && iequals(std::string_view(s).substr(s.size() - 5), "(fwd)")) {
                s.resize(s.size() - 5);
                rf = true;
            } else {
                break;
            }
        }
        // (3)-(5) leaders and blobs
        for (;;) {
            bool changed = false;
            for (;;) {
                bool refwd = false;
                size_t n = leader_len(s, refwd);
                if (!n) break;
                s.erase(0, n);
                rf = rf || refwd;
                changed = true;
            }
            size_t b = blob_len(s, 0);
            if (b > 0 && b < s.size()) {
                s.erase(0, b);
                changed = true;
            }
            if (!changed) break;
        }
        // (6) [fwd: ...]
        if (s.size() >= 6 && istarts(s, 0, "[fwd:") && s.back() == ']') {
            s = s.substr(5, s.size() - 6);
            rf = true;
            continue;
        }
        break;
    }
    if (reply_or_forward) *reply_or_forward = rf;
    return search_fold(s);
}

std::vector<std::string> message_ids(std::string_view v) {
    std::vector<std::string> out;
    size_t i = 0;
    while (i < v.size() && out.size() < 1000) {
        size_t lt = v.find('<', i);
        if (lt == std::string_view::npos) break;
        size_t gt = v.find('>', lt + 1);
        if (gt == std::string_view::npos) break;
        std::string id;
        for (size_t k = lt; k <= gt; k++)
            if (v[k] != ' ' && v[k] != '\t' && v[k] != '\r' && v[k] != '\n') id += v[k];
        if (id.size() > 2 && id.find('<', 1) == std::string::npos) out.push_back(std::move(id));
        i = gt + 1;
    }
    return out;
}

// ---------------------------------------------------------------- SORT

bool parse_sort_criteria(const arg& list, std::vector<sort_key>& out, std::string& err) {
    out.clear();
    if (!list.is_list() || list.items.empty()) {
        err = "SORT needs a parenthesised list of criteria";
        return false;
    }
    bool reverse = false;
    for (auto& a : list.items) {
        if (!a.is_atom()) {
            err = "bad sort criterion";
            return false;
        }
        if (a.is("REVERSE")) {
            if (reverse) {
                err = "REVERSE REVERSE";
                return false;
            }
            reverse = true;
            continue;
        }
        static const struct {
            const char* name;
            sort_key::kind k;
        } names[] = {{"ARRIVAL", sort_key::kind::arrival}, {"CC", sort_key::kind::cc},
                     {"DATE", sort_key::kind::date},       {"FROM", sort_key::kind::from},
                     {"SIZE", sort_key::kind::size},       {"SUBJECT", sort_key::kind::subject},
                     {"TO", sort_key::kind::to}};
        bool found = false;
        for (auto& n : names)
            if (a.is(n.name)) {
                out.push_back({n.k, reverse});
                found = true;
            }
        if (!found) {
            err = "unknown sort criterion " + printable(a.text, 40);
            return false;
        }
        reverse = false;
    }
    if (reverse) {
        err = "REVERSE without a criterion";
        return false;
    }
    return true;
}

std::vector<uint32_t> sort_rows(std::vector<sort_row> rows, const std::vector<sort_key>& keys) {
    auto cmp = [&](const sort_row& a, const sort_row& b) {
        for (auto& k : keys) {
            int c = 0;
            switch (k.type) {
            case sort_key::kind::arrival: c = a.arrival < b.arrival ? -1 : a.arrival > b.arrival; break;
            case sort_key::kind::date: c = a.date < b.date ? -1 : a.date > b.date; break;
            case sort_key::kind::size: c = a.size < b.size ? -1 : a.size > b.size; break;
            case sort_key::kind::cc: c = a.cc.compare(b.cc); break;
            case sort_key::kind::from: c = a.from.compare(b.from); break;
            case sort_key::kind::to: c = a.to.compare(b.to); break;
            case sort_key::kind::subject: c = a.subject.compare(b.subject); break;
            }
            if (c != 0) return k.reverse ? c > 0 : c < 0;
        }
        return a.seq < b.seq;
    };
    std::sort(rows.begin(), rows.end(), cmp);
    std::vector<uint32_t> out;
    out.reserve(rows.size());
    for (auto& r : rows) out.push_back(r.id);
    return out;
}

// ---------------------------------------------------------------- THREAD

namespace {

struct container {
    int msg = -1;  // row index, -1 for a dummy
    int parent = -1;
    std::vector<int> kids;
};

// Writes "(a b (c)(d))" for each root, iteratively.
std::string format_threads(const std::vector<container>& cs, const std::vector<thread_row>& rows,
                           const std::vector<int>& roots) {
    std::string out;
    struct frame {
        const std::vector<int>* kids;
        size_t i;
        bool open;
    };
    std::vector<frame> st;
    auto members = [&](int c) {
        bool first = true;
        for (;;) {
            if (cs[c].msg >= 0) {
                if (!first) out += ' ';
                out += std::to_string(rows[size_t(cs[c].msg)].id);
                first = false;
            }
            const auto& k = cs[c].kids;
            if (k.size() == 1) {
                c = k[0];
                continue;
            }
            if (k.size() > 1) {
                if (!first) out += ' ';
                st.push_back({&k, 0, false});
            }
            break;
        }
    };
    for (int r : roots) {
        out += '(';
        members(r);
        while (!st.empty()) {
            size_t top = st.size() - 1;
            if (st[top].open) {
                out += ')';
                st[top].open = false;
            }
            if (st[top].i == st[top].kids->size()) {
                st.pop_back();
                continue;
            }
            int k = (*st[top].kids)[st[top].i++];
            st[top].open = true;
            out += '(';
            members(k);
        }
        out += ')';
    }
    return out;
}

}  // namespace

std::string thread_orderedsubject(const std::vector<thread_row>& rows) {
    std::vector<size_t> order(rows.size());
    for (size_t i = 0; i < order.size(); i++) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        int c = rows[a].subject.compare(rows[b].subject);
        if (c) return c < 0;
        if (rows[a].date != rows[b].date) return rows[a].date < rows[b].date;
        return rows[a].seq < rows[b].seq;
    });
    std::vector<std::vector<size_t>> threads;
    for (size_t i : order) {
        if (!threads.empty() && rows[threads.back()[0]].subject == rows[i].subject)
            threads.back().push_back(i);
        else
            threads.push_back({i});
    }
    std::stable_sort(threads.begin(), threads.end(), [&](const auto& a, const auto& b) {
        if (rows[a[0]].date != rows[b[0]].date) return rows[a[0]].date < rows[b[0]].date;
        return rows[a[0]].seq < rows[b[0]].seq;
    });
    std::string out;
    for (auto& t : threads) {
        out += '(';
        out += std::to_string(rows[t[0]].id);
        if (t.size() == 2) {
            out += ' ';
            out += std::to_string(rows[t[1]].id);
        } else if (t.size() > 2) {
            out += ' ';
            for (size_t k = 1; k < t.size(); k++) out += "(" + std::to_string(rows[t[k]].id) + ")";
        }
        out += ')';
    }
    return out;
}

std::string thread_references(const std::vector<thread_row>& rows) {
    constexpr size_t kMaxRefs = 50, kMaxWalk = 2000;
    std::vector<container> cs;
    cs.reserve(rows.size() * 2);
    std::unordered_map<std::string, int> by_id;
    auto get = [&](const std::string& id) {
        auto it = by_id.find(id);
        if (it != by_id.end()) return it->second;
        cs.emplace_back();
        int c = int(cs.size() - 1);
        by_id.emplace(id, c);
        return c;
    };
    // a is an ancestor of b (or b itself); too deep counts as yes (no link then)
    auto reaches = [&](int a, int b) {
        size_t steps = 0;
        for (int x = b; x != -1; x = cs[size_t(x)].parent) {
            if (x == a || ++steps > kMaxWalk) return true;
        }
        return false;
    };
    auto unlink = [&](int c) {
        int p = cs[size_t(c)].parent;
        if (p < 0) return;
        auto& k = cs[size_t(p)].kids;
        k.erase(std::find(k.begin(), k.end(), c));
        cs[size_t(c)].parent = -1;
    };
    auto link = [&](int p, int c) {
        unlink(c);
        cs[size_t(c)].parent = p;
        cs[size_t(p)].kids.push_back(c);
    };

    // (1) link messages and references
    for (size_t i = 0; i < rows.size(); i++) {
        const thread_row& r = rows[i];
        int me;
        auto it = r.message_id.empty() ? by_id.end() : by_id.find(r.message_id);
        if (r.message_id.empty() || (it != by_id.end() && cs[size_t(it->second)].msg >= 0)) {
            cs.emplace_back();  // no or duplicate Message-ID: a container of its own
            me = int(cs.size() - 1);
        } else {
            me = get(r.message_id);
        }
        cs[size_t(me)].msg = int(i);
        size_t first = r.references.size() > kMaxRefs ? r.references.size() - kMaxRefs : 0;
        int prev = -1;
        for (size_t k = first; k < r.references.size(); k++) {
            int ref = get(r.references[k]);
            if (prev >= 0 && ref != prev && cs[size_t(ref)].parent == -1 && !reaches(ref, prev)) link(prev, ref);
            prev = ref;
        }
        if (prev >= 0 && reaches(me, prev)) prev = -1;  // would make a loop
        unlink(me);
        if (prev >= 0) link(prev, me);
    }
    by_id.clear();  // (3)

    // (2) root set
    std::vector<int> roots;
    for (size_t c = 0; c < cs.size(); c++)
        if (cs[c].parent == -1) roots.push_back(int(c));

    // (4) prune dummies: post-order over the forest, children first
    {
        std::vector<std::pair<int, bool>> st;  // (container, children done)
        for (int r : roots) st.push_back({r, false});
        while (!st.empty()) {
            auto [c, done] = st.back();
            st.pop_back();
            if (!done) {
                st.push_back({c, true});
                for (int k : cs[size_t(c)].kids) st.push_back({k, false});
                continue;
            }
            std::vector<int> nk;
            for (int k : cs[size_t(c)].kids) {
                if (cs[size_t(k)].msg >= 0) {
                    nk.push_back(k);
                    continue;
                }
                for (int g : cs[size_t(k)].kids) {  // promote a dummy's children
                    cs[size_t(g)].parent = c;
                    nk.push_back(g);
                }
                cs[size_t(k)].kids.clear();
            }
            cs[size_t(c)].kids = std::move(nk);
        }
        std::vector<int> nr;
        for (int r : roots) {
            auto& x = cs[size_t(r)];
            if (x.msg >= 0) {
                nr.push_back(r);
            } else if (x.kids.size() == 1) {
                cs[size_t(x.kids[0])].parent = -1;
                nr.push_back(x.kids[0]);
                x.kids.clear();
            } else if (x.kids.size() > 1) {
                nr.push_back(r);
            }
        }
        roots = std::move(nr);
    }

    auto first_real = [&](int c) {
        while (cs[size_t(c)].msg < 0 && !cs[size_t(c)].kids.empty()) c = cs[size_t(c)].kids[0];
        return cs[size_t(c)].msg;
    };
    auto by_date = [&](int a, int b) {
        int ma = first_real(a), mb = first_real(b);
        const thread_row& ra = rows[size_t(ma)];
        const thread_row& rb = rows[size_t(mb)];
        if (ra.date != rb.date) return ra.date < rb.date;
        return ra.seq < rb.seq;
    };
    // (5) sort the top level (a dummy by its first child)
    for (int r : roots)
        if (cs[size_t(r)].msg < 0) std::sort(cs[size_t(r)].kids.begin(), cs[size_t(r)].kids.end(), by_date);
    std::sort(roots.begin(), roots.end(), by_date);

    // (6) merge threads with the same base subject
    {
        auto subject = [&](int c) -> const std::string& { return rows[size_t(first_real(c))].subject; };
        auto dummy = [&](int c) { return cs[size_t(c)].msg < 0; };
        auto reply = [&](int c) { return !dummy(c) && rows[size_t(cs[size_t(c)].msg)].reply; };
        std::unordered_map<std::string, int> table;
        for (int r : roots) {
            const std::string& s = subject(r);
            if (s.empty()) continue;
            auto it = table.find(s);
            if (it == table.end()) {
                table.emplace(s, r);
            } else {
                int t = it->second;
                if (!dummy(t) && (dummy(r) || (reply(t) && !reply(r)))) it->second = r;
            }
        }
        std::vector<int> slot(cs.size(), -1);  // container -> position in roots
        for (size_t i = 0; i < roots.size(); i++) slot[size_t(roots[i])] = int(i);
        std::vector<bool> gone(roots.size(), false);
        for (size_t i = 0; i < roots.size(); i++) {
            int r = roots[i];
            if (gone[i]) continue;
            std::string s = subject(r);
            if (s.empty()) continue;
            int t = table[s];
            if (t == r) continue;
            if (dummy(t) && dummy(r)) {
                for (int k : cs[size_t(r)].kids) {
                    cs[size_t(k)].parent = t;
                    cs[size_t(t)].kids.push_back(k);
                }
                cs[size_t(r)].kids.clear();
            } else if (dummy(t) || (reply(r) && !reply(t))) {
                link(t, r);
            } else {
                cs.emplace_back();
                int d = int(cs.size() - 1);
                slot.push_back(-1);
                int pos = slot[size_t(t)];
                link(d, t);
                link(d, r);
                roots[size_t(pos)] = d;
                slot[size_t(d)] = pos;
                slot[size_t(t)] = -1;
                table[s] = d;
            }
            gone[i] = true;
        }
        std::vector<int> nr;
        for (size_t i = 0; i < roots.size(); i++)
            if (!gone[i]) nr.push_back(roots[i]);
        roots = std::move(nr);
    }

    // (7) sort every set of siblings; dummies (top level only) before the top
    for (auto& c : cs)
        if (c.msg >= 0 && c.kids.size() > 1) std::sort(c.kids.begin(), c.kids.end(), by_date);
    for (int r : roots)
        if (cs[size_t(r)].msg < 0) std::sort(cs[size_t(r)].kids.begin(), cs[size_t(r)].kids.end(), by_date);
    std::sort(roots.begin(), roots.end(), by_date);
    return format_threads(cs, rows, roots);
}

}  // namespace tern::imap
