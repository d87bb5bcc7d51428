// cmd_folders.cpp - mailbox management: CREATE, DELETE, RENAME (INBOX
// too: its messages move to the new name), SUBSCRIBE and UNSUBSCRIBE
// (RFC 3501 6.3.3-6.3.7), and how mailbox library errors become response
// codes (RFC 5530).
// SECURITY: names are checked by mailbox::normalize_folder_name before
// they reach a path.
#include <cerrno>

#include "imapd/session.hpp"
#include "lib/log.hpp"
#include "lib/utf8.hpp"

namespace tern::imap {

void session::fail(const command& c, const mailbox::status& st) {
    switch (st.err) {
    case ENOENT: return no(c, "[NONEXISTENT] " + st.reason);
    case EEXIST: return no(c, "[ALREADYEXISTS] " + st.reason);
    case EINVAL: return no(c, "[CANNOT] " + st.reason);
    case EDQUOT: case ENOSPC: case EFBIG: return no(c, "[OVERQUOTA] " + st.reason);
    case EROFS: return no(c, "[READ-ONLY] Mailbox is read-only");
    case EAGAIN: return no(c, "[INUSE] Mailbox is busy, try again later");
    case ENOTSUP: return no(c, "[CANNOT] " + st.reason);
    default:
        log::error("%s: user=%s: %s: %s", _peer.c_str(), _user.c_str(), c.name.c_str(), st.reason.c_str());
        return no(c, "[SERVERBUG] Internal error, see the server log");
    }
}

void session::cmd_create(command& c) {
    if (c.args.size() != 1 || !c.args[0].is_astring()) return bad(c, "Usage: CREATE mailbox");
    std::string_view name = c.args[0].text;
    // a trailing separator only says that children are planned (RFC 3501 6.3.3)
    while (name.size() > 1 && name.back() == mailbox::separator) name.remove_suffix(1);
    std::string reason;
    if (!modified_utf7_valid(name, &reason)) return no(c, "[CANNOT] Invalid mailbox name: " + reason);
    auto n = mailbox::normalize_folder_name(name, &reason);
    if (!n) return no(c, "[CANNOT] Invalid mailbox name: " + reason);
    if (*n == "INBOX") return no(c, "[ALREADYEXISTS] INBOX always exists");
    if (auto st = _store->create_folder(*n); !st) return fail(c, st);
    log::info("%s: user=%s: created %s", _peer.c_str(), _user.c_str(), n->c_str());
    ok(c, "Create completed.");
}

void session::cmd_delete(command& c) {
    if (c.args.size() != 1) return bad(c, "Usage: DELETE mailbox");
    std::string err;
    auto n = mailbox_arg(c.args[0], err);
    if (!n) return no(c, "[CANNOT] " + err);
    if (*n == "INBOX") return no(c, "[CANNOT] INBOX cannot be deleted");
    if (_sel && _sel->name == *n) {
        deselect(false);
        untagged("OK [CLOSED] Selected mailbox is being deleted");
    }
    if (auto st = _store->delete_folder(*n); !st) return fail(c, st);
    log::info("%s: user=%s: deleted %s", _peer.c_str(), _user.c_str(), n->c_str());
    ok(c, "Delete completed.");
}

void session::cmd_rename(command& c) {
    if (c.args.size() != 2) return bad(c, "Usage: RENAME from to");
    std::string err;
    auto from = mailbox_arg(c.args[0], err);
    if (!from) return no(c, "[CANNOT] " + err);
    auto to = mailbox_arg(c.args[1], err);
    if (!to) return no(c, "[CANNOT] " + err);
    if (*to == "INBOX") return no(c, "[ALREADYEXISTS] INBOX always exists");
    if (_sel && (_sel->name == *from || _sel->name.starts_with(*from + "/"))) {
        deselect(true);
        untagged("OK [CLOSED] Selected mailbox is being renamed");
    }
    if (auto st = _store->rename_folder(*from, *to); !st) return fail(c, st);
    log::info("%s: user=%s: renamed %s to %s", _peer.c_str(), _user.c_str(), from->c_str(), to->c_str());
    ok(c, "Rename completed.");
}

void session::cmd_subscribe(command& c) {
    bool on = c.name == "SUBSCRIBE";
    if (c.args.size() != 1) return bad(c, "Usage: " + c.name + " mailbox");
    std::string err;
    auto n = mailbox_arg(c.args[0], err);
    if (!n) return no(c, "[CANNOT] " + err);
    if (auto st = _store->subscribe(*n, on); !st) return fail(c, st);
    ok(c, on ? "Subscribe completed." : "Unsubscribe completed.");
}

}  // namespace tern::imap
