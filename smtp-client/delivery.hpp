// delivery.hpp - one delivery request from the qmgr (docs/internal-protocols.md,
// "Delivery requests"): the message in its queue file, the recipients for
// one next hop. Finds the servers (resolve.hpp) or a cached session for the
// destination, tries them in order until every recipient has a final result
// or smtp_mx_address_limit / smtp_mx_session_limit run out (temporary
// failures move on to the next server), converts 8-bit mail for a server
// without 8BITMIME, and answers with one result per recipient.
// SECURITY: the request comes from the qmgr over a private socket but is
// still checked (counts, names, the queue file path); remote replies reach
// the answer only as printable text.
#pragma once

#include <chrono>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lib/attr.hpp"
#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "lib/ipc.hpp"
#include "lib/tls.hpp"
#include "smtp-client/cache.hpp"
#include "smtp-client/connection.hpp"
#include "smtp-client/message.hpp"
#include "smtp-client/protocol.hpp"
#include "smtp-client/resolve.hpp"

namespace tern::smtp_client {

class delivery;

struct client_config {
    session_settings session;  // helo name, TLS level, timeouts, 5xx greeting rule
    int default_port = 25;
    sock_addr bind4, bind6;    // len 0: none
    unsigned session_limit = 2;
    size_t line_limit = 998;
    size_t reply_line_limit = 4096;
    size_t reply_line_count = 100;
    bool mime_conversion = true;
    route_settings route;
    size_t max_recipients = 100000;
};

// What every delivery of this process shares.
struct client_context {
    explicit client_context(event_loop& l) : loop(l), rng(std::random_device{}()) {}
    event_loop& loop;
    client_config cfg;
    ssl_ctx_ptr tls_ctx;
    std::unique_ptr<dns::resolver> resolver;
    std::unique_ptr<conn_cache> cache;
    std::mt19937 rng;
    std::string queue_root;  // queue_directory as seen from inside the jail
    std::list<std::unique_ptr<delivery>> active;

    // Start a delivery for one request; the responder is called exactly once.
    void deliver(const attr_list& req, attr_responder respond);
    void finished(delivery* d);
    void shutdown();
};

class delivery final : public connection_user {
public:
    delivery(client_context& ctx, attr_responder respond);
    ~delivery() override;
    void start(const attr_list& req);

    // connection_user
    void conn_ready(connection& c) override;
    void conn_transaction_done(connection& c) override;
    void conn_failed(connection& c, const session_failure& f) override;

private:
    bool parse(const attr_list& req, std::string& err);
    bool prepare_message(std::string& err);
    void start_routing();
    void route_done(route_outcome o);
    void next_server();
    void connect_to(const candidate& cand, bool plaintext_only);
    void begin_transaction();
    void after_transaction();
    void release_connection();
    bool all_final() const;
    size_t delivered_count() const;
    void set_pending(const result& r, const std::string& relay);
    void finish();
    void answer_error(const std::string& reason);

    client_context& _ctx;
    attr_responder _respond;
    bool _answered = false;
    std::chrono::steady_clock::time_point _started;

    // the request
    std::string _queue_id, _queue_file, _nexthop_text, _sender, _envid, _ret, _body;
    bool _smtputf8 = false;
    std::vector<recipient> _rcpts;

    nexthop _nh;
    int _port = 25;
    std::string _dest_key;
    std::unique_ptr<queued_message> _msg;
    std::unique_ptr<file_body> _file_body;
    std::unique_ptr<memory_body> _converted;
    int _is_8bit = -1;  // unknown / no / yes
    transaction _tx;

    std::unique_ptr<route_lookup> _route;
    bool _routed = false;
    std::vector<candidate> _servers;
    size_t _next = 0;
    unsigned _sessions = 0;
    std::unique_ptr<connection> _conn;
    const candidate* _cand = nullptr;  // the server _conn talks to (null: cached by destination)
    bool _reused = false;
    bool _counted = false;
    bool _in_tx = false;
    bool _plaintext_retried = false;
    unsigned _transactions = 0;
    size_t _delivered_before = 0;
};

}  // namespace tern::smtp_client
