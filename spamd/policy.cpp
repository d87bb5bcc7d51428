// policy.cpp - see policy.hpp: request parsing, the client whitelist, the
// per-message state and the run of the checks for one request.
#include "spamd/policy.hpp"

#include "lib/log.hpp"
#include "lib/maps.hpp"
#include "lib/net_list.hpp"
#include "lib/strutil.hpp"

using namespace tern;

namespace spamd {

constexpr size_t max_messages = 10000;
constexpr auto message_lifetime = std::chrono::hours(1);

std::string reply_safe(std::string_view s, size_t max) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u > 0x7E) ? '?' : c;
    }
    return out;
}

policy_request policy_request::from(const attr_list& a) {
    policy_request r;
    r.request = a.get("request");
    r.protocol_state = to_upper(a.get("protocol_state"));
    r.client_address = a.get("client_address");
    r.client_name = a.get("client_name");
    r.reverse_client_name = a.get("reverse_client_name");
    r.helo_name = a.get("helo_name");
    r.sender = a.get("sender");
    r.recipient = a.get("recipient");
    r.queue_id = a.get("queue_id");
    r.instance = a.get("instance");
    r.sasl_username = a.get("sasl_username");
    r.server_address = a.get("server_address");
    if (r.client_address.size() <= 64) r.client = parse_ip_addr(r.client_address);
    return r;
}

// ---- one request -----------------------------------------------------------------------

class policy_run final : public pending {
public:
    policy_run(policy_service& svc, policy_request r, std::shared_ptr<message_state> st, policy_reply reply)
        : _svc(svc), _r(std::move(r)), _st(std::move(st)), _reply(std::move(reply)) {}

    void set_self(std::list<std::unique_ptr<pending>>::iterator it) { _self = it; }

    void next() {
        while (!_finished) {
            if (_index >= _svc._checks.size()) {
                conclude();
                return;
            }
            policy_check& c = *_svc._checks[_index];
            if (!c.applies(_r)) {
                ++_index;
                continue;
            }
            _answer.reset();
            _starting = true;
            _current = c.start(_r, *_st, [this](check_answer a) {
                _answer = std::move(a);
                if (_starting) return;
                // we are inside the check's own callback: it goes away later
                if (_current) _svc._srv->loop.defer_delete(std::move(_current));
                take();
            });
            _starting = false;
            if (!_answer) return;  // the check answers later
            if (!take_answer()) return;
        }
    }

private:
    // an asynchronous answer arrived
    void take() {
        if (take_answer()) next();
    }
    // true: go on with the next check
    bool take_answer() {
        check_answer a = std::move(*_answer);
        _answer.reset();
        if (!a.note.empty()) _notes.push_back(a.note);
        if (_header.empty() && !a.header.empty()) _header = a.header;
        switch (a.k) {
        case check_answer::kind::final:
            respond(a.action);
            return false;
        case check_answer::kind::allow:
            conclude();
            return false;
        case check_answer::kind::dunno: break;
        }
        ++_index;
        return true;
    }
    void conclude() {
        if (!_header.empty() && !_st->header_given) {
            _st->header_given = true;
            respond("PREPEND " + _header);
            return;
        }
        respond("DUNNO");
    }
    void respond(const std::string& action) {
        if (_finished) return;
        _finished = true;
        std::string notes = join(_notes, " ");
        auto line = [&] {
            return _r.id() + ": policy " + _r.protocol_state + " client=" + reply_safe(_r.client_name, 100) + "[" +
                   reply_safe(_r.client_address, 60) + "], sender=<" + reply_safe(_r.sender, 200) + ">, recipient=<" +
                   reply_safe(_r.recipient, 200) + ">, helo=<" + reply_safe(_r.helo_name, 100) + ">: " +
                   (notes.empty() ? "" : notes + ": ") + "action=" + reply_safe(action, 400);
        };
        log::info("%s", line().c_str());
        auto reply = std::move(_reply);
        reply(action);
        // this run ends: destroyed on the next loop turn, never inside a callback
        auto& runs = _svc._runs;
        auto it = _self;
        _svc._srv->loop.defer_delete(std::move(*it));
        runs.erase(it);
    }

    policy_service& _svc;
    policy_request _r;
    std::shared_ptr<message_state> _st;
    policy_reply _reply;
    std::list<std::unique_ptr<pending>>::iterator _self;
    size_t _index = 0;
    std::unique_ptr<pending> _current;
    std::optional<check_answer> _answer;
    bool _starting = false;
    bool _finished = false;
    std::string _header;
    std::vector<std::string> _notes;
};

// ---- the service -------------------------------------------------------------------------

bool policy_service::init(services& s, std::string& err) {
    _srv = &s;
    for (const auto& name : s.cfg.get_list("spamd_policy_checks")) {
        std::unique_ptr<policy_check> c;
        std::string n = to_lower(name);
        if (n == "spf") c = make_spf_check(s, err);
        else if (n == "dnsbl") c = make_dnsbl_check(s, err);
        else if (n == "greylist") c = make_greylist_check(s, err);
        else if (n == "fcrdns") c = make_fcrdns_check(s, err);
        else if (n == "helo") c = make_helo_check(s, err);
        else {
            err = "spamd_policy_checks: unknown check \"" + name + "\" (spf, dnsbl, greylist, fcrdns, helo)";
            return false;
        }
        if (!c) {
            err = "spamd_policy_checks: " + n + ": " + err;
            return false;
        }
        _checks.push_back(std::move(c));
    }
    std::string list = s.cfg.get("spamd_client_whitelist");
    auto wl = net_list::parse(list, err, map_options::from_config(s.cfg));
    if (!wl) {
        err = "spamd_client_whitelist: " + err;
        return false;
    }
    _whitelist = std::make_unique<net_list>(std::move(*wl));
    return true;
}

void policy_service::stop() {
    _runs.clear();
    _checks.clear();
    _messages.clear();
    _message_order.clear();
}

std::shared_ptr<message_state> policy_service::state_for(const policy_request& r) {
    std::string key = r.instance.empty() ? "c:" + r.client_address + "|" + r.helo_name + "|" + r.queue_id
                                         : "i:" + r.instance;
    key += "|" + r.sender;
    auto now = std::chrono::steady_clock::now();
    auto it = _messages.find(key);
    if (it != _messages.end() && now - it->second->born < message_lifetime) return it->second;
    if (it != _messages.end()) _messages.erase(it);
    // forget the oldest when full or stale
    while (!_message_order.empty()) {
        auto old = _messages.find(_message_order.front());
        bool stale = old == _messages.end() || now - old->second->born >= message_lifetime;
        if (!stale && _messages.size() < max_messages) break;
        if (old != _messages.end()) _messages.erase(old);
        _message_order.pop_front();
    }
    auto st = std::make_shared<message_state>();
    st->born = now;
    _messages[key] = st;
    _message_order.push_back(key);
    return st;
}

void policy_service::handle(raw_request req, policy_reply reply) {
    auto deny = [&](const std::string& why) {
        log::warn("malformed policy request: %s", why.c_str());
        reply("DEFER_IF_PERMIT 4.3.5 Policy request error: " + reply_safe(why, 200));
    };
    if (!req.error.empty()) {
        deny(req.error);
        return;
    }
    policy_request r = policy_request::from(req.attrs);
    if (r.request != "smtpd_access_policy") {
        deny(r.request.empty() ? "no request= attribute" : "unsupported request \"" + reply_safe(r.request, 60) + "\"");
        return;
    }
    if (!r.sasl_username.empty()) {
        log::debug("%s: policy: authenticated client %s, no checks", r.id().c_str(), reply_safe(r.sasl_username).c_str());
        reply("DUNNO");
        return;
    }
    if (r.client) {
        auto m = _whitelist->match(*r.client);
        if (m == match_result::yes) {
            log::debug("%s: policy: client %s in spamd_client_whitelist, no checks", r.id().c_str(),
                       r.client_address.c_str());
            reply("DUNNO");
            return;
        }
        if (m == match_result::error)
            log::warn("spamd_client_whitelist: %s (checking the client)", _whitelist->last_error().c_str());
    }
    auto st = state_for(r);
    auto run = std::make_unique<policy_run>(*this, std::move(r), std::move(st), std::move(reply));
    policy_run* p = run.get();
    _runs.push_back(std::move(run));
    p->set_self(std::prev(_runs.end()));
    p->next();
}

}  // namespace spamd
