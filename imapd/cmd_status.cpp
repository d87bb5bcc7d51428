// cmd_status.cpp - STATUS (RFC 3501 6.3.10) with CONDSTORE's HIGHESTMODSEQ;
// also the data LIST-STATUS returns. Counts come from the folder index
// alone (no message file is read).
#include "imapd/format.hpp"
#include "imapd/session.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

bool parse_status_items(const arg& list, std::vector<std::string>& items, std::string& err) {
    items.clear();
    if (!list.is_list() || list.items.empty()) {
        err = "STATUS needs a parenthesised list of items";
        return false;
    }
    static const char* known[] = {"MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "HIGHESTMODSEQ"};
    for (auto& a : list.items) {
        bool found = false;
        for (const char* k : known)
            if (a.is(k)) {
                items.push_back(k);
                found = true;
            }
        if (!found) {
            err = "Unknown STATUS item " + printable(a.text, 30);
            return false;
        }
    }
    return true;
}

mailbox::status session::status_data(const std::string& name, const std::vector<std::string>& items, std::string& out) {
    std::unique_ptr<mailbox::folder> own;
    mailbox::folder* f = nullptr;
    if (_sel && _sel->name == name) {
        f = _sel->f.get();
    } else {
        if (auto st = _store->open_folder(name, mailbox::open_mode::read_only, own); !st) return st;
        f = own.get();
    }
    mailbox::folder_counts n = f->counts();
    out = "(";
    for (auto& it : items) {
        if (out.size() > 1) out += ' ';
        out += it + " ";
        if (it == "MESSAGES") out += std::to_string(n.messages);
        else if (it == "RECENT") out += std::to_string(n.recent);
        else if (it == "UIDNEXT") out += std::to_string(f->uidnext());
        else if (it == "UIDVALIDITY") out += std::to_string(f->uidvalidity());
        else if (it == "UNSEEN") out += std::to_string(n.unseen);
        else if (it == "HIGHESTMODSEQ") out += std::to_string(f->highestmodseq());
    }
    out += ')';
    return mailbox::status::ok();
}

void session::cmd_status(command& c) {
    if (c.args.size() != 2) return bad(c, "Usage: STATUS mailbox (items)");
    std::vector<std::string> items;
    std::string err;
    if (!parse_status_items(c.args[1], items, err)) return bad(c, err);
    auto n = mailbox_arg(c.args[0], err);
    if (!n) return no(c, "[CANNOT] " + err);
    std::string data;
    if (auto st = status_data(*n, items, data); !st) return fail(c, st);
    untagged("STATUS " + mailbox_name(*n) + " " + data);
    ok(c, "Status completed.");
}

}  // namespace tern::imap
