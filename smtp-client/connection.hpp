// connection.hpp - one outbound SMTP connection: a non-blocking TCP connect
// with smtp_connect_timeout, a lib/stream (STARTTLS upgrade), the protocol
// engine with its per-stage reply timer, and the message body streamed from
// its source through the DATA encoder with back-pressure. A connection
// belongs to one delivery at a time or, while idle, to the connection cache.
// SECURITY: the remote server is untrusted; replies go through the bounded
// reply parser and the engine; nothing it sends is ever executed.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <openssl/ssl.h>

#include "lib/event.hpp"
#include "lib/net.hpp"
#include "lib/stream.hpp"
#include "smtp-client/data.hpp"
#include "smtp-client/protocol.hpp"
#include "smtp-client/reply.hpp"

namespace tern::smtp_client {

class connection;

// The message bytes (LF line ends) to send after DATA.
class body_source {
public:
    virtual ~body_source() = default;
    // Append up to `max` next bytes to out; false with err on a read error.
    // An empty append means the end.
    virtual bool next(std::string& out, size_t max, std::string& err) = 0;
    // Start again from the first byte (for the next transaction).
    virtual void rewind() = 0;
};

// Whoever uses the connection now (a delivery or the cache).
class connection_user {
public:
    virtual ~connection_user() = default;
    // Idle and ready for begin(): after the handshake or after an RSET check.
    virtual void conn_ready(connection& c) = 0;
    virtual void conn_transaction_done(connection& c) = 0;
    // The connection is dead (connect failure included); destroy it later.
    virtual void conn_failed(connection& c, const session_failure& f) = 0;
};

struct connection_params {
    session_settings session;
    std::string host;       // for "host X said" and SNI
    std::string addr;       // numeric
    int port = 25;
    sock_addr source;       // len 0: none
    SSL_CTX* tls_ctx = nullptr;
    size_t line_limit = 998;
    size_t reply_line_limit = 4096;
    size_t reply_line_count = 100;
    std::string dest_key;   // connection cache keys
    std::string addr_key;
};

class connection final : public stream_handler, public protocol_io {
public:
    connection(event_loop& loop, connection_params p, connection_user* user);
    ~connection() override;
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Start connecting; the outcome arrives through the user's callbacks,
    // never from inside this call.
    void start();
    void set_user(connection_user* u) { _user = u; }
    connection_user* user() const { return _user; }
    // The body for the next transaction (must outlive it).
    void set_body(body_source* b) { _body = b; }

    protocol& proto() { return *_proto; }
    const connection_params& params() const { return _p; }
    // "mx.example.net[192.0.2.1]:25"
    std::string relay() const;
    std::chrono::steady_clock::time_point created() const { return _created; }
    bool alive() const { return !_dead; }
    bool quitting() const { return _quitting; }
    // TCP connected at some point (a session was opened, for smtp_mx_session_limit).
    bool was_connected() const { return _was_connected; }
    // Send QUIT (when the session is up) and close once it is written or
    // after `limit`; the user then gets conn_failed with an empty result.
    void quit(std::chrono::seconds limit);
    // Close at once without a word (no callbacks afterwards).
    void drop();
    // End the transaction in progress with a local failure (queue file I/O).
    void abort(const result& r);
    std::string tls_description() const { return _s ? _s->tls_description() : ""; }

private:
    // stream_handler
    void on_readable() override;
    void on_closed(const std::string& why) override;
    void on_flushed() override;
    void on_connected() override;
    void on_tls_ready() override;
    // protocol_io
    void write(std::string_view data) override;
    void expect_reply(std::chrono::seconds limit) override;
    void start_tls() override;
    void send_body() override;
    void session_ready() override;
    void transaction_done() override;
    void session_failed(const session_failure& f) override;

    static void connect_cb(int fd, short what, void* arg) noexcept;
    void connect_done(short what);
    void on_timer();
    void connect_failed(const std::string& why);
    void close_stream();
    void pump_body();
    void report_failure(const session_failure& f);

    event_loop& _loop;
    connection_params _p;
    connection_user* _user;
    std::unique_ptr<protocol> _proto;
    std::unique_ptr<stream> _s;
    unique_fd _connect_fd;  // while the TCP connect is in progress
    event_ptr _connect_ev;
    reply_parser _parser;
    timer _timer;
    bool _connecting = false;
    bool _was_connected = false;
    bool _dead = false;
    bool _quitting = false;
    bool _in_body = false;
    bool _body_done = false;
    body_source* _body = nullptr;
    std::unique_ptr<data_encoder> _enc;
    std::chrono::steady_clock::time_point _created;
    std::shared_ptr<bool> _alive_token;
};

}  // namespace tern::smtp_client
