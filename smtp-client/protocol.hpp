// protocol.hpp - the SMTP client protocol engine: one session with one
// server as a state machine, free of I/O so that it can be driven by a real
// connection (connection.hpp) or by a unit test. It sends EHLO (HELO when
// EHLO is refused), STARTTLS per smtp_tls_security_level, then message
// transactions: MAIL/RCPT/DATA pipelined in one group when the server offers
// PIPELINING (RFC 2920: DATA ends the group), one at a time otherwise, with
// SIZE, BODY=8BITMIME, SMTPUTF8 and the DSN parameters (RFC 3461) when the
// server announces them. Each recipient gets a result; failures of the
// session itself (timeouts, lost connections, refused greetings) are
// reported once and end the session.
// SECURITY: everything the server says is untrusted: replies are parsed with
// limits (reply.hpp) and quoted into results only in printable form; no
// envelope value holding CR, LF or other control characters is ever sent.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smtp-client/reply.hpp"

namespace tern::smtp_client {

enum class tls_level { none, may, encrypt, verify };
bool parse_tls_level(std::string_view s, tls_level& out);

// Where the conversation is; names the activity in failure texts.
enum class stage { idle, greeting, ehlo, helo, starttls, tls_handshake, rset, mail, rcpt, data, body, data_done, dead };
// "receiving the initial server greeting", "sending RCPT TO", ...
const char* stage_activity(stage s);
// Command name for "(in reply to X command)": "MAIL FROM", "end of DATA", ...
const char* stage_command(stage s);

struct timeouts {
    std::chrono::seconds connect{30}, helo{300}, starttls{300}, mail{300}, rcpt{300}, data_init{120},
        data_xfer{180}, data_done{600}, rset{20};
};

// What a delivery attempt did with one recipient (or with all of them).
struct result {
    std::string dsn;     // "2.0.0", "4.4.1", "5.1.1"
    std::string action;  // delivered | relayed | deferred | failed
    std::string text;    // "host mx.example.net[192.0.2.1] said: 550 5.1.1 ... (in reply to RCPT TO command)"
    std::string mta;     // the remote MTA's name when it said something, else ""
    std::string diag;    // "smtp; 550 5.1.1 ..." when the remote said something, else ""

    bool success() const { return !dsn.empty() && dsn[0] == '2'; }
    bool hard() const { return !dsn.empty() && dsn[0] == '5'; }
    bool soft() const { return !success() && !hard(); }
};

// A temporary (4.x.x) or permanent (5.x.x) result made up by tern itself.
result local_result(std::string dsn, std::string text);

struct recipient {
    // from the delivery request
    std::string addr;
    std::string orcpt;   // "rfc822;alice@example.net" (decoded), may be empty
    std::string notify;  // "SUCCESS,FAILURE", may be empty
    std::string id;      // the qmgr's handle, returned as is

    bool has_result = false;
    bool final = false;       // 2xx after DATA or 5xx: never try again in this request
    bool retry_now = false;   // 452 "too many recipients": worth a new transaction at once
    bool accepted = false;    // 2xx to RCPT in the current transaction
    result res;
    std::string relay;        // "mx.example.net[192.0.2.1]:25" that gave res, for logs
    void set(result r, bool is_final) {
        res = std::move(r);
        has_result = true;
        final = is_final;
    }
};

// One message transaction.
struct transaction {
    std::string sender;         // "" for the null sender
    std::string envid;          // DSN ENVID, decoded
    std::string ret;            // FULL | HDRS | ""
    bool body_8bitmime = false; // send BODY=8BITMIME (the message is 8-bit and the server takes it)
    bool smtputf8 = false;      // the sender asked for SMTPUTF8
    bool utf8_needed = false;   // addresses or headers are not ASCII: SMTPUTF8 is required
    uint64_t size = 0;          // message size for SIZE=, 0: unknown
    std::vector<recipient*> rcpts;
};

struct session_settings {
    std::string helo_name = "localhost";
    std::string destination;    // the next hop's domain, for "mail for X loops back to myself"
    tls_level tls = tls_level::may;
    bool tls_available = true;  // a client TLS context exists
    bool plaintext_only = false;// a TLS attempt with this server failed at level may
    bool skip_5xx_greeting = true;
    timeouts t;
};

struct session_failure {
    result res;                 // what every affected recipient gets
    bool retry_plaintext = false;  // TLS failed at level may: try the same server without TLS
    bool before_any_reply = false; // nothing was heard in this phase (a stale cached connection)
};

// What the engine asks of its driver.
class protocol_io {
public:
    virtual ~protocol_io() = default;
    virtual void write(std::string_view data) = 0;
    // A reply is due within `limit`; 0 cancels the wait.
    virtual void expect_reply(std::chrono::seconds limit) = 0;
    // Start the client TLS handshake; report with protocol::tls_done().
    virtual void start_tls() = 0;
    // Send the message (already dot-stuffed, with the final ".") and call
    // protocol::body_sent() once it is all queued for writing.
    virtual void send_body() = 0;
    // The session is established (or a transaction ended): idle, ready for begin().
    virtual void session_ready() = 0;
    // A transaction ended; recipients carry their results. The session is idle again.
    virtual void transaction_done() = 0;
    // The session is unusable; the driver closes it.
    virtual void session_failed(const session_failure& f) = 0;
};

class protocol {
public:
    // peer_name: the server's host name ("mx.example.net"), peer_addr its address.
    protocol(protocol_io& io, session_settings s, std::string peer_name, std::string peer_addr);

    // Events from the driver.
    void connected();                       // TCP is up: the greeting is next
    void reply(const smtp_reply& r);        // one complete reply
    void tls_done(bool ok, const std::string& err);
    void body_sent();
    void timed_out();
    void lost(const std::string& why);      // EOF or socket error
    void bad_reply(const std::string& why); // the reply parser failed

    // Requests from the delivery.
    // Start a transaction (only when idle). False when nothing was sent
    // because every recipient already has its result (bad addresses,
    // SMTPUTF8 or SIZE refused up front): no callback follows then.
    bool begin(transaction& tx);
    void reset();                           // RSET, for a cached session: ready again or failed
    void quit();                            // writes QUIT; the driver closes after flushing
    // End the session at once with a local failure (e.g. the queue file
    // could not be read while sending the body).
    void abort(const result& r) { fail(r); }

    stage where() const { return _stage; }
    bool idle() const { return _stage == stage::idle; }
    bool dead() const { return _stage == stage::dead; }
    bool tls_active() const { return _tls_active; }
    const capabilities& caps() const { return _caps; }
    const session_settings& settings() const { return _s; }
    // "mx.example.net[192.0.2.1]"
    const std::string& peer() const { return _peer; }
    const std::string& peer_name() const { return _peer_name; }
    // Transactions started on this session.
    unsigned transactions() const { return _transactions; }

private:
    struct pending {
        stage st;
        size_t index;  // recipient index for rcpt
    };
    void send_ehlo();
    void after_ehlo();
    void go_idle();
    void fail(result r, bool retry_plaintext = false);
    void fail_session(const std::string& dsn, const std::string& text);
    void transaction_reply(const smtp_reply& r);
    void progress();
    void finish_transaction();
    void send_rset_then_done();
    std::chrono::seconds timeout_for(stage s) const;
    result said(const smtp_reply& r, stage st) const;
    result delivered(const smtp_reply& r, const recipient& rc) const;
    std::string mail_command() const;
    std::string rcpt_command(const recipient& rc) const;

    protocol_io& _io;
    session_settings _s;
    std::string _peer_name, _peer;
    stage _stage = stage::idle;
    capabilities _caps;
    bool _tls_active = false;
    bool _heard = false;         // a reply arrived in the current phase
    unsigned _transactions = 0;

    // current transaction
    transaction* _tx = nullptr;
    std::vector<pending> _queue;  // commands not sent yet (non-pipelined)
    std::vector<pending> _await;  // commands sent, replies due, in order
    bool _mail_ok = false;
    bool _mail_failed = false;
    size_t _accepted = 0;
    bool _discard_data = false;   // 354 although nobody was accepted: send "." only
};

}  // namespace tern::smtp_client
