// session.hpp - one POP3 session (RFC 1939 with RFC 2449 CAPA and response
// codes, RFC 2595 STLS, RFC 5034 AUTH PLAIN): the state machine that
// pop3d's commands (cmd_auth.cpp, cmd_mail.cpp) act on, and the process-wide
// state shared by every session of a pop3d process.
// SECURITY: everything read here comes from an unauthenticated client until
// the auth service says otherwise; credentials are only accepted over TLS
// unless pop3d_allow_plaintext_auth = yes; nothing is deleted before QUIT.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "lib/ipc.hpp"
#include "lib/mailbox.hpp"
#include "lib/server.hpp"
#include "lib/stream.hpp"
#include "lib/tls.hpp"
#include "lib/userdb.hpp"
#include "pop3d/parse.hpp"

namespace tern::pop3 {

class session;

// What every session of this process shares.
struct daemon_state {
    server* srv = nullptr;
    ssl_ctx_ptr tls;            // null when no certificate is configured
    bool wrapper = false;       // implicit TLS (port 995)
    bool allow_plaintext = false;
    user_locator users;
    mailbox::limits lim;
    std::chrono::seconds idle_timeout{600};
    size_t line_limit = 4096;
    unsigned error_limit = 10;
    std::string auth_socket;
    std::set<session*> sessions;
};

class session final : public stream_handler {
public:
    session(daemon_state& d, unique_fd fd);
    ~session() override;
    static void start(daemon_state& d, unique_fd fd);

    void on_readable() override;
    void on_closed(const std::string& why) override;
    void on_flushed() override;
    void on_tls_ready() override;

    enum class state { authorization, transaction, update };

    // command handlers (one family per file)
    void cmd_capa(const command& c);
    void cmd_user(const command& c);
    void cmd_pass(const command& c);
    void cmd_auth(const command& c);
    void cmd_stls(const command& c);
    void cmd_quit(const command& c);
    void cmd_stat(const command& c);
    void cmd_list(const command& c);
    void cmd_uidl(const command& c);
    void cmd_retr(const command& c);
    void cmd_top(const command& c);
    void cmd_dele(const command& c);
    void cmd_rset(const command& c);
    void cmd_noop(const command& c);

    state current() const { return _state; }

private:
    friend struct command_table;
    struct msg {
        uint32_t uid;
        uint64_t wire_size;
        bool deleted = false;
    };
    struct retrieval {
        uint32_t uid;
        uint64_t offset = 0;
        uint64_t size = 0;
        wire_encoder enc;
        bool counted = false;
    };

    void reply(const std::string& line);  // adds CRLF
    void error(const std::string& text);  // "-ERR text", counts toward the error limit
    void dispatch(const std::string& line);
    bool credentials_allowed() const;
    void login(const std::string& user, const std::string& password);
    void logged_in(const std::string& user);
    void pump_retrieval();
    void finish();
    msg* message(const std::string& arg);
    void sasl_plain(const std::string& b64);

    daemon_state& _d;
    std::unique_ptr<stream> _s;
    std::unique_ptr<session> _self;
    state _state = state::authorization;
    bool _busy = false;          // waiting for auth or sending a message: later commands wait
    bool _awaiting_sasl = false; // AUTH PLAIN sent "+ ", the next line is the response
    bool _tls_pending = false;
    unsigned _errors = 0;
    std::string _user_arg;       // USER name
    std::string _user;           // canonical name after login
    std::string _peer;
    std::unique_ptr<ipc_request> _auth_req;
    std::unique_ptr<mailbox::store> _store;
    std::unique_ptr<mailbox::folder> _inbox;
    unique_fd _lock;
    std::vector<msg> _msgs;
    std::optional<retrieval> _retr;
    uint64_t _retr_count = 0, _retr_bytes = 0, _del_count = 0;
};

}  // namespace tern::pop3
