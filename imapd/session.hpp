// session.hpp - one IMAP session (RFC 3501 and the extensions listed in
// docs/imapd.md) and the state every session of an imapd process shares.
// The session object owns its connection and its view of the selected
// mailbox (sequence numbers -> UIDs, expunges not yet reported); the
// commands (one file per command family, table in commands.cpp) act on it.
// Pre-authentication code (STARTTLS, LOGIN, AUTHENTICATE) lives in
// login.cpp, apart from everything a logged-in user can reach.
// SECURITY: everything here reads an untrusted client. Until the auth
// service accepts a login only CAPABILITY, NOOP, LOGOUT, ID, STARTTLS,
// LOGIN and AUTHENTICATE run; credentials are refused without TLS unless
// imapd_allow_plaintext_auth = yes. Work per loop turn is bounded, so one
// client cannot stall the others.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "imapd/parser.hpp"
#include "imapd/seqset.hpp"
#include "imapd/spam_learn.hpp"
#include "lib/event.hpp"
#include "lib/ipc.hpp"
#include "lib/mailbox.hpp"
#include "lib/mime.hpp"
#include "lib/server.hpp"
#include "lib/stream.hpp"
#include "lib/tls.hpp"
#include "lib/userdb.hpp"

namespace tern::imap {

class session;

// What every session of this process shares (main.cpp fills it).
struct daemon_state {
    server* srv = nullptr;
    ssl_ctx_ptr tls;  // null when no certificate is configured
    bool wrapper = false;
    bool allow_plaintext = false;
    user_locator users;
    mailbox::limits lim;
    framer_limits flim;
    std::chrono::seconds idle_timeout{1800};   // authenticated (RFC 3501: at least 30 minutes)
    std::chrono::seconds login_timeout{60};    // before authentication
    unsigned error_limit = 10;
    size_t user_session_limit = 100;           // per user in this process, 0 = none
    std::string auth_socket;
    std::string hostname;
    spam_learner learner;

    std::set<session*> sessions;
    std::unordered_map<std::string, size_t> per_user;

    // one inotify instance for every IDLE session of the process
    mailbox::notifier notifier;
    event_ptr notifier_event;
    std::unordered_map<uint64_t, session*> watchers;
    uint64_t next_cookie = 1;
    void start_notifier();
};

// A piece of queued output: owned text, or a slice of a loaded message.
struct out_piece {
    std::string text;
    std::shared_ptr<const std::string> buf;
    size_t offset = 0, length = 0;
};

// A message read for FETCH/SEARCH: CRLF form, parsed on demand.
struct loaded_message {
    uint32_t uid = 0;
    std::string wire;       // the message as the client sees it (CRLF)
    bool header_only = false;  // wire holds the header only
    std::optional<mime_tree> tree;
    const mime_tree& mime();
};

// The selected mailbox as this session has told the client about it.
struct selected_box {
    std::unique_ptr<mailbox::folder> f;
    std::string name;
    bool read_only = false;
    std::vector<uint32_t> uids;          // sequence number - 1 -> UID, ascending
    std::vector<uint32_t> gone;          // expunged, not reported yet (sorted)
    std::set<uint32_t> flag_updates;     // UIDs owed an untagged FETCH FLAGS
    size_t exists_sent = 0;
    uint32_t recent_sent = 0;
    bool flags_changed = false;          // keyword table grew: send FLAGS again
    uint64_t cookie = 0;                 // notifier watch while idling

    std::optional<uint32_t> seq_of(uint32_t uid) const;  // 1-based
    bool is_gone(uint32_t uid) const;
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
    // The notifier saw a change in the selected mailbox while idling.
    void on_mailbox_changed();
    // SIGTERM: say BYE and close.
    void shutdown(const std::string& why);

    enum class state { not_authenticated, authenticated, selected, logout };
    state current() const { return _state; }

    // ---- command handlers (commands.cpp holds the table)
    // any state
    void cmd_capability(command& c);
    void cmd_noop(command& c);
    void cmd_logout(command& c);
    void cmd_id(command& c);
    // not authenticated (login.cpp)
    void cmd_starttls(command& c);
    void cmd_login(command& c);
    void cmd_authenticate(command& c);
    // authenticated
    void cmd_enable(command& c);
    void cmd_select(command& c);  // SELECT and EXAMINE
    void cmd_create(command& c);
    void cmd_delete(command& c);
    void cmd_rename(command& c);
    void cmd_subscribe(command& c);  // SUBSCRIBE and UNSUBSCRIBE
    void cmd_list(command& c);       // LIST and LSUB
    void cmd_namespace(command& c);
    void cmd_status(command& c);
    void cmd_append(command& c);
    void cmd_idle(command& c);
    // selected
    void cmd_check(command& c);
    void cmd_close(command& c);  // CLOSE and UNSELECT
    void cmd_expunge(command& c);
    void cmd_search(command& c);
    void cmd_fetch(command& c);
    void cmd_store(command& c);
    void cmd_copy(command& c);  // COPY and MOVE
    void cmd_sort(command& c);  // SORT and THREAD

    // ---- helpers the commands share
    // Tagged completion: pending untagged updates first (EXPUNGE only when
    // the command allows it), then "tag text".
    void done(const command& c, const std::string& text);
    void ok(const command& c, const std::string& text) { done(c, "OK " + text); }
    void no(const command& c, const std::string& text) { done(c, "NO " + text); }
    // Tagged BAD, counted toward imapd_error_limit.
    void bad(const command& c, const std::string& text);
    // Tagged NO with the response code that fits a mailbox library error.
    void fail(const command& c, const mailbox::status& st);
    void write(std::string_view data);
    void untagged(const std::string& line);  // "* " + line + CRLF
    // Run a long command step by step (step returns true when finished,
    // after writing its tagged response).
    void start_job(std::function<bool()> step);
    void queue(out_piece p);
    bool output_full() const;

    std::string capabilities() const;
    mailbox::store* store() { return _store.get(); }
    selected_box* sel() { return _sel.get(); }
    daemon_state& daemon() { return _d; }
    const std::string& user() const { return _user; }
    const std::string& peer() const { return _peer; }
    bool condstore() const { return _condstore; }
    bool qresync() const { return _qresync; }
    void enable_condstore() { _condstore = true; }

    // Resolve a sequence set (UIDs when uid) of the selected mailbox to UIDs
    // still present; nullopt with a reason for bad syntax or numbers beyond
    // EXISTS. any_gone is set when some named messages were expunged meanwhile.
    std::optional<std::vector<uint32_t>> resolve_set(std::string_view text, bool uid, std::string& err,
                                                     bool* any_gone = nullptr);
    // A mailbox name argument, normalised (INBOX any case), or nullopt with a reason.
    std::optional<std::string> mailbox_arg(const arg& a, std::string& err);
    // Read a message (cached for the next command); nullptr with the reason logged.
    std::shared_ptr<loaded_message> load(uint32_t uid, bool header_only = false);
    // Send pending updates now (IDLE, NOOP, EXPUNGE...).
    void send_updates(bool expunges_allowed);
    // Report these UIDs as expunged by this session (EXPUNGE, MOVE).
    void expunged_here(const std::vector<uint32_t>& uids);
    // Leave the selected state (CLOSE, UNSELECT, a new SELECT, LOGOUT).
    void deselect(bool checkpoint);
    // Tell spamd what the user says is spam (into Junk) or ham (out of Junk).
    void learn(const std::string& cls, const std::vector<uint32_t>& uids, mailbox::folder& from);

    // STATUS data "(MESSAGES 3 UIDNEXT 7)" of a mailbox (cmd_status.cpp; LIST-STATUS too).
    mailbox::status status_data(const std::string& name, const std::vector<std::string>& items, std::string& out);

    // ---- login.cpp
    bool credentials_allowed() const;

private:
    void drive();
    bool flush_queue();
    bool read_command();
    void dispatch(command& c);
    void got_line_in_mode(std::string line);
    void reset_timer();
    void finish();
    void login(const std::string& tag, const std::string& user, const std::string& password);
    void logged_in(const std::string& tag, const std::string& user);
    void sasl_response(const std::string& tag, const std::string& b64);
    void end_idle(const std::string& line);
    void watch_selected(bool on);

    enum class mode { command, sasl, idle };

    daemon_state& _d;
    std::unique_ptr<stream> _s;
    std::unique_ptr<session> _self;
    std::unique_ptr<timer> _timer;
    framer _framer;
    state _state = state::not_authenticated;
    mode _mode = mode::command;
    bool _busy = false;         // waiting for the auth service
    bool _tls_pending = false;  // handshake in progress
    bool _condstore = false, _qresync = false;
    unsigned _errors = 0;
    std::string _mode_tag;      // tag of the IDLE or AUTHENTICATE in progress
    std::string _user;
    std::string _peer;
    std::unique_ptr<ipc_request> _auth_req;
    std::unique_ptr<mailbox::store> _store;
    std::unique_ptr<selected_box> _sel;
    std::function<bool()> _job;
    std::deque<out_piece> _outq;
    std::shared_ptr<loaded_message> _cache;
    std::string _cache_box;
    uint32_t _cache_validity = 0;
    bool _counted_user = false;
    uint64_t _commands = 0;
};

// STATUS items of a list, upper-cased; false with err for unknown ones.
bool parse_status_items(const arg& list, std::vector<std::string>& items, std::string& err);

// Flag atoms args[from..to) -> system flag bits and keyword names (cmd_store.cpp).
bool parse_flag_args(const std::vector<arg>& args, size_t from, size_t to, uint32_t& flags,
                     std::vector<std::string>& keywords, std::string& err);

// The command table (commands.cpp): name, handler, states it is valid in,
// and whether "UID name" exists.
struct command_row {
    const char* name;
    void (session::*fn)(command&);
    bool pre, auth, sel, uid;
};
const command_row* find_command(std::string_view name);

}  // namespace tern::imap
