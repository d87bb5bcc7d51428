// cmd_store.cpp - STORE and UID STORE (RFC 3501 6.4.6) with CONDSTORE's
// UNCHANGEDSINCE (RFC 7162 3.1.3): one mailbox transaction (one modseq)
// for the whole set, then the untagged FETCH responses, streamed as a job.
// Also the flag-list parser APPEND shares.
#include <algorithm>
#include <iterator>

#include "imapd/format.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

bool parse_flag_args(const std::vector<arg>& args, size_t from, size_t to, uint32_t& flags,
                     std::vector<std::string>& keywords, std::string& err) {
    flags = 0;
    keywords.clear();
    for (size_t i = from; i < to; i++) {
        const arg& a = args[i];
        if (!a.is_atom()) {
            err = "Flags are atoms";
            return false;
        }
        if (a.text.size() > 1 && a.text[0] == '\\') {
            if (iequals(a.text, "\\Recent")) {
                err = "\\Recent cannot be stored";
                return false;
            }
            auto f = mailbox::parse_system_flag(a.text);
            if (!f) {
                err = "Invalid system flag " + printable(a.text, 30);
                return false;
            }
            flags |= *f;
            continue;
        }
        if (!mailbox::valid_keyword(a.text)) {
            err = "Invalid keyword " + printable(a.text, 30);
            return false;
        }
        keywords.emplace_back(a.text);
    }
    return true;
}

namespace {
struct store_job {
    command c;
    std::vector<uint32_t> uids;
    size_t next = 0;
    bool silent = false;
    std::string modified;  // MODIFIED set for the tagged response
    bool any_gone = false;
};

bool store_step(session& s, store_job& j) {
    selected_box& box = *s.sel();
    mailbox::folder& f = *box.f;
    std::string out;
    size_t n = 0;
    while (j.next < j.uids.size() && !j.silent) {
        if (n++ >= 2000 || s.output_full()) {
            s.write(out);
            return false;
        }
        uint32_t uid = j.uids[j.next++];
        const mailbox::message* m = f.find(uid);
        auto seq = box.seq_of(uid);
        if (!m || !seq) continue;
        out += "* " + std::to_string(*seq) + " FETCH (";
        if (j.c.uid) out += "UID " + std::to_string(uid) + " ";
        out += "FLAGS " + flag_list(m->flags, m->keywords, f.keywords(), f.is_recent(uid));
        if (s.condstore()) out += " MODSEQ (" + std::to_string(m->modseq) + ")";
        out += ")\r\n";
        box.flag_updates.erase(uid);
    }
    s.write(out);
    std::string text = "Store completed.";
    if (!j.modified.empty()) text = "[MODIFIED " + j.modified + "] Conditional store failed for some messages.";
    else if (j.any_gone) text = "[EXPUNGEISSUED] Some messages were expunged meanwhile.";
    s.ok(j.c, text);
    return true;
}
}  // namespace

void session::cmd_store(command& c) {
    const auto& a = c.args;
    if (a.size() < 3 || !a[0].is_atom()) return bad(c, "Usage: STORE sequence-set [(UNCHANGEDSINCE n)] item flags");
    size_t i = 1;
    std::optional<uint64_t> unchanged;
    if (a[i].is_list()) {
        const auto& m = a[i].items;
        if (m.size() != 2 || !m[0].is("UNCHANGEDSINCE") || !m[1].is_atom()) return bad(c, "Unknown STORE modifier");
        auto v = parse_u64(m[1].text);
        if (!v || *v > uint64_t(INT64_MAX)) return bad(c, "Bad UNCHANGEDSINCE value");
        unchanged = *v;
        _condstore = true;
        ++i;
    }
    if (i + 1 >= a.size() || !a[i].is_atom()) return bad(c, "STORE needs FLAGS, +FLAGS or -FLAGS");
    std::string item = to_upper(a[i].text);
    bool silent = false;
    if (item.ends_with(".SILENT")) {
        silent = true;
        item.resize(item.size() - 7);
    }
    mailbox::flag_op op;
    if (item == "FLAGS") op = mailbox::flag_op::replace;
    else if (item == "+FLAGS") op = mailbox::flag_op::add;
    else if (item == "-FLAGS") op = mailbox::flag_op::remove;
    else return bad(c, "STORE needs FLAGS, +FLAGS or -FLAGS");
    ++i;
    uint32_t flags = 0;
    std::vector<std::string> kws;
    std::string err;
    if (a[i].is_list()) {
        if (i + 1 != a.size()) return bad(c, "Junk after the flag list");
        if (!parse_flag_args(a[i].items, 0, a[i].items.size(), flags, kws, err)) return bad(c, err);
    } else if (!parse_flag_args(a, i, a.size(), flags, kws, err)) {
        return bad(c, err);
    }
    bool any_gone = false;
    auto uids = resolve_set(a[0].text, c.uid, err, &any_gone);
    if (!uids) return bad(c, err);
    if (_sel->read_only) return no(c, "[READ-ONLY] Mailbox is read-only");
    mailbox::folder& f = *_sel->f;
    size_t known = f.keywords().size();
    uint32_t bits = 0;
    for (auto& k : kws) {
        int bit = -1;
        auto st = f.keyword_bit(k, op != mailbox::flag_op::remove, bit);
        if (!st || bit < 0) {
            if (op == mailbox::flag_op::remove) continue;  // never existed: nothing to remove
            return no(c, "[LIMIT] Cannot add keyword " + printable(k, 40) + ": " + st.reason);
        }
        bits |= 1u << bit;
    }
    if (f.keywords().size() != known) _sel->flags_changed = true;
    mailbox::store_result r;
    if (!uids->empty())
        if (auto st = f.store(*uids, op, flags, bits, unchanged, r); !st) return fail(c, st);
    auto j = std::make_shared<store_job>();
    j->c.tag = c.tag;
    j->c.name = c.name;
    j->c.uid = c.uid;
    j->silent = silent;
    j->any_gone = any_gone;
    if (!r.modified.empty()) {
        std::vector<uint32_t> ids;
        for (uint32_t u : r.modified) {
            if (c.uid) ids.push_back(u);
            else if (auto seq = _sel->seq_of(u)) ids.push_back(*seq);
        }
        std::sort(ids.begin(), ids.end());
        j->modified = format_set(ids);
        // RFC 7162: the failed ones are not reported as changed
        std::vector<uint32_t> keep, mod = r.modified;
        std::sort(mod.begin(), mod.end());
        std::set_difference(uids->begin(), uids->end(), mod.begin(), mod.end(), std::back_inserter(keep));
        *uids = std::move(keep);
    }
    j->uids = std::move(*uids);
    start_job([this, j] { return store_step(*this, *j); });
}

}  // namespace tern::imap
