// cmd_search.cpp - SEARCH and UID SEARCH (RFC 3501 6.4.4) with CHARSET,
// CONDSTORE's MODSEQ key and result (RFC 7162 3.1.5) and ESEARCH's RETURN
// options MIN MAX ALL COUNT (RFC 4731).
#include "imapd/format.hpp"
#include "imapd/search_job.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

namespace {
constexpr size_t kIndexPerStep = 20000;
constexpr size_t kLoadsPerStep = 50;
constexpr size_t kBytesPerStep = 8u << 20;
}  // namespace

bool prepare_search(session& s, command& c, size_t pos, bool charset_given, const std::string& charset,
                    search_job& j) {
    auto& a = c.args;
    std::string cs = charset;
    if (!charset_given && pos < a.size() && a[pos].is("CHARSET")) {
        if (pos + 1 >= a.size() || !a[pos + 1].is_astring()) {
            s.bad(c, "CHARSET needs a name");
            return false;
        }
        cs = std::string(a[pos + 1].text);
        pos += 2;
    }
    if (!search_charset_ok(cs)) {
        s.no(c, "[BADCHARSET (US-ASCII UTF-8)] Unsupported charset");
        return false;
    }
    selected_box& box = *s.sel();
    search_env env;
    env.messages = uint32_t(box.uids.size());
    env.max_uid = box.uids.empty() ? 0 : box.uids.back();
    env.keywords = &box.f->keywords();
    env.charset = cs;
    std::string err;
    if (!parse_search(a, pos, env, j.prog, err)) {
        s.bad(c, err);
        return false;
    }
    if (j.prog.uses_modseq) s.enable_condstore();
    j.needs_message = search_needs_message(j.prog.root);
    std::function<bool(const search_key&)> body = [&](const search_key& k) {
        if (k.type == search_key::kind::body || k.type == search_key::kind::text) return true;
        for (auto& x : k.kids)
            if (body(x)) return true;
        return false;
    };
    j.header_only = !body(j.prog.root);
    j.c.tag = c.tag;
    j.c.name = c.name;
    j.c.uid = c.uid;
    return true;
}

bool search_step(session& s, search_job& j) {
    selected_box& box = *s.sel();
    mailbox::folder& f = *box.f;
    size_t looked = 0, loads = 0, bytes = 0;
    while (j.next < box.uids.size()) {
        if (looked >= kIndexPerStep || loads >= kLoadsPerStep || bytes >= kBytesPerStep) return false;
        ++looked;
        size_t i = j.next++;
        uint32_t uid = box.uids[i];
        const mailbox::message* m = f.find(uid);
        if (!m) continue;  // expunged meanwhile
        search_item it;
        it.seq = uint32_t(i + 1);
        it.uid = uid;
        it.flags = m->flags;
        it.keywords = m->keywords;
        it.recent = f.is_recent(uid);
        it.size = m->wire_size;
        it.modseq = m->modseq;
        it.internal_date = m->internal_date;
        int v = search_eval_index(j.prog.root, it);
        if (v < 0) {
            std::shared_ptr<loaded_message> msg;
            message_text t([&]() -> const std::string* {
                ++loads;
                msg = s.load(uid, j.header_only);
                if (!msg) return nullptr;
                bytes += msg->wire.size();
                return &msg->wire;
            });
            v = search_eval(j.prog.root, it, t) ? 1 : 0;
        }
        if (v == 1) {
            j.matches.push_back(uid);
            j.max_modseq = std::max(j.max_modseq, m->modseq);
        }
    }
    return true;
}

void session::cmd_search(command& c) {
    auto& a = c.args;
    size_t pos = 0;
    bool esearch = false, rmin = false, rmax = false, rall = false, rcount = false;
    if (!a.empty() && a[0].is("RETURN")) {
        if (a.size() < 2 || !a[1].is_list()) return bad(c, "RETURN needs a list of options");
        esearch = true;
        for (auto& o : a[1].items) {
            if (o.is("MIN")) rmin = true;
            else if (o.is("MAX")) rmax = true;
            else if (o.is("ALL")) rall = true;
            else if (o.is("COUNT")) rcount = true;
            else return bad(c, "Unknown RETURN option " + printable(o.text, 20));
        }
        if (!rmin && !rmax && !rcount) rall = true;  // RETURN () means ALL
        pos = 2;
    }
    auto j = std::make_shared<search_job>();
    if (!prepare_search(*this, c, pos, false, "UTF-8", *j)) return;
    start_job([this, j, esearch, rmin, rmax, rall, rcount] {
        if (!search_step(*this, *j)) return false;
        std::vector<uint32_t> ids;
        ids.reserve(j->matches.size());
        for (uint32_t uid : j->matches) {
            if (j->c.uid) ids.push_back(uid);
            else if (auto seq = _sel->seq_of(uid)) ids.push_back(*seq);
        }
        std::string out;
        if (esearch) {
            out = "* ESEARCH (TAG " + imap_string(j->c.tag) + ")";
            if (j->c.uid) out += " UID";
            if (!ids.empty()) {
                if (rmin) out += " MIN " + std::to_string(ids.front());
                if (rmax) out += " MAX " + std::to_string(ids.back());
            }
            if (rcount) out += " COUNT " + std::to_string(ids.size());
            if (rall && !ids.empty()) out += " ALL " + format_set(ids);
            if (j->prog.uses_modseq && !ids.empty()) out += " MODSEQ " + std::to_string(j->max_modseq);
        } else {
            out = "* SEARCH";
            for (uint32_t id : ids) out += " " + std::to_string(id);
            if (j->prog.uses_modseq && !ids.empty()) out += " (MODSEQ " + std::to_string(j->max_modseq) + ")";
        }
        out += "\r\n";
        write(out);
        ok(j->c, "Search completed.");
        return true;
    });
}

}  // namespace tern::imap
