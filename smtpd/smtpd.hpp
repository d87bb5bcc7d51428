// smtpd.hpp - what every part of smtpd shares: the settings read from
// main.cf once at start, and the per-process context (TLS context, lookup
// tables, restriction lists, DNS resolver, policy clients, queue committer,
// per-client connection counts, the open sessions).
// Called by main.cpp (builds it), the session and the command handlers.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "lib/dns.hpp"
#include "lib/maps.hpp"
#include "lib/net_list.hpp"
#include "lib/queue_commit.hpp"
#include "lib/queue_dir.hpp"
#include "lib/server.hpp"
#include "lib/tls.hpp"
#include "smtpd/restrictions.hpp"

namespace tern::smtpd {

using seconds = std::chrono::seconds;

enum class tls_level { none, may, encrypt };

struct settings {
    // identity
    std::string myhostname, mydomain, myorigin, mail_name, banner;
    std::string service;  // master.cf service name, for logs and auth requests
    // protocol
    std::set<std::string> discard_ehlo;  // upper-case keywords
    bool helo_required = false, delay_reject = true, disable_vrfy = false, peername_lookup = true;
    bool forbid_bare_newline = true, always_add_missing_headers = false, reject_unlisted_recipient = true;
    int hopcount_limit = 50;
    // limits
    size_t recipient_limit = 1000, line_limit = 2048, output_limit = 262144;
    uint64_t header_limit = 102400, message_size_limit = 10240000, queue_minfree = 0;
    int hard_error_limit = 20, soft_error_limit = 10, conn_limit = 50;
    seconds error_sleep{1}, timeout{300}, data_timeout{300}, starttls_timeout{300}, auth_timeout{30};
    // TLS and AUTH
    tls_level tls = tls_level::may;
    bool wrapper = false, tls_auth_only = true, sasl_enable = true, tls_received = true, auth_header = true;
    // reply codes
    int reject_code = 554, defer_code = 450, access_reject_code = 554, access_defer_code = 450;
    int relay_reject_code = 554, invalid_hostname_code = 501, non_fqdn_code = 504;
    int unknown_address_code = 550, unknown_address_tempfail_code = 450, unknown_client_code = 450;
    int unknown_local_code = 550, unknown_virtual_mailbox_code = 550, unknown_virtual_alias_code = 550;
    int unknown_relay_code = 550;
    // policy
    seconds policy_timeout{100}, policy_max_idle{300}, policy_max_ttl{1000};
    std::string policy_default_action;
    seconds dns_timeout{10};
    // services (absolute paths, valid inside a chroot)
    std::string auth_socket, qmgr_socket;
    // content check after the data (empty socket: none)
    std::string content_socket;
    seconds content_timeout{60};
    uint64_t content_size_limit = 10485760;
};

class session;
class policy_client;
class recipient_check;

class context {
public:
    context(server& srv);
    ~context();
    context(const context&) = delete;
    context& operator=(const context&) = delete;

    // Reads main.cf into settings, opens tables and parses the restriction
    // lists. Problems that should stop the daemon are fatal; a broken
    // restriction list only makes smtpd answer 451 4.3.5 (as Postfix does).
    void load();
    // After the privilege drop: resolver, committer.
    void start();

    server& srv;
    settings s;
    ssl_ctx_ptr tls_ctx;  // null: no STARTTLS/implicit TLS possible
    std::unique_ptr<queue_dir> queue;
    std::unique_ptr<queue_committer> committer;
    std::unique_ptr<dns::resolver> resolver;
    std::unique_ptr<recipient_check> recipients;
    net_list mynetworks;
    bool mynetworks_ok = true;

    // restriction lists by stage; config_error non-empty: answer 451 4.3.5
    restriction_list client_r, helo_r, sender_r, relay_r, recipient_r, data_r, eod_r, etrn_r;
    std::string config_error;

    // check_policy_service endpoints, shared by all sessions
    policy_client& policy(const std::string& endpoint);

    // sessions
    void add_session(std::unique_ptr<session> s);
    void end_session(session* s);
    size_t session_count() const { return _sessions.size(); }
    // per-client connection counts (smtpd_client_connection_count_limit)
    int client_connect(const std::string& addr) { return ++_per_client[addr]; }
    void client_disconnect(const std::string& addr);

    // Ask the qmgr to look at incoming/ soon (coalesced: one request per loop turn).
    void wake_qmgr();
    // Close every session and release what lives on the event loop; the
    // context itself may then outlive the loop.
    void stop();
    bool stopped() const { return _stopped; }

private:
    std::unordered_map<session*, std::unique_ptr<session>> _sessions;
    std::unordered_map<std::string, int> _per_client;
    std::map<std::string, std::unique_ptr<policy_client>> _policies;
    bool _wake_pending = false;
    bool _stopped = false;
};

}  // namespace tern::smtpd
