// commands.cpp - imapd's command table: every command, its handler and the
// states it is valid in (RFC 3501 section 6 plus the extensions). One
// file per command family implements the handlers; session.cpp dispatches.
#include "imapd/session.hpp"

#include "lib/strutil.hpp"

namespace tern::imap {

namespace {
using S = session;
// name, handler, not authenticated, authenticated, selected, UID variant
const command_row rows[] = {
    // any state
    {"CAPABILITY", &S::cmd_capability, true, true, true, false},
    {"NOOP", &S::cmd_noop, true, true, true, false},
    {"LOGOUT", &S::cmd_logout, true, true, true, false},
    {"ID", &S::cmd_id, true, true, true, false},
    // not authenticated (login.cpp)
    {"STARTTLS", &S::cmd_starttls, true, false, false, false},
    {"LOGIN", &S::cmd_login, true, false, false, false},
    {"AUTHENTICATE", &S::cmd_authenticate, true, false, false, false},
    // authenticated (and selected)
    {"ENABLE", &S::cmd_enable, false, true, true, false},
    {"SELECT", &S::cmd_select, false, true, true, false},
    {"EXAMINE", &S::cmd_select, false, true, true, false},
    {"CREATE", &S::cmd_create, false, true, true, false},
    {"DELETE", &S::cmd_delete, false, true, true, false},
    {"RENAME", &S::cmd_rename, false, true, true, false},
    {"SUBSCRIBE", &S::cmd_subscribe, false, true, true, false},
    {"UNSUBSCRIBE", &S::cmd_subscribe, false, true, true, false},
    {"LIST", &S::cmd_list, false, true, true, false},
    {"LSUB", &S::cmd_list, false, true, true, false},
    {"NAMESPACE", &S::cmd_namespace, false, true, true, false},
    {"STATUS", &S::cmd_status, false, true, true, false},
    {"APPEND", &S::cmd_append, false, true, true, false},
    {"IDLE", &S::cmd_idle, false, true, true, false},
    // selected
    {"CHECK", &S::cmd_check, false, false, true, false},
    {"CLOSE", &S::cmd_close, false, false, true, false},
    {"UNSELECT", &S::cmd_close, false, false, true, false},
    {"EXPUNGE", &S::cmd_expunge, false, false, true, true},
    {"SEARCH", &S::cmd_search, false, false, true, true},
    {"FETCH", &S::cmd_fetch, false, false, true, true},
    {"STORE", &S::cmd_store, false, false, true, true},
    {"COPY", &S::cmd_copy, false, false, true, true},
    {"MOVE", &S::cmd_copy, false, false, true, true},
    {"SORT", &S::cmd_sort, false, false, true, true},
    {"THREAD", &S::cmd_sort, false, false, true, true},
};
}  // namespace

const command_row* find_command(std::string_view name) {
    for (const auto& r : rows)
        if (name == r.name) return &r;
    return nullptr;
}

}  // namespace tern::imap
