// session.hpp - one SMTP connection: its state (client, HELO, TLS, AUTH,
// the mail transaction), the input loop that turns bytes into commands,
// message data or AUTH responses, and the reply side (pipelining-friendly:
// replies queue up and go out when the input runs dry). Command handlers
// (cmd_*.cpp) work on it through the public members and methods below.
// SECURITY: everything read here comes from the network. Input is taken in
// bounded pieces (line_length_limit, a work budget per event), output is
// bounded (smtpd_output_buffer_limit stops reading), and every error counts
// toward smtpd_hard_error_limit.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "lib/ipc.hpp"
#include "lib/queue_file.hpp"
#include "lib/smtp_proto.hpp"
#include "lib/stream.hpp"
#include "smtpd/restrictions.hpp"

namespace tern::smtpd {

class context;
class message;

enum class name_status { pending, ok, not_found, tempfail };

struct client_info {
    std::string addr;                      // "192.0.2.1", "2001:db8::1"
    int port = 0;
    std::string name = "unknown";          // verified: PTR whose A/AAAA lead back
    std::string reverse_name = "unknown";  // PTR, not verified
    name_status name_st = name_status::pending, reverse_st = name_status::pending;
    std::string server_addr;
    int server_port = 0;
    std::string label() const { return name + "[" + addr + "]"; }
};

// One mail transaction, from MAIL to the end of the data (or RSET).
struct transaction {
    bool active = false;
    std::string sender;        // internal form, qualified; "" is the null sender
    std::string sender_given;  // as the client wrote it (reject_non_fqdn_sender)
    std::string instance;      // policy protocol "instance": unique per transaction
    std::vector<recipient> rcpts;
    uint64_t size = 0;   // SIZE= (0: not given)
    body_type body = body_type::unspecified;
    bool smtputf8 = false;
    std::string envid;
    dsn_ret ret = dsn_ret::unspecified;
    deliver_by by;
    std::string auth_param;  // MAIL AUTH=
    // set by restriction results
    bool discard = false, hold = false;
    std::vector<std::string> prepend;  // header lines, without line end
    bool bdat_active = false;  // BDAT chunks have started (no DATA, MAIL, RCPT now)
    bool data_checked = false; // smtpd_data_restrictions passed for this transaction
};

struct session_counters {
    std::vector<std::string> order;            // first use order, for the disconnect line
    std::map<std::string, unsigned> ok, all;  // per command (lower-case)
};

class session final : public stream_handler {
public:
    session(context& ctx, unique_fd fd, bool implicit_tls);
    ~session() override;
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    void start();

    // stream_handler
    void on_readable() override;
    void on_closed(const std::string& why) override;
    void on_flushed() override;
    void on_tls_ready() override;

    // ---- for the command handlers
    context& ctx;
    client_info client;
    std::string helo;
    bool esmtp = false;
    bool tls_active = false;
    std::string tls_info;         // describe_tls()
    std::string sasl_user, sasl_method;
    transaction tx;
    std::map<std::string, dns::result> dns_cache;
    restriction_eval eval;
    std::string queue_id;  // of the message being received, else ""

    // Replies. error(): 4xx/5xx, counted toward the error limits.
    void reply(int code, std::string_view dsn, std::string_view text);
    void error(int code, std::string_view dsn, std::string_view text);
    // A reply that ends the session ("421 ..."); nothing is read afterwards.
    void fatal_reply(int code, std::string_view dsn, std::string_view text);
    // Close once the replies written so far are out (QUIT).
    void close_after_reply();
    // Drop the connection at once without callbacks (smtpd is stopping).
    void shutdown();
    // requests in flight, owned here so that they die with the session
    std::unique_ptr<ipc_request> auth_request, etrn_request, content_request;
    unsigned long serial = 0;      // session number in this process
    unsigned tx_count = 0;         // transactions started
    // Logs a rejection like Postfix: "NOQUEUE: reject: RCPT from ...: 554 ...; from=<> to=<> proto= helo=<>".
    void log_reject(const char* cmd, const verdict& v, const std::string& rcpt = "");
    void reply_verdict(const verdict& v);

    // Async work: stop taking commands until resume().
    void suspend() { _suspended = true; }
    void resume();
    bool suspended() const { return _suspended; }

    // Data phases (cmd_data.cpp starts them)
    void begin_data(std::unique_ptr<message> m);
    void begin_bdat(uint64_t size, bool last, std::unique_ptr<message> m);
    void skip_bdat(uint64_t size, bool last, int code, std::string dsn, std::string text);
    // AUTH dialogue (cmd_auth.cpp)
    void begin_auth_continuation(std::function<void(std::string_view line)> on_line);
    // STARTTLS: after the 220 reply
    bool start_tls();
    // End of DATA or of the last BDAT chunk: checks, then the queue commit.
    void end_of_message(uint64_t wire_size);
    
    std::string protocol() const;  // SMTP, ESMTP, ESMTPA, ESMTPS, ESMTPSA, UTF8SMTP...
    void reset_transaction();
    size_t error_count() const { return _errors; }
    void count(const std::string& cmd, bool ok);
    bool is_authenticated() const { return !sasl_user.empty(); }
    bool tls_required() const;
    // input waiting after the current command (reject_unauth_pipelining)
    bool input_pending() const;
    stream& io() { return *_io; }
    std::unique_ptr<message>& current_message() { return _msg; }

    const std::string& last_verb() const { return _last_verb; }

private:
    enum class mode { greeting, command, data, bdat, bdat_skip, auth, tls, closing };
    void process();
    bool read_command();
    bool read_data();
    bool read_bdat();
    bool read_auth_line();
    void dispatch(const smtp::command& c);
    void finish_bdat_chunk();
    void idle_timeout();
    void arm_idle_timer();
    void wake_from_sleep();
    void write_out(const std::string& text);
    void close_now(const std::string& why);
    void finish_session();
    void send_greeting();
    void resolve_client(std::function<void()> done);
    void commit_message();
    void content_check();  // cmd_data.cpp: smtpd_content_check_service

    std::unique_ptr<stream> _io;
    mode _mode = mode::greeting;
    bool _suspended = false;
    bool _closed = false;
    bool _implicit_tls;
    bool _tls_pending = false, _name_pending = false;
    bool _output_blocked = false, _input_paused = false, _in_process = false;
    bool _counted = false;
    bool _sleeping = false, _close_after_delay = false;
    std::string _delayed;  // replies held back by the error tarpit
    std::string _last_verb, _pending_verb;
    size_t _errors = 0;
    unsigned _commands = 0;
    session_counters _counts;
    std::chrono::steady_clock::time_point _last_input;
    timer _idle;
    timer _sleep;
    // DATA / BDAT
    std::unique_ptr<message> _msg;
    smtp::data_decoder _data;
    smtp::crlf_converter _crlf;
    uint64_t _bdat_left = 0, _bdat_chunk_size = 0;
    bool _bdat_last = false;
    int _skip_code = 0;
    std::string _skip_dsn, _skip_text;
    std::function<void(std::string_view)> _auth_line;
    std::unique_ptr<dns::query> _dns;
    std::string _line;
    bool _discarding_line = false;  // an overlong command line is being skipped
    bool _discard_answered = false; // ... and was answered already (an AUTH response)
    std::string _closing_why;
    uint64_t _commit_ticket = 0;
};

}  // namespace tern::smtpd
