// queue_ctl.cpp - see queue_ctl.hpp.
#include "lib/queue_ctl.hpp"

#include <cerrno>
#include <optional>

#include "lib/attr.hpp"
#include "lib/ipc.hpp"
#include "lib/net.hpp"

namespace tern {
namespace {
std::string socket_path(const std::string& root) {
    std::string p = root;
    if (p != "/") p += '/';
    p += qmgr_public_socket;
    return p;
}
}  // namespace

qmgr_reply qmgr_flush(const std::string& queue_root, const flush_request& req, int timeout_ms, std::string& err) {
    std::string path = socket_path(queue_root);
    attr_list r;
    r.add("request", "flush");
    if (!req.queue_id.empty()) r.add("queue_id", req.queue_id);
    if (!req.site.empty()) r.add("site", req.site);
    std::string why;
    auto fd = connect_unix(path, timeout_ms, why);
    if (!fd) {
        int e = errno;  // kept by connect_unix's cleanup
        if (e == ECONNREFUSED || e == ENOENT) {
            err = "the mail system is not running (" + why + ")";
            return qmgr_reply::not_running;
        }
        err = why;
        return qmgr_reply::failed;
    }
    attr_stream s(fd.get());
    std::optional<attr_list> reply;
    if (s.write(r, timeout_ms, why)) reply = s.read(timeout_ms, why);
    if (!reply) {
        err = path + ": " + why;
        return qmgr_reply::failed;
    }
    if (reply->get("status") == "ok") return qmgr_reply::ok;
    err = reply->get("reason", "the qmgr refused the request");
    return reply->get("status").empty() ? qmgr_reply::failed : qmgr_reply::refused;
}

bool qmgr_wakeup(const std::string& queue_root, int timeout_ms) {
    attr_list r;
    r.add("request", "wakeup");
    return ipc_notify(socket_path(queue_root), r, timeout_ms);
}

}  // namespace tern
