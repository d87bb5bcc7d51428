// policy.hpp - spamd's policy service: a Postfix policy delegation request
// in, one Postfix access action out. The configured checks (spamd_policy_
// checks: spf, dnsbl, greylist, fcrdns, helo) run in order; the first that
// rejects or defers decides, a DNS allow list can end the run early, and
// otherwise the first header a check offers is returned as PREPEND (once
// per message: per-message results are kept by the request's instance).
// SECURITY: every attribute comes from the policy client; they are only
// compared, parsed by lib parsers, or quoted into log lines.
#pragma once

#include <chrono>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "lib/attr.hpp"
#include "lib/cidr.hpp"
#include "lib/config.hpp"
#include "lib/dnsbl.hpp"
#include "lib/event.hpp"
#include "lib/spf.hpp"
#include "spamd/policy_conn.hpp"

#include "lib/net_list.hpp"

namespace tern::dns {
class resolver;
}

namespace spamd {

struct policy_request {
    std::string request;
    std::string protocol_state;  // upper case: CONNECT, EHLO, HELO, MAIL, RCPT, DATA, END-OF-MESSAGE, ...
    std::string client_address, client_name, reverse_client_name, helo_name;
    std::string sender, recipient, queue_id, instance, sasl_username, server_address;
    std::optional<tern::ip_addr> client;
    static policy_request from(const tern::attr_list& a);
    std::string id() const { return queue_id.empty() ? "NOQUEUE" : queue_id; }
};

// Results computed once per message (instance) and reused for each recipient.
struct check_answer;
struct message_state {
    std::optional<tern::spf::outcome> spf;
    std::optional<tern::dnsbl::verdict> dnsbl;
    std::map<std::string, std::shared_ptr<check_answer>> client;  // fcrdns, helo: per message
    bool header_given = false;
    std::chrono::steady_clock::time_point born;
};

struct check_answer {
    enum class kind { dunno, final, allow };  // allow: skip the remaining checks
    kind k = kind::dunno;
    std::string action;  // final: the access action ("550 5.7.23 ...")
    std::string header;  // offered for PREPEND
    std::string note;    // for the log line, e.g. "spf=pass"
};

class pending {
public:
    virtual ~pending() = default;
};

// One configured check. start() may call done at once or later from the
// loop; destroying the returned handle cancels a check still running.
class policy_check {
public:
    virtual ~policy_check() = default;
    virtual const char* name() const = 0;
    virtual bool applies(const policy_request& r) const = 0;
    using done_fn = std::function<void(check_answer)>;
    virtual std::unique_ptr<pending> start(const policy_request& r, message_state& st, done_fn done) = 0;
};

// Everything the checks share.
struct services {
    tern::event_loop& loop;
    const tern::config& cfg;
    tern::dns::resolver& resolver;
};

// The checks (nullptr with err on a configuration error).
std::unique_ptr<policy_check> make_spf_check(services& s, std::string& err);       // check_spf.cpp
std::unique_ptr<policy_check> make_dnsbl_check(services& s, std::string& err);     // check_dnsbl.cpp
std::unique_ptr<policy_check> make_greylist_check(services& s, std::string& err);  // check_greylist.cpp
std::unique_ptr<policy_check> make_fcrdns_check(services& s, std::string& err);    // check_client.cpp
std::unique_ptr<policy_check> make_helo_check(services& s, std::string& err);      // check_client.cpp

// Text safe for an SMTP reply or header: printable ASCII, at most max bytes.
std::string reply_safe(std::string_view s, size_t max = 300);

class policy_service {
public:
    // Builds the checks of spamd_policy_checks; false with err on a
    // configuration error (unknown check, bad dnsbl site, bad table).
    bool init(services& s, std::string& err);
    // Answer one request (the reply may come later, from the loop).
    void handle(raw_request req, policy_reply reply);
    size_t running() const { return _runs.size(); }
    // Before the event loop goes: runs, checks (timers, DNS) and state.
    void stop();

private:
    friend class policy_run;
    std::shared_ptr<message_state> state_for(const policy_request& r);
    services* _srv = nullptr;
    std::vector<std::unique_ptr<policy_check>> _checks;
    std::unique_ptr<tern::net_list> _whitelist;
    std::list<std::unique_ptr<pending>> _runs;
    std::map<std::string, std::shared_ptr<message_state>> _messages;
    std::list<std::string> _message_order;  // oldest first
};

}  // namespace spamd
