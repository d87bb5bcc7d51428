// resolve.cpp - see resolve.hpp.
#include "smtp-client/resolve.hpp"

namespace tern::smtp_client {

namespace {
constexpr size_t max_mx_hosts = 20;  // exchangers looked up per domain

const char* not_found(dns::status st) {
    switch (st) {
    case dns::status::nxdomain: return "Host not found";
    case dns::status::nodata: return "Host found but no data record of requested type";
    default: return "Host not found, try again";
    }
}
}  // namespace

route_lookup::route_lookup(event_loop& loop, dns::resolver* res, const route_settings& s, nexthop nh,
                           std::mt19937& rng, callback done)
    : _loop(loop), _res(res), _s(s), _nh(std::move(nh)), _rng(rng), _done(std::move(done)),
      _alive(std::make_shared<bool>(true)) {}

route_lookup::~route_lookup() { *_alive = false; }

void route_lookup::deliver(route_outcome o) {
    if (_finished) return;
    _finished = true;
    _mx_q.reset();
    // always from a later loop turn, so the owner may destroy us in the callback
    std::weak_ptr<bool> w = _alive;
    _loop.post([this, w, o = std::move(o)]() mutable {
        auto a = w.lock();
        if (a && *a) _done(std::move(o));
    });
}

void route_lookup::fail(const std::string& dsn, const std::string& text) {
    route_outcome o;
    o.failure = local_result(dsn, text);
    deliver(std::move(o));
}

void route_lookup::start() {
    if (_nh.ip_literal) {
        route_outcome o;
        o.ok = true;
        o.servers.push_back({_nh.host, _nh.host, 0});
        deliver(std::move(o));
        return;
    }
    if (!_res) {
        fail("4.3.5", "no DNS resolver is available");
        return;
    }
    if (_nh.no_mx) {
        lookup_host(0, _nh.host);
        return;
    }
    _via_mx = true;
    _mx_q = _res->lookup_mx(_nh.host, [this](const dns::result& r) { on_mx(r); });
}

void route_lookup::on_mx(const dns::result& r) {
    const std::string& d = _nh.host;
    if (r.null_mx) {
        fail("5.1.10", "Domain " + d + " does not accept mail (nullMX)");
        return;
    }
    if (r.st == dns::status::nxdomain) {
        fail("5.4.4", "Host or domain name not found. Name service error for name=" + d + " type=MX: " +
                          not_found(r.st));
        return;
    }
    if (r.st != dns::status::ok && r.st != dns::status::nodata) {
        fail("4.4.3", "Host or domain name not found. Name service error for name=" + d + " type=MX: " +
                          not_found(r.st));
        return;
    }
    if (r.st == dns::status::nodata || r.mx.empty()) {
        _via_mx = false;  // RFC 5321 5.1: the domain itself is the implicit MX
        lookup_host(0, d);
        return;
    }
    std::vector<mx_entry> mx;
    for (const auto& m : r.mx) mx.push_back({m.preference, m.host});
    order_mx(mx, _rng);
    if (mx.size() > max_mx_hosts) mx.resize(max_mx_hosts);
    _starting = true;  // numeric hosts complete at once: wait until all are asked
    for (const auto& m : mx) lookup_host(m.preference, m.host);
    _starting = false;
    check_done();
}

void route_lookup::check_done() {
    if (_finished || _starting) return;
    for (const auto& h : _hosts)
        if (!h->done) return;
    finish();
}

void route_lookup::lookup_host(int preference, const std::string& name) {
    auto h = std::make_unique<host_state>();
    h->preference = preference;
    h->name = name;
    size_t i = _hosts.size();
    _hosts.push_back(std::move(h));
    if (auto ip = numeric_address(name)) {  // not allowed in MX records, but seen
        dns::result r;
        r.st = dns::status::ok;
        r.addresses.push_back(*ip);
        host_done(i, r);
        return;
    }
    _hosts[i]->q = _res->lookup_addresses(name, [this, i](const dns::result& r) { host_done(i, r); });
}

void route_lookup::host_done(size_t i, const dns::result& r) {
    if (_finished || i >= _hosts.size()) return;
    _hosts[i]->res = r;
    _hosts[i]->done = true;
    check_done();
}

void route_lookup::finish() {
    std::vector<resolved_host> hosts;
    const host_state* temp = nullptr;
    const host_state* first_fail = nullptr;
    for (const auto& h : _hosts) {
        if (h->res.st == dns::status::ok) {
            auto addrs = order_addresses(h->res.addresses, _s.pref, _s.fam, _rng);
            if (!addrs.empty()) {
                hosts.push_back({h->preference, h->name, std::move(addrs)});
                continue;
            }
        } else if (h->res.st != dns::status::nxdomain && h->res.st != dns::status::nodata) {
            if (!temp) temp = h.get();
        }
        if (!first_fail) first_fail = h.get();
    }
    candidate_list cl = _via_mx ? make_candidates(hosts, _s.address_limit, _s.self_names, _s.self_addrs)
                                : make_candidates(hosts, _s.address_limit, {}, {});
    if (!cl.servers.empty()) {
        route_outcome o;
        o.ok = true;
        o.servers = std::move(cl.servers);
        deliver(std::move(o));
        return;
    }
    if (cl.found_self) {
        fail("5.4.6", "mail for " + _nh.host + " loops back to myself");
        return;
    }
    if (temp) {
        fail("4.4.3", "Host or domain name not found. Name service error for name=" + temp->name + " type=A: " +
                          not_found(temp->res.st));
        return;
    }
    const host_state* h = first_fail ? first_fail : (_hosts.empty() ? nullptr : _hosts.front().get());
    std::string name = h ? h->name : _nh.host;
    dns::status st = h ? h->res.st : dns::status::nxdomain;
    if (st == dns::status::ok) st = dns::status::nodata;  // addresses only of a disabled family
    fail("5.4.4", "Host or domain name not found. Name service error for name=" + name + " type=A: " + not_found(st));
}

}  // namespace tern::smtp_client
