// cmd_idle.cpp - IDLE (RFC 2177). While idling the session watches the
// selected folder through the process's one inotify instance
// (daemon_state::notifier) and sends EXISTS / EXPUNGE / FETCH as soon as
// a change shows up; an idle session holds no message and no job, only
// its connection and folder index.
#include "imapd/session.hpp"
#include "lib/strutil.hpp"

namespace tern::imap {

void session::cmd_idle(command& c) {
    if (!c.args.empty()) return bad(c, "IDLE takes no arguments");
    _mode = mode::idle;
    _mode_tag = c.tag;
    _cache.reset();
    write("+ idling\r\n");
    if (_sel) {
        watch_selected(true);
        send_updates(true);
    }
}

void session::end_idle(const std::string& line) {
    watch_selected(false);
    _mode = mode::command;
    command c;
    c.tag = std::move(_mode_tag);
    c.name = "IDLE";
    if (!iequals(line, "DONE")) return bad(c, "Expected DONE to end IDLE");
    ok(c, "IDLE terminated.");
}

}  // namespace tern::imap
