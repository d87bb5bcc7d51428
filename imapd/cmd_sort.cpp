// cmd_sort.cpp - SORT and THREAD (RFC 5256) and their UID forms: the
// search runs as a job (search_job.hpp), then the header of each match
// is read (a bounded number per step) to build the rows the pure
// algorithms in thread.cpp order.
#include "imapd/format.hpp"
#include "imapd/search_job.hpp"
#include "imapd/thread.hpp"
#include "lib/addr.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

namespace {
constexpr size_t kHeadersPerStep = 200;

std::string first_mailbox(const header_section& h, std::string_view name) {
    const header_field* f = h.first(name);
    if (!f) return "";
    address_list l = parse_address_list(f->raw_value());
    for (auto& a : l.items)
        if (a.type == mail_address::kind::mailbox) return search_fold(a.local);
    return "";
}

struct sort_job {
    search_job search;
    bool searched = false;
    bool thread = false;
    bool references = false;
    bool need_header = true;
    std::vector<sort_key> keys;
    std::vector<sort_row> srows;
    std::vector<thread_row> trows;
    size_t next = 0;
};

bool sort_step(session& s, sort_job& j) {
    if (!j.searched) {
        if (!search_step(s, j.search)) return false;
        j.searched = true;
    }
    selected_box& box = *s.sel();
    mailbox::folder& f = *box.f;
    size_t n = 0;
    while (j.next < j.search.matches.size()) {
        if (n++ >= kHeadersPerStep) return false;
        uint32_t uid = j.search.matches[j.next++];
        const mailbox::message* m = f.find(uid);
        auto seq = box.seq_of(uid);
        if (!m || !seq) continue;
        uint32_t id = j.search.c.uid ? uid : *seq;
        header_section h;
        if (j.need_header)
            if (auto msg = s.load(uid, true)) h = parse_header(msg->wire);
        std::optional<int64_t> sent;
        if (auto d = h.get("Date")) sent = parse_rfc5322_date(*d);
        int64_t date = sent ? *sent : m->internal_date;
        auto subj = h.first("Subject");
        bool reply = false;
        std::string base = subj ? base_subject(subj->raw_value(), &reply) : std::string();
        if (!j.thread) {
            sort_row r;
            r.seq = *seq;
            r.id = id;
            r.arrival = m->internal_date;
            r.date = date;
            r.size = m->wire_size;
            r.cc = first_mailbox(h, "Cc");
            r.from = first_mailbox(h, "From");
            r.to = first_mailbox(h, "To");
            r.subject = std::move(base);
            j.srows.push_back(std::move(r));
        } else {
            thread_row r;
            r.seq = *seq;
            r.id = id;
            r.date = date;
            if (auto v = h.get("Message-ID")) {
                auto ids = message_ids(*v);
                if (!ids.empty()) r.message_id = ids[0];
            }
            if (auto v = h.get("References")) r.references = message_ids(*v);
            if (r.references.empty())
                if (auto v = h.get("In-Reply-To")) {
                    auto ids = message_ids(*v);
                    if (!ids.empty()) r.references.push_back(ids[0]);
                }
            r.subject = std::move(base);
            r.reply = reply;
            j.trows.push_back(std::move(r));
        }
    }
    if (!j.thread) {
        std::string out = "* SORT";
        for (uint32_t id : sort_rows(std::move(j.srows), j.keys)) out += " " + std::to_string(id);
        s.write(out + "\r\n");
        s.ok(j.search.c, "Sort completed.");
    } else {
        std::string data = j.references ? thread_references(j.trows) : thread_orderedsubject(j.trows);
        s.write("* THREAD" + (data.empty() ? std::string() : " " + data) + "\r\n");
        s.ok(j.search.c, "Thread completed.");
    }
    return true;
}
}  // namespace

void session::cmd_sort(command& c) {
    bool thread = c.name == "THREAD";
    auto& a = c.args;
    if (a.size() < 3) return bad(c, thread ? "Usage: THREAD algorithm charset keys" : "Usage: SORT (criteria) charset keys");
    auto j = std::make_shared<sort_job>();
    j->thread = thread;
    std::string err;
    if (thread) {
        if (a[0].is("REFERENCES")) j->references = true;
        else if (!a[0].is("ORDEREDSUBJECT")) return bad(c, "Unknown THREAD algorithm (REFERENCES or ORDEREDSUBJECT)");
    } else {
        if (!parse_sort_criteria(a[0], j->keys, err)) return bad(c, err);
        j->need_header = false;
        for (auto& k : j->keys)
            if (k.type != sort_key::kind::arrival && k.type != sort_key::kind::size) j->need_header = true;
    }
    if (!a[1].is_astring()) return bad(c, "Charset expected");
    if (!prepare_search(*this, c, 2, true, std::string(a[1].text), j->search)) return;
    start_job([this, j] { return sort_step(*this, *j); });
}

}  // namespace tern::imap
