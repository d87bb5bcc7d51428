// stream.hpp - one buffered, optionally TLS-wrapped socket connection on the
// event loop: the common transport of smtpd, pop3d, imapd and smtp-client.
// The owner (a session object) implements stream_handler; the stream never
// deletes its owner and never calls back after close().
// SECURITY: start_tls_*() throws away every byte that arrived before the
// handshake, so plaintext pipelined after STARTTLS/STLS is never executed.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include "lib/event.hpp"
#include "lib/fd.hpp"
#include "lib/net.hpp"

struct bufferevent;
struct evbuffer;

namespace tern {

class stream_handler {
public:
    virtual ~stream_handler() = default;
    virtual void on_readable() = 0;                      // input may be available
    virtual void on_closed(const std::string& why) = 0;  // EOF, error or timeout; the stream is dead
    virtual void on_flushed() {}                         // output buffer became empty
    virtual void on_connected() {}                       // outbound connect finished
    virtual void on_tls_ready() {}                       // handshake finished
};

struct bufferevent_deleter { void operator()(bufferevent* b) const noexcept; };
using bufferevent_ptr = std::unique_ptr<bufferevent, bufferevent_deleter>;

class stream {
public:
    // Wraps an accepted or connecting socket. `connecting`: wait for the
    // outbound connect to finish (on_connected).
    stream(event_loop& loop, unique_fd fd, stream_handler& h, bool connecting = false);
    ~stream();
    stream(const stream&) = delete;
    stream& operator=(const stream&) = delete;

    // Server side TLS: implicit (call right after construction) or STARTTLS:
    // write the "220 ready to start TLS" reply, then call this at once; the
    // reply still leaves in the clear, and every byte of input received so
    // far is thrown away (the caller must stop parsing its old input).
    bool start_tls_server(SSL_CTX* ctx);
    // Client side TLS with SNI.
    bool start_tls_client(SSL_CTX* ctx, const std::string& server_name);

    evbuffer* input() const;
    evbuffer* output() const;
    size_t pending_output() const;
    void write(std::string_view data);
    void write_evbuffer(evbuffer* src);  // moves src's contents
    // Idle limits: no input for `read` or no progress writing for `write` ends with on_closed("timeout").
    void set_timeouts(std::chrono::seconds read, std::chrono::seconds write);
    // Stop/resume reading (back-pressure).
    void pause_reading();
    void resume_reading();
    // Ask for on_readable() on the next loop turn (work budget, deferred work).
    void kick();
    // Close once the output is written (or at once); no callbacks afterwards.
    void close_after_flush();
    void close();
    bool closed() const { return !_bev; }
    bool closing() const { return _closing; }

    bool is_tls() const { return _ssl != nullptr; }
    SSL* ssl() const { return _ssl; }
    std::string tls_description() const;
    const sock_addr& peer() const { return _peer; }
    const sock_addr& local() const { return _local; }

private:
    static void read_cb(bufferevent*, void*) noexcept;
    static void write_cb(bufferevent*, void*) noexcept;
    static void event_cb(bufferevent*, short, void*) noexcept;
    static void kick_cb(int, short, void*) noexcept;
    void install_callbacks();
    void close_later(int ms);
    void fail(const std::string& why);

    event_loop& _loop;
    stream_handler& _h;
    bufferevent_ptr _bev;
    SSL* _ssl = nullptr;  // owned by the TLS bufferevent
    bool _closing = false;
    bool _handshaking = false;
    bool _connecting = false;
    event_ptr _kick;
    sock_addr _peer, _local;
    std::chrono::seconds _rto{0}, _wto{0};
    std::chrono::steady_clock::time_point _close_deadline{};
};

}  // namespace tern
