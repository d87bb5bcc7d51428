// cmd_any.cpp - commands valid in every state: CAPABILITY, NOOP, LOGOUT
// (RFC 3501 6.1) and ID (RFC 2971).
// SECURITY: runs before authentication; ID values are logged only in
// printable form and bounded.
#include "imapd/session.hpp"

#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

std::string session::capabilities() const {
    std::string c = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE NAMESPACE UIDPLUS MOVE UNSELECT CHILDREN "
                    "LIST-EXTENDED LIST-STATUS SPECIAL-USE CONDSTORE QRESYNC ESEARCH SORT "
                    "THREAD=REFERENCES THREAD=ORDEREDSUBJECT";
    if (_state == state::not_authenticated) {
        if (_s && !_s->is_tls() && _d.tls) c += " STARTTLS";
        c += credentials_allowed() ? " AUTH=PLAIN" : " LOGINDISABLED";
    }
    return c;
}

void session::cmd_capability(command& c) {
    if (!c.args.empty()) return bad(c, "CAPABILITY takes no arguments");
    untagged("CAPABILITY " + capabilities());
    ok(c, "Capability completed.");
}

void session::cmd_noop(command& c) {
    if (!c.args.empty()) return bad(c, "NOOP takes no arguments");
    ok(c, "NOOP completed.");
}

void session::cmd_logout(command& c) {
    if (!c.args.empty()) return bad(c, "LOGOUT takes no arguments");
    untagged("BYE Logging out");
    deselect(true);
    _state = state::logout;
    write(c.tag + " OK Logout completed.\r\n");
    _s->close_after_flush();
}

void session::cmd_id(command& c) {
    if (c.args.size() != 1) return bad(c, "ID takes one argument: NIL or a list of field/value pairs");
    const arg& a = c.args[0];
    std::string seen;
    if (!a.is_nil()) {
        if (!a.is_list() || a.items.size() % 2 != 0 || a.items.size() > 60)
            return bad(c, "ID: expected a list of up to 30 field/value pairs");
        for (size_t i = 0; i < a.items.size(); i += 2) {
            const arg& k = a.items[i];
            const arg& v = a.items[i + 1];
            if (!k.is_string() || k.text.size() > 30 || !(v.is_string() || v.is_nil()) || v.text.size() > 1024)
                return bad(c, "ID: fields are strings of at most 30 octets, values strings of at most 1024 or NIL");
            if (!seen.empty()) seen += ", ";
            seen += printable(k.text, 30) + "=" + (v.is_nil() ? std::string("NIL") : printable(v.text, 80));
        }
    }
    if (!seen.empty()) log::info("%s: client id: %s", _peer.c_str(), seen.c_str());
    untagged("ID (\"name\" \"tern\" \"vendor\" \"tern\" \"support-url\" \"https://tern.invalid/\")");
    ok(c, "ID completed.");
}

}  // namespace tern::imap
