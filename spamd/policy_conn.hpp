// policy_conn.hpp - one client connection of the policy service (Postfix's
// policy delegation protocol, raw attribute mode): "name=value" lines, a
// request ended by an empty line, one "action=..." reply per request, many
// requests per connection. Unlike lib/ipc's serve_attr_connection, a
// malformed request does not end the connection: its bad lines are
// skipped to the end of the request, which is answered with the reason.
// SECURITY: input from smtpd or any policy client (a TCP listener may face
// Postfix on another host); lines, attribute counts and request sizes are
// bounded, and an over-long line is skipped without being buffered.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "lib/attr.hpp"
#include "lib/event.hpp"
#include "lib/fd.hpp"

namespace spamd {

struct policy_limits {
    size_t max_line = 16384;
    size_t max_attrs = 200;
    size_t max_total = 256 * 1024;
    std::chrono::seconds idle{600};
};

// A request as read: its attributes, or why it is malformed.
struct raw_request {
    tern::attr_list attrs;
    std::string error;  // empty: well formed
};

using policy_reply = std::function<void(const std::string& action)>;
using policy_handler = std::function<void(raw_request req, policy_reply reply)>;

// Serve one accepted connection until EOF, error or idle timeout.
void serve_policy_connection(tern::event_loop& loop, tern::unique_fd fd, policy_handler handler, policy_limits lim);
size_t policy_connections_open();

}  // namespace spamd
