// ipc.hpp - requests to other tern services over their UNIX sockets, using
// the attr codec: blocking (tools, simple callers) and asynchronous on the
// event loop (smtpd asking auth or spamd, qmgr asking delivery agents).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "lib/attr.hpp"
#include "lib/event.hpp"
#include "lib/fd.hpp"

namespace tern {

// One request, one reply, on a fresh connection. nullopt with err on failure.
std::optional<attr_list> ipc_call(const std::string& socket_path, const attr_list& req, int timeout_ms,
                                  std::string& err, attr_limits lim = {});

// Fire and forget (e.g. waking the qmgr). Never blocks longer than timeout_ms;
// a service whose listen queue is full is not waited for (false at once).
bool ipc_notify(const std::string& socket_path, const attr_list& req, int timeout_ms);

// Asynchronous request; `done` runs on the loop exactly once, unless the
// returned handle is destroyed first (then never).
class ipc_request;
using ipc_callback = std::function<void(std::optional<attr_list> reply, const std::string& err)>;
std::unique_ptr<ipc_request> ipc_async(event_loop& loop, const std::string& socket_path, const attr_list& req,
                                       std::chrono::milliseconds timeout, ipc_callback done,
                                       attr_limits lim = {});
// Destroying the handle cancels the request.
class ipc_request {
public:
    virtual ~ipc_request() = default;
};

// Server side helper: a connection that reads attr lists and answers them.
// handle() gets each request and a responder that may be called later (from
// another callback); the connection closes on EOF, error or timeout.

using attr_responder = std::function<void(const attr_list& reply)>;
using attr_handler = std::function<void(const attr_list& req, attr_responder respond)>;
void serve_attr_connection(event_loop& loop, unique_fd fd, attr_handler handler,
                           std::chrono::seconds idle_timeout, attr_limits lim = {});
// Number of attr connections currently open in this process (for draining).
size_t attr_connections_open();

}  // namespace tern
