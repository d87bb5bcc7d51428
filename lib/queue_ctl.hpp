// queue_ctl.hpp - requests to the qmgr's public socket (queue_directory/
// public/qmgr): flush the whole queue, one message or one site, and the
// wake-up that smtpd, pickup and postsuper send after queueing mail. The
// attributes are documented in docs/queue.md ("qmgr requests") so that the
// qmgr can serve them exactly. Called by postqueue, sendmail -q and smtpd ETRN.
#pragma once

#include <string>
#include <string_view>

namespace tern {

inline constexpr std::string_view qmgr_public_socket = "public/qmgr";

struct flush_request {
    std::string queue_id;  // -i: one message
    std::string site;      // -s / ETRN: deferred mail for this domain
};

enum class qmgr_reply { ok, refused, not_running, failed };

// Send request=flush (with queue_id= or site= when set) and wait for the
// reply. refused: the qmgr answered status=error (err has its reason);
// not_running: nothing listens on the socket; failed: timeout or bad reply.
qmgr_reply qmgr_flush(const std::string& queue_root, const flush_request& req, int timeout_ms, std::string& err);

// request=wakeup, without waiting for the reply. False when the qmgr is not reachable.
bool qmgr_wakeup(const std::string& queue_root, int timeout_ms = 1000);

}  // namespace tern
