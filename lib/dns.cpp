// dns.cpp - the resolver: one libunbound context per event loop, created with
// ub_ctx_create_event() so that libunbound runs its sockets and timers on our
// libevent base and hands each answer back as a raw packet, which
// parse_dns_answer() (dns_parse.cpp) turns into a result. See docs/dns.md.
// SECURITY: the resolver is set up before chroot (it reads resolv.conf,
// /etc/hosts, the trust anchor and a private temp config file then); answers
// are untrusted and only ever reach parse_dns_answer().
#include "lib/dns.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <unbound-event.h>
#include <unbound.h>

#include "lib/config.hpp"
#include "lib/event.hpp"
#include "lib/fd.hpp"
#include "lib/log.hpp"
#include "lib/strutil.hpp"

namespace tern::dns {

namespace {

struct ub_ctx_deleter {
    void operator()(ub_ctx* c) const noexcept { ub_ctx_delete(c); }
};
using ub_ctx_ptr = std::unique_ptr<ub_ctx, ub_ctx_deleter>;

// Zones libunbound answers by itself (RFC 6761 special-use names, the
// loopback and private reverse zones: its built-in local-zone defaults). With
// forwarders these go to the forwarders like any other name, so a test DNS
// server (or a site resolver that knows its private PTRs) is asked.
const char* const special_zones[] = {
    "test.", "invalid.", "onion.", "home.arpa.", "resolver.arpa.", "service.arpa.",
    "127.in-addr.arpa.", "0.in-addr.arpa.", "10.in-addr.arpa.", "254.169.in-addr.arpa.",
    "168.192.in-addr.arpa.", "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
    "113.0.203.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.",
    "d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.",
    "8.b.d.0.1.0.0.2.ip6.arpa.",
};

// A private directory holding one file, both gone when this goes.
class temp_file {
public:
    ~temp_file() {
        if (!_path.empty()) ::unlink(_path.c_str());
        if (!_dir.empty()) ::rmdir(_dir.c_str());
    }
    bool write(std::string_view text, std::string& err) {
        const char* tmp = std::getenv("TMPDIR");
        std::string dir = std::string(tmp && *tmp ? tmp : "/tmp") + "/tern-dns.XXXXXX";
        if (!::mkdtemp(dir.data())) {
            err = "mkdtemp " + dir + ": " + errno_text();
            return false;
        }
        _dir = dir;
        std::string path = _dir + "/unbound.conf.XXXXXX";
        unique_fd fd(::mkstemp(path.data()));
        if (!fd) {
            err = "mkstemp " + path + ": " + errno_text();
            return false;
        }
        _path = path;
        if (!write_all(fd.get(), text)) {
            err = "write " + _path + ": " + errno_text();
            return false;
        }
        return true;
    }
    const std::string& path() const { return _path; }

private:
    std::string _dir, _path;
};

// "ADDR" or "ADDR@PORT" (ADDR may be bracketed) -> unbound's "ADDR@PORT".
std::optional<std::string> forwarder_spec(std::string_view s, std::string& err) {
    std::string_view addr = s, port;
    if (auto at = s.rfind('@'); at != std::string_view::npos) {
        addr = s.substr(0, at);
        port = s.substr(at + 1);
    }
    if (addr.size() >= 2 && addr.front() == '[' && addr.back() == ']') addr = addr.substr(1, addr.size() - 2);
    std::string a(addr);
    unsigned char buf[16];
    if (inet_pton(AF_INET, a.c_str(), buf) != 1 && inet_pton(AF_INET6, a.c_str(), buf) != 1) {
        err = "dns_resolver: not an IP address: " + std::string(s);
        return std::nullopt;
    }
    if (!port.empty()) {
        auto p = parse_u64(port);
        if (!p || *p < 1 || *p > 65535) {
            err = "dns_resolver: bad port: " + std::string(s);
            return std::nullopt;
        }
        a += "@" + std::to_string(*p);
    }
    return a;
}

}  // namespace

std::optional<options> options::from_config(const config& cfg, std::string& err) {
    options o;
    auto list = cfg.get_list("dns_resolver");
    if (list.empty() || (list.size() == 1 && iequals(list[0], "system"))) {
        o.system = true;
    } else {
        o.system = false;
        for (const auto& f : list) {
            if (iequals(f, "system")) {
                err = "dns_resolver: 'system' cannot be mixed with forwarders";
                return std::nullopt;
            }
            auto spec = forwarder_spec(f, err);
            if (!spec) return std::nullopt;
            o.forwarders.push_back(*spec);
        }
    }
    o.timeout = std::chrono::seconds(cfg.get_time("dns_timeout"));
    o.trust_anchor_file = cfg.get("dns_trust_anchor_file");
    return o;
}

namespace detail {

class core : public std::enable_shared_from_this<core> {
public:
    core(event_loop& loop, options o) : _loop(loop), _opts(std::move(o)) {}
    ~core() { shutdown(); }

    bool init(std::string& err);
    void shutdown() noexcept;
    std::unique_ptr<query> start(std::string name, std::vector<rr_type> types, resolver::callback cb,
                                 const std::string& invalid);
    void cancel(uint64_t id) noexcept;
    size_t pending() const { return _requests.size(); }

private:
    struct sub {
        rr_type type = rr_type::a;
        bool done = false;
        result res;
        uint64_t ticket = 0;  // outstanding libunbound query, 0 when none
        int async_id = 0;
    };
    struct request {
        core* owner = nullptr;
        uint64_t id = 0;
        std::string name;
        std::vector<sub> subs;
        resolver::callback cb;
        event_ptr timer;
        bool complete = false;
        result final;
    };
    // What libunbound holds as mydata for one query; owned by _tickets.
    struct ticket {
        core* owner;
        uint64_t serial;
        uint64_t request;
        size_t sub;
    };

    static void ub_cb(void* mydata, int rcode, void* packet, int len, int sec, char* why_bogus,
                      int ratelimited) noexcept;
    static void timeout_cb(int, short, void* arg) noexcept;
    static void ready_cb(int, short, void* arg) noexcept;
    void on_answer(ticket* t, int rcode, const uint8_t* pkt, size_t len, int sec, const char* why);
    void on_timeout(request& r);
    void finish(request& r);
    void drop_sub(sub& s) noexcept;
    bool load_trust_anchor(std::string& err);

    event_loop& _loop;
    options _opts;
    ub_ctx_ptr _ctx;
    event_ptr _ready_ev;
    std::unordered_map<uint64_t, std::unique_ptr<request>> _requests;
    std::unordered_map<uint64_t, std::unique_ptr<ticket>> _tickets;
    std::vector<uint64_t> _ready;
    uint64_t _next_id = 1;
    uint64_t _next_ticket = 1;
    bool _down = false;
};

bool core::load_trust_anchor(std::string& err) {
    // Read now (before chroot) and hand the records over as text: libunbound
    // would only open a trust-anchor-file at its first query.
    auto text = read_file(_opts.trust_anchor_file, 1 << 20);
    if (!text) {
        err = "dns_trust_anchor_file " + _opts.trust_anchor_file + ": " + errno_text();
        return false;
    }
    int n = 0;
    for (auto& raw : split_char(*text, '\n')) {
        auto line = trim(raw);
        if (line.empty() || line[0] == ';' || line[0] == '#') continue;
        std::string l(line);
        if (int rc = ub_ctx_add_ta(_ctx.get(), l.c_str()); rc != 0) {
            err = "dns_trust_anchor_file " + _opts.trust_anchor_file + ": " + ub_strerror(rc);
            return false;
        }
        ++n;
    }
    if (n == 0) {
        err = "dns_trust_anchor_file " + _opts.trust_anchor_file + ": no DS or DNSKEY records";
        return false;
    }
    return true;
}

bool core::init(std::string& err) {
    _ready_ev.reset(event_new(_loop.base(), -1, 0, &core::ready_cb, this));
    if (!_ready_ev) {
        err = "event_new failed";
        return false;
    }
    _ctx.reset(ub_ctx_create_event(_loop.base()));
    if (!_ctx) {
        err = "ub_ctx_create_event failed";
        return false;
    }
    bool validate = !_opts.trust_anchor_file.empty();
    // Written to a file for ub_ctx_config: local-zone set with
    // ub_ctx_set_option is accepted but has no effect (libunbound 1.17).
    std::string conf = "server:\n";
    conf += validate ? "  module-config: \"validator iterator\"\n" : "  module-config: \"iterator\"\n";
    conf += "  do-not-query-localhost: no\n";
    // a forwarder that ignores one name must not be written off for all
    conf += "  infra-keep-probing: yes\n";
    if (!_opts.system) {
        if (_opts.forwarders.empty()) {
            err = "dns_resolver: no forwarders";
            return false;
        }
        for (const char* z : special_zones) conf += std::string("  local-zone: \"") + z + "\" nodefault\n";
        conf += "forward-zone:\n  name: \".\"\n";
        for (const auto& f : _opts.forwarders) {
            std::string e;
            auto spec = forwarder_spec(f, e);
            if (!spec) {
                err = e;
                return false;
            }
            conf += "  forward-addr: " + *spec + "\n";
        }
    }
    temp_file tf;
    if (!tf.write(conf, err)) return false;
    if (int rc = ub_ctx_config(_ctx.get(), tf.path().c_str()); rc != 0) {
        err = std::string("unbound configuration: ") + ub_strerror(rc);
        return false;
    }
    if (_opts.system) {
        if (int rc = ub_ctx_resolvconf(_ctx.get(), nullptr); rc != 0) {
            err = std::string("/etc/resolv.conf: ") + ub_strerror(rc);
            return false;
        }
        if (int rc = ub_ctx_hosts(_ctx.get(), nullptr); rc != 0 && rc != UB_READFILE)
            log::warn("dns: /etc/hosts: %s", ub_strerror(rc));
    }
    if (validate && !load_trust_anchor(err)) return false;
    return true;
}

void core::shutdown() noexcept {
    if (_down) return;
    _down = true;
    _requests.clear();
    _ready.clear();
    // ub_ctx_delete may answer the queries still in flight with SERVFAIL;
    // ub_cb sees _down and ignores them, so the tickets must outlive it.
    _ctx.reset();
    _tickets.clear();
}

std::unique_ptr<query> core::start(std::string name, std::vector<rr_type> types, resolver::callback cb,
                                   const std::string& invalid) {
    uint64_t id = _next_id++;
    auto req = std::make_unique<request>();
    request& r = *req;
    r.owner = this;
    r.id = id;
    r.name = std::move(name);
    r.cb = std::move(cb);
    for (auto t : types) {
        sub s;
        s.type = t;
        r.subs.push_back(std::move(s));
    }
    _requests.emplace(id, std::move(req));
    auto handle = std::unique_ptr<query>(new query(weak_from_this(), id));

    if (_down || !invalid.empty()) {
        for (auto& s : r.subs) {
            s.done = true;
            s.res.st = _down ? status::temporary : status::nxdomain;
            s.res.error = _down ? "resolver shut down" : invalid;
            s.res.qname = r.name;
        }
        finish(r);
        return handle;
    }
    r.timer.reset(event_new(_loop.base(), -1, 0, &core::timeout_cb, &r));
    if (!r.timer) log::fatal("dns: event_new failed");
    struct timeval tv;
    tv.tv_sec = _opts.timeout.count() / 1000;
    tv.tv_usec = (_opts.timeout.count() % 1000) * 1000;
    event_add(r.timer.get(), &tv);

    for (size_t i = 0; i < r.subs.size(); ++i) {
        uint64_t serial = _next_ticket++;
        _tickets.emplace(serial, std::make_unique<ticket>(ticket{this, serial, id, i}));
        int async_id = 0;
        // libunbound may call ub_cb before this returns (local data, cache);
        // on_answer only records the result, delivery is always deferred.
        int rc = ub_resolve_event(_ctx.get(), r.name.c_str(), int(r.subs[i].type), 1,
                                  _tickets[serial].get(), &core::ub_cb, &async_id);
        auto t = _tickets.find(serial);
        sub& s = r.subs[i];
        if (rc != 0) {
            if (t != _tickets.end()) _tickets.erase(t);
            if (!s.done) {
                s.done = true;
                s.res.st = status::temporary;
                s.res.error = std::string("libunbound: ") + ub_strerror(rc);
                s.res.qname = r.name;
            }
        } else if (t != _tickets.end()) {
            s.ticket = serial;
            s.async_id = async_id;
        }
    }
    if (!r.complete) {
        bool all = true;
        for (auto& s : r.subs) all = all && s.done;
        if (all) finish(r);
    }
    return handle;
}

void core::drop_sub(sub& s) noexcept {
    if (!s.ticket) return;
    // With an event context ub_cancel only marks the query: libunbound
    // finishes it internally but never calls ub_cb for it again.
    if (s.async_id && _ctx) ub_cancel(_ctx.get(), s.async_id);
    _tickets.erase(s.ticket);
    s.ticket = 0;
    s.async_id = 0;
}

void core::cancel(uint64_t id) noexcept {
    auto it = _requests.find(id);
    if (it == _requests.end()) return;
    for (auto& s : it->second->subs) drop_sub(s);
    _requests.erase(it);
}

void core::ub_cb(void* mydata, int rcode, void* packet, int len, int sec, char* why_bogus, int) noexcept {
    auto t = static_cast<ticket*>(mydata);
    core* self = t->owner;
    if (self->_down) return;
    guard("dns answer", [&] {
        self->on_answer(t, rcode, static_cast<const uint8_t*>(packet), len > 0 ? size_t(len) : 0, sec,
                        why_bogus);
    });
}

void core::on_answer(ticket* t, int rcode, const uint8_t* pkt, size_t len, int sec, const char* why) {
    uint64_t rid = t->request;
    size_t si = t->sub;
    _tickets.erase(t->serial);  // t is gone from here on
    auto it = _requests.find(rid);
    if (it == _requests.end()) return;
    request& r = *it->second;
    if (r.complete || si >= r.subs.size()) return;
    sub& s = r.subs[si];
    s.ticket = 0;
    s.async_id = 0;
    s.done = true;
    result res;
    if (sec == 1) {
        res.st = status::bogus;
        res.error = std::string("DNSSEC: ") + (why ? why : "validation failed");
    } else if (rcode != 0) {
        res.st = rcode == 3 ? status::nxdomain : status::temporary;
        res.error = rcode == 2 ? "SERVFAIL" : "DNS error code " + std::to_string(rcode);
    } else if (!pkt || len == 0) {
        res.st = status::temporary;
        res.error = "libunbound returned no answer";
    } else {
        parse_dns_answer(pkt, len, s.type, res);
        res.secure = sec == 2;
    }
    if (res.qname.empty()) res.qname = r.name;
    if (res.canonical.empty()) res.canonical = res.qname;
    s.res = std::move(res);
    for (auto& x : r.subs)
        if (!x.done) return;
    finish(r);
}

void core::timeout_cb(int, short, void* arg) noexcept {
    auto r = static_cast<request*>(arg);
    guard("dns timeout", [&] { r->owner->on_timeout(*r); });
}

void core::on_timeout(request& r) {
    if (r.complete) return;
    for (auto& s : r.subs) {
        if (s.done) continue;
        drop_sub(s);
        s.done = true;
        s.res = result{};
        s.res.st = status::timeout;
        s.res.error = "no answer within " + std::to_string(_opts.timeout.count()) + "ms";
        s.res.qname = s.res.canonical = r.name;
    }
    finish(r);
}

void core::finish(request& r) {
    r.complete = true;
    if (r.timer) event_del(r.timer.get());
    for (auto& s : r.subs) drop_sub(s);
    if (r.subs.size() == 2 && r.subs[0].type == rr_type::a && r.subs[1].type == rr_type::aaaa)
        r.final = combine_addresses(r.subs[0].res, r.subs[1].res);
    else
        r.final = std::move(r.subs[0].res);
    if (r.final.qname.empty()) r.final.qname = r.name;
    _ready.push_back(r.id);
    if (!event_pending(_ready_ev.get(), EV_TIMEOUT, nullptr)) {
        struct timeval tv{0, 0};
        event_add(_ready_ev.get(), &tv);
    }
}

void core::ready_cb(int, short, void* arg) noexcept {
    auto self = static_cast<core*>(arg);
    // A callback may destroy the resolver; keep the core until we are done.
    // (If this is the last reference, the core and this event are freed on
    // return, which libevent allows for a non-persistent event.)
    auto keep = self->shared_from_this();
    auto ids = std::move(self->_ready);
    self->_ready.clear();
    for (uint64_t id : ids) {
        if (self->_down) break;
        auto it = self->_requests.find(id);
        if (it == self->_requests.end()) continue;  // cancelled meanwhile
        auto req = std::move(it->second);
        self->_requests.erase(it);
        auto cb = std::move(req->cb);
        result res = std::move(req->final);
        req.reset();
        if (cb) guard("dns callback", [&] { cb(res); });
    }
}

}  // namespace detail

query::~query() {
    if (auto c = _core.lock()) c->cancel(_id);
}

std::unique_ptr<resolver> resolver::create(event_loop& loop, const config& cfg, std::string& err) {
    auto o = options::from_config(cfg, err);
    if (!o) return nullptr;
    return create(loop, *o, err);
}

std::unique_ptr<resolver> resolver::create(event_loop& loop, const options& opts, std::string& err) {
    auto c = std::make_shared<detail::core>(loop, opts);
    if (!c->init(err)) return nullptr;
    return std::unique_ptr<resolver>(new resolver(std::move(c)));
}

resolver::~resolver() { _core->shutdown(); }

namespace {
std::string checked(std::string_view name, std::string& why) {
    if (!valid_query_name(name, why)) why += ": " + printable(name, 80);
    return std::string(name);
}
}  // namespace

std::unique_ptr<query> resolver::lookup(std::string_view name, rr_type type, callback cb) {
    std::string why;
    std::string n = checked(name, why);
    return _core->start(std::move(n), {type}, std::move(cb), why);
}

std::unique_ptr<query> resolver::lookup_mx(std::string_view domain, callback cb) {
    return lookup(domain, rr_type::mx, std::move(cb));
}

std::unique_ptr<query> resolver::lookup_addresses(std::string_view name, callback cb) {
    std::string why;
    std::string n = checked(name, why);
    return _core->start(std::move(n), {rr_type::a, rr_type::aaaa}, std::move(cb), why);
}

std::unique_ptr<query> resolver::lookup_ptr(std::string_view ip, callback cb) {
    auto name = reverse_name(ip);
    if (!name) return _core->start(std::string(ip), {rr_type::ptr}, std::move(cb),
                                   "not an IP address: " + printable(ip, 80));
    return lookup(*name, rr_type::ptr, std::move(cb));
}

std::unique_ptr<query> resolver::lookup_txt(std::string_view name, callback cb) {
    return lookup(name, rr_type::txt, std::move(cb));
}

std::unique_ptr<query> resolver::lookup_tlsa(std::string_view host, int port, callback cb) {
    if (port < 1 || port > 65535)
        return _core->start(std::string(host), {rr_type::tlsa}, std::move(cb), "bad port for TLSA");
    return lookup("_" + std::to_string(port) + "._tcp." + std::string(host), rr_type::tlsa, std::move(cb));
}

std::unique_ptr<query> resolver::lookup_raw(std::string_view name, rr_type type, callback cb) {
    std::string why;
    auto escaped = escape_query_name(name, why);
    if (!escaped) return _core->start(printable(name, 80), {type}, std::move(cb), why + ": " + printable(name, 80));
    return _core->start(std::move(*escaped), {type}, std::move(cb), "");
}

size_t resolver::pending() const { return _core->pending(); }

// ---- blocking_resolver -------------------------------------------------------

blocking_resolver::blocking_resolver() : _loop(std::make_unique<event_loop>()) {}

blocking_resolver::~blocking_resolver() { _res.reset(); }

std::unique_ptr<blocking_resolver> blocking_resolver::create(const config& cfg, std::string& err) {
    auto o = options::from_config(cfg, err);
    if (!o) return nullptr;
    return create(*o, err);
}

std::unique_ptr<blocking_resolver> blocking_resolver::create(const options& opts, std::string& err) {
    auto b = std::unique_ptr<blocking_resolver>(new blocking_resolver());
    b->_res = resolver::create(*b->_loop, opts, err);
    if (!b->_res) return nullptr;
    return b;
}

result blocking_resolver::wait(const std::function<std::unique_ptr<query>(resolver::callback)>& start) {
    std::optional<result> got;
    auto q = start([&](const result& r) {
        got = r;
        _loop->exit();
    });
    // The query's own timer keeps the loop busy until the callback has run.
    while (!got && _res->pending() > 0) _loop->run();
    if (!got) {
        result r;
        r.error = "internal error: query ended without an answer";
        return r;
    }
    return *got;
}

result blocking_resolver::lookup(std::string_view name, rr_type type) {
    return wait([&](resolver::callback cb) { return _res->lookup(name, type, std::move(cb)); });
}
result blocking_resolver::lookup_mx(std::string_view domain) {
    return wait([&](resolver::callback cb) { return _res->lookup_mx(domain, std::move(cb)); });
}
result blocking_resolver::lookup_addresses(std::string_view name) {
    return wait([&](resolver::callback cb) { return _res->lookup_addresses(name, std::move(cb)); });
}
result blocking_resolver::lookup_ptr(std::string_view ip) {
    return wait([&](resolver::callback cb) { return _res->lookup_ptr(ip, std::move(cb)); });
}
result blocking_resolver::lookup_txt(std::string_view name) {
    return wait([&](resolver::callback cb) { return _res->lookup_txt(name, std::move(cb)); });
}
result blocking_resolver::lookup_tlsa(std::string_view host, int port) {
    return wait([&](resolver::callback cb) { return _res->lookup_tlsa(host, port, std::move(cb)); });
}

}  // namespace tern::dns
