// policy.hpp - client of Postfix's policy delegation protocol, for
// check_policy_service unix:private/NAME or inet:HOST:PORT: one request
// (request=smtpd_access_policy, protocol_state, client_address, ...) and
// one "action=..." reply per check, in raw attribute mode. Connections are
// kept per endpoint and reused (smtpd_policy_service_max_idle/max_ttl).
// Called by restrictions.cpp; spamd is such a server, and so is any
// Postfix policy server.
// SECURITY: replies are bounded (attr limits) and a server that does not
// answer in smtpd_policy_service_timeout yields the default action.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/attr.hpp"
#include "lib/event.hpp"
#include "lib/net.hpp"

namespace tern::smtpd {

// A request in flight; destroying it cancels it (its callback never runs).
class policy_wait {
public:
    virtual ~policy_wait() = default;
};

class policy_conn;

class policy_client {
public:
    // endpoint: "unix:/path" (already resolved against queue_directory) or "inet:host:port".
    policy_client(event_loop& loop, std::string endpoint, std::chrono::seconds timeout, std::chrono::seconds max_idle,
                  std::chrono::seconds max_ttl);
    ~policy_client();
    policy_client(const policy_client&) = delete;
    policy_client& operator=(const policy_client&) = delete;

    // action: the value of action= (nullopt on failure, err says why).
    using callback = std::function<void(std::optional<std::string> action, const std::string& err)>;
    std::unique_ptr<policy_wait> ask(const attr_list& req, callback cb);

    const std::string& endpoint() const { return _endpoint; }
    // for the request object
    void give_back(std::unique_ptr<policy_conn> c);
    // A new connection; none with `again` set when a UNIX listener's queue is full.
    std::unique_ptr<policy_conn> connect(std::string& err, bool& again);
    event_loop& loop() { return _loop; }
    std::chrono::seconds timeout() const { return _timeout; }

private:
    std::unique_ptr<policy_conn> take_idle();
    event_loop& _loop;
    std::string _endpoint;
    std::chrono::seconds _timeout, _max_idle, _max_ttl;
    std::vector<std::unique_ptr<policy_conn>> _idle;
};

// "unix:private/x" -> "unix:" + socket path; "inet:host:port" unchanged; nullopt if malformed.
std::optional<std::string> resolve_policy_endpoint(const std::string& spec,
                                                   const std::function<std::string(const std::string&)>& queue_path);

}  // namespace tern::smtpd
