// cmd_fetch.cpp - FETCH and UID FETCH (RFC 3501 6.4.5) with CONDSTORE's
// MODSEQ and CHANGEDSINCE and QRESYNC's VANISHED modifier. Responses are
// produced message by message as a job: a step stops when the output
// passes the high-water mark (the client has to read first) or its work
// budget is spent, and large body sections are written in slices of the
// loaded message, so no FETCH builds its whole output in memory. Items
// that only need the index (UID FLAGS INTERNALDATE RFC822.SIZE MODSEQ)
// read no message file. \Seen is set for non-PEEK sections in one
// transaction before the first response.
#include <algorithm>
#include <set>

#include "imapd/bodystructure.hpp"
#include "imapd/fetch_items.hpp"
#include "imapd/format.hpp"
#include "imapd/session.hpp"
#include "lib/log.hpp"

namespace tern::imap {

namespace {

constexpr size_t kMessagesPerStep = 1000;
constexpr size_t kBytesPerStep = 4u << 20;
constexpr size_t kInline = 64 * 1024;  // smaller sections are copied into the response text

struct fetch_job {
    command c;  // tag, name, uid
    fetch_request req;
    std::vector<uint32_t> uids;
    size_t next = 0;
    bool any_gone = false;
    bool read_error = false;
    std::set<uint32_t> seen_now;  // \Seen set by this FETCH: FLAGS go out even when not asked for
};

bool fetch_step(session& s, fetch_job& j) {
    selected_box& box = *s.sel();
    mailbox::folder& f = *box.f;
    size_t msgs = 0, bytes = 0;
    while (j.next < j.uids.size()) {
        if (s.output_full() || msgs >= kMessagesPerStep || bytes >= kBytesPerStep) return false;
        ++msgs;
        uint32_t uid = j.uids[j.next++];
        const mailbox::message* m = f.find(uid);
        auto seq = box.seq_of(uid);
        if (!m || !seq) {
            j.any_gone = true;
            continue;
        }
        std::shared_ptr<loaded_message> msg;
        int need = j.req.needs();
        if (need > 0) {
            msg = s.load(uid, need == 1);
            if (!msg) {
                // gone under our feet (expunged by another session) or unreadable
                j.read_error = true;
                continue;
            }
            bytes += msg->wire.size();
        }
        std::string out = "* " + std::to_string(*seq) + " FETCH (";
        bool first = true;
        auto sep = [&] {
            if (!first) out += ' ';
            first = false;
        };
        if (j.req.uid) {
            sep();
            out += "UID " + std::to_string(uid);
        }
        if (j.req.flags || j.seen_now.count(uid)) {
            sep();
            out += "FLAGS " + flag_list(m->flags, m->keywords, f.keywords(), f.is_recent(uid));
            box.flag_updates.erase(uid);
        }
        if (j.req.internaldate) {
            sep();
            out += "INTERNALDATE \"" + format_internal_date(m->internal_date) + "\"";
        }
        if (j.req.size) {
            sep();
            out += "RFC822.SIZE " + std::to_string(m->wire_size);
        }
        if (j.req.modseq || (s.condstore() && j.seen_now.count(uid))) {
            sep();
            out += "MODSEQ (" + std::to_string(m->modseq) + ")";
        }
        if (j.req.envelope) {
            sep();
            out += "ENVELOPE " + envelope(msg->mime().root.header);
        }
        if (j.req.body) {
            sep();
            out += "BODY " + body_structure(msg->mime().root, false);
        }
        if (j.req.bodystructure) {
            sep();
            out += "BODYSTRUCTURE " + body_structure(msg->mime().root, true);
        }
        for (auto& sec : j.req.sections) {
            sep();
            out += sec.label + " ";
            std::string built;
            std::string_view data;
            if (!section_bytes(msg->wire, msg->mime().root, sec, built, data)) {
                out += "NIL";
                continue;
            }
            if (sec.partial) {
                if (sec.offset >= data.size())
                    data = {};
                else
                    data = data.substr(size_t(sec.offset), size_t(std::min<uint64_t>(sec.length, data.size() - sec.offset)));
            }
            out += "{" + std::to_string(data.size()) + "}\r\n";
            if (data.size() <= kInline || !built.empty()) {
                out.append(data);
            } else {
                // a slice of the loaded message, written with back-pressure
                s.queue(out_piece{std::move(out), nullptr, 0, 0});
                out.clear();
                std::shared_ptr<const std::string> buf(msg, &msg->wire);
                s.queue(out_piece{{}, buf, size_t(data.data() - msg->wire.data()), data.size()});
            }
        }
        out += ")\r\n";
        s.queue(out_piece{std::move(out), nullptr, 0, 0});
    }
    if (j.read_error)
        s.no(j.c, "[SERVERBUG] Some messages could not be read (expunged meanwhile?)");
    else if (j.any_gone)
        s.ok(j.c, "[EXPUNGEISSUED] Some messages were expunged meanwhile.");
    else
        s.ok(j.c, "Fetch completed.");
    return true;
}

}  // namespace

void session::cmd_fetch(command& c) {
    if (c.args.size() < 2 || !c.args[0].is_atom()) return bad(c, "Usage: FETCH sequence-set items");
    auto j = std::make_shared<fetch_job>();
    std::string err;
    if (!parse_fetch(c.args, 1, j->req, err)) return bad(c, err);
    if (j->req.vanished && (!c.uid || !_qresync)) return bad(c, "VANISHED needs UID FETCH and ENABLE QRESYNC");
    auto uids = resolve_set(c.args[0].text, c.uid, err, &j->any_gone);
    if (!uids) return bad(c, err);
    if (j->req.modseq) _condstore = true;  // RFC 7162 3.1: MODSEQ or CHANGEDSINCE enable CONDSTORE
    if (c.uid) j->req.uid = true;
    mailbox::folder& f = *_sel->f;
    if (j->req.changedsince) {
        uint64_t since = *j->req.changedsince;
        std::erase_if(*uids, [&](uint32_t u) {
            const mailbox::message* m = f.find(u);
            return !m || m->modseq <= since;
        });
        if (j->req.vanished) {
            auto set = seq_set::parse(c.args[0].text);
            seq_set asked = set->resolved(std::max<uint32_t>(f.uidnext() ? f.uidnext() - 1 : 0, 1));
            std::vector<seq_range> gone;
            for (auto& r : f.vanished_since(since))
                for (auto& a : asked.ranges()) {
                    uint32_t lo = std::max(a.lo, r.first), hi = std::min(a.hi, r.last);
                    if (lo <= hi) gone.push_back({lo, hi});
                }
            if (!gone.empty()) {
                std::sort(gone.begin(), gone.end(), [](auto& x, auto& y) { return x.lo < y.lo; });
                untagged("VANISHED (EARLIER) " + format_set(gone));
            }
        }
    }
    if (j->req.sets_seen() && !_sel->read_only) {
        std::vector<uint32_t> unseen;
        for (uint32_t u : *uids)
            if (const mailbox::message* m = f.find(u); m && !(m->flags & mailbox::flag::seen)) unseen.push_back(u);
        if (!unseen.empty()) {
            mailbox::store_result r;
            if (auto st = f.store(unseen, mailbox::flag_op::add, mailbox::flag::seen, 0, std::nullopt, r); !st)
                log::warn("%s: user=%s: setting \\Seen: %s", _peer.c_str(), _user.c_str(), st.reason.c_str());
            for (auto& u : r.updated) j->seen_now.insert(u.uid);
        }
    }
    j->c.tag = c.tag;
    j->c.name = c.name;
    j->c.uid = c.uid;
    j->uids = std::move(*uids);
    start_job([this, j] { return fetch_step(*this, *j); });
}

}  // namespace tern::imap
