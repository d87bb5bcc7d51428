// cmd_enable.cpp - ENABLE (RFC 5161) for CONDSTORE and QRESYNC (RFC 7162)
// and NAMESPACE (RFC 2342): one personal namespace, "" with separator "/".
#include "imapd/session.hpp"

#include "lib/strutil.hpp"

namespace tern::imap {

void session::cmd_enable(command& c) {
    if (c.args.empty()) return bad(c, "ENABLE needs at least one capability");
    std::string enabled;
    for (const arg& a : c.args) {
        if (!a.is_atom()) return bad(c, "ENABLE takes capability names");
        if (a.is("CONDSTORE") && !_condstore) {
            _condstore = true;
            enabled += " CONDSTORE";
        } else if (a.is("QRESYNC") && !_qresync) {
            // QRESYNC implies CONDSTORE (RFC 7162 3.2.3)
            _qresync = true;
            if (!_condstore) enabled += " CONDSTORE";
            _condstore = true;
            enabled += " QRESYNC";
        }
    }
    untagged("ENABLED" + enabled);
    ok(c, "Enabled.");
}

void session::cmd_namespace(command& c) {
    if (!c.args.empty()) return bad(c, "NAMESPACE takes no arguments");
    untagged("NAMESPACE ((\"\" \"/\")) NIL NIL");
    ok(c, "Namespace completed.");
}

}  // namespace tern::imap
