// restrictions.hpp - Postfix's access restriction lists: the parsed form
// of smtpd_{client,helo,sender,relay,recipient,data,end_of_data,etrn}_
// restrictions and the engine that evaluates them for one session. Steps
// that need DNS or a policy server suspend the evaluation and resume it
// from their callback; everything else is decided at once.
// Called by the command handlers (HELO, MAIL, RCPT, DATA, end of data, ETRN).
// SECURITY: decides who may relay; the defaults (see params_smtpd.cpp)
// refuse relaying for anyone outside mynetworks who has not logged in.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/dns.hpp"
#include "lib/maps.hpp"
#include "smtpd/policy.hpp"

namespace tern::smtpd {

class context;
class session;

// Where in the SMTP dialogue a list is evaluated (also the policy
// protocol's protocol_state).
enum class stage { connect, helo, mail, rcpt, data, end_of_data, etrn };
const char* stage_name(stage s);

enum class rkind {
    permit, reject, defer, dunno, defer_if_permit, defer_if_reject, warn_if_reject,
    permit_mynetworks, permit_sasl_authenticated, permit_auth_destination,
    reject_unauth_destination, defer_unauth_destination, reject_unauth_pipelining,
    reject_unlisted_recipient,
    check_client_access, check_reverse_client_hostname_access, check_helo_access, check_sender_access,
    check_recipient_access, check_policy_service,
    reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, reject_unknown_helo_hostname,
    reject_non_fqdn_sender, reject_non_fqdn_recipient, reject_unknown_sender_domain,
    reject_unknown_recipient_domain, reject_unknown_client_hostname, reject_unknown_reverse_client_hostname,
};

struct restriction {
    rkind kind;
    std::string name;                       // as written, for logs
    std::shared_ptr<map_list> table;        // check_*_access
    std::string endpoint;                   // check_policy_service
};
using restriction_list = std::vector<restriction>;

// Parse the words of a restriction parameter ("check_sender_access",
// "hash:/etc/x", "reject", ...). Tables are opened here. nullopt with err
// for an unknown name or a missing table argument.
std::optional<restriction_list> parse_restrictions(const std::vector<std::string>& words, const map_options& opts,
                                                   std::string& err);

// The outcome of one evaluation.
struct verdict {
    enum class kind { dunno, permit, reject };
    kind k = kind::dunno;
    int code = 0;           // reject: 4xx or 5xx
    std::string dsn;        // "5.7.1"
    std::string text;       // reply text after the status code
    bool rejected() const { return k == kind::reject; }
};

// Actions of access tables and policy servers: "OK", "REJECT text",
// "550 5.1.1 text", "DEFER_IF_PERMIT text", "PREPEND header", ...
struct action {
    enum class kind { permit, dunno, reject, defer, defer_if_permit, defer_if_reject, warn, hold, discard, prepend,
                      restriction, invalid };
    kind k = kind::dunno;
    int code = 0;
    std::string dsn;
    std::string text;
};
// reject_code/defer_code: the codes for bare REJECT / DEFER.
action parse_action(std::string_view value, int reject_code, int defer_code);

// Evaluates lists for one session; owned by the session, one run at a time.
class restriction_eval {
public:
    using done_fn = std::function<void(const verdict&)>;
    explicit restriction_eval(session& s);
    ~restriction_eval();

    // Evaluate `lists` in order (each list ends at its first permit; a
    // reject ends all). subject: the recipient at RCPT (qualified internal
    // form) or the ETRN domain; given: the recipient as the client wrote it
    // (for reject_non_fqdn_recipient). done runs exactly once, possibly
    // before run() returns.
    void run(stage st, std::vector<const restriction_list*> lists, std::string subject, done_fn done,
             std::string given = "");
    bool busy() const { return static_cast<bool>(_done); }

private:
    enum class step_result { next, permit, reject, pending };
    void loop();
    step_result step(const restriction& r);
    void finish(verdict v);
    step_result apply_action(const action& a);
    step_result reject_with(int code, std::string dsn, std::string text);
    // "<who>: What rejected" for the list being evaluated
    std::string target(const char* what = nullptr) const;
    const restriction* current();
    void next_list();
    attr_list policy_request() const;
    step_result access_lookup(const restriction& r);
    step_result policy_check(const restriction& r);
    step_result unknown_domain(const std::string& addr, bool sender);
    step_result unknown_client(bool reverse_only);
    step_result unknown_helo();
    step_result unauth_destination(int code, const char* dsn, bool permit_only);
    bool auth_destination() const;
    // DNS with a per-session cache; nullptr: query started, evaluation pending.
    const dns::result* dns_cached(const std::string& key, dns::rr_type type, const std::string& name);

    session& _s;
    stage _stage = stage::rcpt;
    std::string _rcpt, _rcpt_given;
    std::vector<const restriction_list*> _lists;
    size_t _list = 0, _index = 0;
    // nested restriction lists from access results ("restriction classes")
    restriction_list _nested;
    bool _in_nested = false;
    size_t _nested_index = 0;
    std::optional<verdict> _defer_if_permit;
    bool _defer_if_reject = false, _warn_if_reject = false;
    done_fn _done;
    // async state
    std::unique_ptr<dns::query> _dns;
    std::unique_ptr<policy_wait> _policy;
    verdict _result;
    std::optional<std::string> _policy_answer;  // action text or empty on failure
    bool _running = false;
};

}  // namespace tern::smtpd
