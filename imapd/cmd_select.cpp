// cmd_select.cpp - SELECT and EXAMINE (RFC 3501 6.3.1-6.3.2) with the
// CONDSTORE and QRESYNC parameters (RFC 7162), CLOSE, UNSELECT (RFC
// 3691), CHECK, and EXPUNGE / UID EXPUNGE (UIDPLUS). Opening a folder
// reads its index only, so SELECT of a huge folder reads no message file.
#include "imapd/format.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

namespace {
struct qresync_param {
    uint32_t uidvalidity = 0;
    uint64_t modseq = 0;
    std::optional<seq_set> known;
};

bool parse_qresync(const arg& l, qresync_param& q, std::string& err) {
    const auto& it = l.items;
    if (!l.is_list() || it.size() < 2 || it.size() > 4 || !it[0].is_atom() || !it[1].is_atom()) {
        err = "QRESYNC needs (uidvalidity modseq [known-uids [(seqs uids)]])";
        return false;
    }
    auto v = parse_u64(it[0].text);
    auto m = parse_u64(it[1].text);
    if (!v || *v == 0 || *v > UINT32_MAX || !m) {
        err = "QRESYNC: bad UIDVALIDITY or MODSEQ";
        return false;
    }
    q.uidvalidity = uint32_t(*v);
    q.modseq = *m;
    size_t k = 2;
    if (k < it.size() && it[k].is_atom()) {
        auto s = seq_set::parse(it[k].text);
        if (!s) {
            err = "QRESYNC: bad known UIDs";
            return false;
        }
        q.known = s->resolved(UINT32_MAX);
        ++k;
    }
    if (k < it.size()) {
        // sequence match data: accepted and not needed (the VANISHED list is exact or a range)
        if (!it[k].is_list() || it[k].items.size() != 2) {
            err = "QRESYNC: bad sequence match data";
            return false;
        }
        ++k;
    }
    if (k != it.size()) {
        err = "QRESYNC: too many parameters";
        return false;
    }
    return true;
}
}  // namespace

void session::cmd_select(command& c) {
    bool examine = c.name == "EXAMINE";
    if (c.args.empty() || c.args.size() > 2) return bad(c, "Usage: " + c.name + " mailbox [(parameters)]");
    std::string err;
    bool want_condstore = false;
    std::optional<qresync_param> qr;
    if (c.args.size() == 2) {
        const arg& p = c.args[1];
        if (!p.is_list()) return bad(c, "Select parameters must be a list");
        for (size_t i = 0; i < p.items.size(); i++) {
            if (p.items[i].is("CONDSTORE")) {
                want_condstore = true;
            } else if (p.items[i].is("QRESYNC")) {
                if (!_qresync) return bad(c, "QRESYNC is not enabled (ENABLE QRESYNC first)");
                if (i + 1 >= p.items.size()) return bad(c, "QRESYNC needs parameters");
                qr.emplace();
                if (!parse_qresync(p.items[++i], *qr, err)) return bad(c, err);
            } else {
                return bad(c, "Unknown select parameter");
            }
        }
    }
    auto name = mailbox_arg(c.args[0], err);
    if (_sel) {
        deselect(true);
        untagged("OK [CLOSED] Previous mailbox closed.");
    }
    if (!name) return no(c, "[NONEXISTENT] " + err);
    std::unique_ptr<mailbox::folder> f;
    auto st = _store->open_folder(*name, examine ? mailbox::open_mode::read_only : mailbox::open_mode::select, f);
    if (!st) {
        if (st.err == ENOENT || st.err == EINVAL) return no(c, "[NONEXISTENT] Mailbox does not exist: " + printable(*name, 100));
        return fail(c, st);
    }
    if (want_condstore) _condstore = true;
    auto box = std::make_unique<selected_box>();
    box->name = *name;
    box->read_only = examine;
    box->uids.reserve(f->count());
    uint32_t first_unseen = 0;
    for (size_t i = 0; i < f->count(); i++) {
        const auto& m = f->at(i);
        box->uids.push_back(m.uid);
        if (!first_unseen && !(m.flags & mailbox::flag::seen)) first_unseen = uint32_t(i + 1);
    }
    mailbox::folder_counts counts = f->counts();
    box->exists_sent = box->uids.size();
    box->recent_sent = counts.recent;

    std::string flags = "(\\Answered \\Flagged \\Deleted \\Seen \\Draft";
    for (auto& k : f->keywords()) flags += " " + k;
    std::string out = "* FLAGS " + flags + ")\r\n";
    if (examine)
        out += "* OK [PERMANENTFLAGS ()] Read-only mailbox.\r\n";
    else
        out += "* OK [PERMANENTFLAGS " + flags + (f->can_create_keywords() ? " \\*)" : ")") + "] Flags permitted.\r\n";
    out += "* " + std::to_string(box->uids.size()) + " EXISTS\r\n";
    out += "* " + std::to_string(counts.recent) + " RECENT\r\n";
    if (first_unseen) out += "* OK [UNSEEN " + std::to_string(first_unseen) + "] First unseen.\r\n";
    out += "* OK [UIDVALIDITY " + std::to_string(f->uidvalidity()) + "] UIDs valid\r\n";
    out += "* OK [UIDNEXT " + std::to_string(f->uidnext()) + "] Predicted next UID\r\n";
    out += "* OK [HIGHESTMODSEQ " + std::to_string(f->highestmodseq()) + "] Highest\r\n";
    write(out);
    if (qr && qr->uidvalidity == f->uidvalidity()) {
        // RFC 7162 3.2.5.1: what vanished and what changed since the client's modseq
        std::vector<seq_range> vanished;
        for (auto& r : f->vanished_since(qr->modseq)) {
            if (!qr->known) {
                vanished.push_back({r.first, r.last});
                continue;
            }
            for (auto& k : qr->known->ranges()) {
                uint32_t lo = std::max(k.lo, r.first), hi = std::min(k.hi, r.last);
                if (lo <= hi) vanished.push_back({lo, hi});
            }
        }
        if (!vanished.empty()) {
            std::sort(vanished.begin(), vanished.end(), [](auto& x, auto& y) { return x.lo < y.lo; });
            write("* VANISHED (EARLIER) " + format_set(vanished) + "\r\n");
        }
        std::string fetches;
        const auto& kw = f->keywords();
        for (uint32_t uid : f->changed_since(qr->modseq)) {
            if (qr->known && !qr->known->contains(uid)) continue;
            auto idx = f->index_of(uid);
            if (!idx) continue;
            const auto& m = f->at(*idx);
            fetches += "* " + std::to_string(*idx + 1) + " FETCH (UID " + std::to_string(uid) + " FLAGS " +
                       flag_list(m.flags, m.keywords, kw, f->is_recent(uid)) + " MODSEQ (" + std::to_string(m.modseq) +
                       "))\r\n";
            if (fetches.size() > 65536) {
                write(fetches);
                fetches.clear();
            }
        }
        write(fetches);
    }
    box->f = std::move(f);
    _sel = std::move(box);
    _state = state::selected;
    ok(c, std::string(examine ? "[READ-ONLY] " : "[READ-WRITE] ") + c.name + " completed.");
}

void session::cmd_close(command& c) {
    if (!c.args.empty()) return bad(c, c.name + " takes no arguments");
    if (c.name == "CLOSE" && !_sel->read_only) {
        // silently: CLOSE sends no EXPUNGE responses
        std::vector<uint32_t> gone;
        if (auto st = _sel->f->expunge(nullptr, true, gone); !st)
            log::warn("%s: user=%s: CLOSE expunge %s: %s", _peer.c_str(), _user.c_str(), _sel->name.c_str(),
                      st.reason.c_str());
    }
    deselect(true);
    ok(c, c.name + " completed.");
}

void session::cmd_check(command& c) {
    if (!c.args.empty()) return bad(c, "CHECK takes no arguments");
    if (!_sel->read_only)
        if (auto st = _sel->f->checkpoint(); !st) return fail(c, st);
    ok(c, "Check completed.");
}

void session::cmd_expunge(command& c) {
    std::vector<uint32_t> uids;
    if (c.uid) {
        if (c.args.size() != 1 || !c.args[0].is_atom()) return bad(c, "Usage: UID EXPUNGE uid-set");
        std::string err;
        auto set = resolve_set(c.args[0].text, true, err);
        if (!set) return bad(c, err);
        uids = std::move(*set);
    } else if (!c.args.empty()) {
        return bad(c, "EXPUNGE takes no arguments");
    }
    if (_sel->read_only) return no(c, "[READ-ONLY] Mailbox is read-only");
    std::vector<uint32_t> gone;
    auto st = _sel->f->expunge(c.uid ? &uids : nullptr, true, gone);
    expunged_here(gone);
    if (!st) return fail(c, st);
    if (!gone.empty())
        log::info("%s: user=%s: expunged %zu from %s", _peer.c_str(), _user.c_str(), gone.size(), _sel->name.c_str());
    ok(c, "Expunge completed.");
}

}  // namespace tern::imap
