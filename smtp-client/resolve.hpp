// resolve.hpp - turns a next hop into the servers to try, asynchronously,
// with lib/dns: MX lookup (null MX -> 5.1.10 bounce, no MX -> the domain's
// own addresses as implicit MX), the address lookups of every exchanger in
// parallel, then route.hpp's ordering, family filter, self-MX truncation and
// address limit. Bracketed hosts skip the MX lookup; numeric next hops skip
// DNS altogether. Failures come back as the result every recipient gets.
#pragma once

#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "lib/dns.hpp"
#include "lib/event.hpp"
#include "smtp-client/protocol.hpp"
#include "smtp-client/route.hpp"

namespace tern::smtp_client {

struct route_settings {
    families fam;
    addr_pref pref = addr_pref::any;
    size_t address_limit = 5;
    std::vector<std::string> self_names;  // this system's host names
    std::vector<std::string> self_addrs;  // this system's explicit listening addresses
};

struct route_outcome {
    bool ok = false;
    std::vector<candidate> servers;  // ok: best first
    result failure;                  // !ok: what every recipient gets
};

// One lookup in flight; destroying it cancels the lookup (the callback then
// never runs). The callback always runs from the loop, never inside start().
class route_lookup {
public:
    using callback = std::function<void(route_outcome)>;
    route_lookup(event_loop& loop, dns::resolver* res, const route_settings& s, nexthop nh, std::mt19937& rng,
                 callback done);
    ~route_lookup();
    route_lookup(const route_lookup&) = delete;
    route_lookup& operator=(const route_lookup&) = delete;
    void start();

private:
    struct host_state {
        int preference = 0;
        std::string name;
        bool done = false;
        dns::result res;
        std::unique_ptr<dns::query> q;
    };
    void on_mx(const dns::result& r);
    void lookup_host(int preference, const std::string& name);
    void host_done(size_t i, const dns::result& r);
    void check_done();
    void finish();
    void fail(const std::string& dsn, const std::string& text);
    void deliver(route_outcome o);

    event_loop& _loop;
    dns::resolver* _res;
    const route_settings& _s;
    nexthop _nh;
    std::mt19937& _rng;
    callback _done;
    bool _via_mx = false;
    bool _finished = false;
    bool _starting = false;
    std::unique_ptr<dns::query> _mx_q;
    std::vector<std::unique_ptr<host_state>> _hosts;
    std::shared_ptr<bool> _alive;
};

}  // namespace tern::smtp_client
