// delivery.cpp - see delivery.hpp.
#include "smtp-client/delivery.hpp"

#include <algorithm>
#include <unordered_map>

#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "smtp-client/data.hpp"
#include "smtp-client/downgrade.hpp"

namespace tern::smtp_client {

namespace {

std::string addr_key(const std::string& addr, int port) {
    return (is_ipv6(addr) ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

bool valid_queue_id(std::string_view id) {
    if (id.empty() || id.size() > 64) return false;
    for (unsigned char c : id)
        if (!std::isalnum(c)) return false;
    return true;
}

}  // namespace

// ---------------------------------------------------------------- context

void client_context::deliver(const attr_list& req, attr_responder respond) {
    active.push_back(std::make_unique<delivery>(*this, std::move(respond)));
    active.back()->start(req);
}

void client_context::finished(delivery* d) {
    for (auto it = active.begin(); it != active.end(); ++it) {
        if (it->get() != d) continue;
        loop.defer_delete(std::move(*it));
        active.erase(it);
        return;
    }
}

void client_context::shutdown() {
    active.clear();
    if (cache) cache->clear();
}

// ---------------------------------------------------------------- delivery

delivery::delivery(client_context& ctx, attr_responder respond)
    : _ctx(ctx), _respond(std::move(respond)), _started(std::chrono::steady_clock::now()) {}

delivery::~delivery() {
    if (_conn) _conn->drop();
}

bool delivery::parse(const attr_list& req, std::string& err) {
    std::unordered_map<std::string_view, const std::string*> a;
    for (const auto& [k, v] : req.items) a.emplace(k, &v);  // the first of a name wins
    auto get = [&](std::string_view k) -> std::string { auto it = a.find(k); return it == a.end() ? "" : *it->second; };
    if (get("request") != "deliver") {
        err = "unknown request";
        return false;
    }
    _queue_id = get("queue_id");
    if (!valid_queue_id(_queue_id)) {
        err = "bad queue_id";
        return false;
    }
    _queue_file = get("queue_file");
    _nexthop_text = get("nexthop");
    _sender = get("sender");
    _envid = get("envid");
    _ret = to_upper(get("ret"));
    _body = to_upper(get("body"));
    _smtputf8 = iequals(get("smtputf8"), "yes");
    auto n = parse_u64(get("rcpt_count"));
    if (!n || *n == 0 || *n > _ctx.cfg.max_recipients) {
        err = "bad rcpt_count";
        return false;
    }
    _rcpts.resize(*n);
    for (size_t i = 0; i < *n; ++i) {
        std::string p = "rcpt." + std::to_string(i) + ".";
        auto it = a.find(p + "addr");
        if (it == a.end()) {
            err = "missing " + p + "addr";
            return false;
        }
        _rcpts[i].addr = *it->second;
        _rcpts[i].orcpt = get(p + "orcpt");
        _rcpts[i].notify = get(p + "notify");
        _rcpts[i].id = get(p + "id");
    }
    return true;
}

bool delivery::prepare_message(std::string& err) {
    _msg = queued_message::open(_ctx.queue_root, _queue_file, err);
    if (!_msg) return false;
    _file_body = std::make_unique<file_body>(*_msg);
    bool utf8 = has_8bit(_sender);
    for (const auto& rc : _rcpts)
        if (has_8bit(rc.addr)) utf8 = true;
    if (!utf8 && _smtputf8) {
        // RFC 6531: only mail that really is internationalized needs SMTPUTF8
        if (!_msg->has_8bit(true, utf8, err)) return false;
    }
    _tx.sender = _sender;
    _tx.envid = _envid;
    _tx.ret = _ret;
    _tx.smtputf8 = _smtputf8;
    _tx.utf8_needed = utf8;
    _tx.rcpts.clear();
    for (auto& rc : _rcpts) _tx.rcpts.push_back(&rc);
    return true;
}

void delivery::start(const attr_list& req) {
    std::string err;
    if (!parse(req, err)) {
        answer_error(err);
        return;
    }
    if (!prepare_message(err)) {
        answer_error(err);
        return;
    }
    std::string nh = _nexthop_text;
    if (nh.empty()) {  // no next hop named: the recipient's domain
        auto at = _rcpts[0].addr.rfind('@');
        nh = at == std::string::npos ? "" : _rcpts[0].addr.substr(at + 1);
    }
    auto parsed = parse_nexthop(nh, err);
    if (!parsed) {
        set_pending(local_result("4.3.5", "bad next hop \"" + printable(nh, 100) + "\": " + err), "none");
        finish();
        return;
    }
    _nh = *parsed;
    _port = _nh.port ? _nh.port : _ctx.cfg.default_port;
    _dest_key = (_nh.no_mx ? "[" + _nh.host + "]" : _nh.host) + ":" + std::to_string(_port);
    if (auto c = _ctx.cache->take_dest(_dest_key)) {
        _conn = std::move(c);
        _conn->set_user(this);
        _reused = true;
        _counted = false;
        _cand = nullptr;
        _conn->proto().reset();
        return;
    }
    start_routing();
}

void delivery::start_routing() {
    _routed = true;
    _route = std::make_unique<route_lookup>(_ctx.loop, _ctx.resolver.get(), _ctx.cfg.route, _nh, _ctx.rng,
                                            [this](route_outcome o) { route_done(std::move(o)); });
    _route->start();
}

void delivery::route_done(route_outcome o) {
    _ctx.loop.defer_delete(std::move(_route));
    if (!o.ok) {
        set_pending(o.failure, "none");
        finish();
        return;
    }
    _servers = std::move(o.servers);
    _next = 0;
    next_server();
}

void delivery::next_server() {
    if (all_final()) {
        finish();
        return;
    }
    while (_next < _servers.size() && _sessions < _ctx.cfg.session_limit) {
        const candidate& c = _servers[_next++];
        _cand = &c;
        if (auto cached = _ctx.cache->take_addr(addr_key(c.addr, _port))) {
            _conn = std::move(cached);
            _conn->set_user(this);
            _reused = true;
            _counted = false;
            _conn->proto().reset();
            return;
        }
        connect_to(c, false);
        return;
    }
    finish();
}

void delivery::connect_to(const candidate& cand, bool plaintext_only) {
    connection_params p;
    p.session = _ctx.cfg.session;
    p.session.destination = _nh.host;
    p.session.plaintext_only = plaintext_only;
    p.session.tls_available = _ctx.tls_ctx != nullptr;
    p.host = cand.host;
    p.addr = cand.addr;
    p.port = _port;
    p.source = is_ipv6(cand.addr) ? _ctx.cfg.bind6 : _ctx.cfg.bind4;
    p.tls_ctx = _ctx.tls_ctx.get();
    p.line_limit = _ctx.cfg.line_limit;
    p.reply_line_limit = _ctx.cfg.reply_line_limit;
    p.reply_line_count = _ctx.cfg.reply_line_count;
    p.dest_key = _dest_key;
    p.addr_key = addr_key(cand.addr, _port);
    _conn = std::make_unique<connection>(_ctx.loop, std::move(p), this);
    _reused = false;
    _counted = plaintext_only;  // the retry without TLS is the same session
    _conn->start();
}

void delivery::conn_ready(connection& c) {
    if (&c != _conn.get()) return;
    if (!_counted) {
        _counted = true;
        ++_sessions;
    }
    begin_transaction();
}

void delivery::begin_transaction() {
    const capabilities& caps = _conn->proto().caps();
    body_source* src = _file_body.get();
    // without CHUNKING, BINARYMIME mail goes out as 8BITMIME (its line ends are normalized anyway)
    bool eight = _body == "8BITMIME" || _body == "BINARYMIME";
    _tx.body_8bitmime = eight;
    _tx.size = _msg->smtp_size();
    if (eight && !caps.eightbitmime && _ctx.cfg.mime_conversion) {
        std::string err;
        if (_is_8bit < 0) {
            bool r = false;
            if (!_msg->has_8bit(false, r, err)) {
                set_pending(local_result("4.3.0", "error reading the queue file: " + err), _conn->relay());
                release_connection();
                finish();
                return;
            }
            _is_8bit = r ? 1 : 0;
        }
        if (_is_8bit == 1) {
            if (!_converted) {
                std::string whole;
                if (!_msg->read(0, _msg->length(), whole, err)) {
                    set_pending(local_result("4.3.0", "error reading the queue file: " + err), _conn->relay());
                    release_connection();
                    finish();
                    return;
                }
                _converted = std::make_unique<memory_body>(downgrade_8bit(whole));
            }
            log::info("%s: host %s does not announce 8BITMIME: message converted to quoted-printable",
                      _queue_id.c_str(), _conn->relay().c_str());
            src = _converted.get();
            _tx.body_8bitmime = false;
            const std::string& d = _converted->data();
            _tx.size = d.size() + static_cast<uint64_t>(std::count(d.begin(), d.end(), '\n'));
        }
    }
    for (auto& rc : _rcpts)
        if (!rc.final) rc.relay = _conn->relay();
    _conn->set_body(src);
    ++_transactions;
    _delivered_before = delivered_count();
    if (_conn->proto().begin(_tx)) {
        _in_tx = true;
        return;
    }
    after_transaction();  // nothing was sent: every recipient has its answer
}

void delivery::conn_transaction_done(connection& c) {
    if (&c != _conn.get()) return;
    _in_tx = false;
    after_transaction();
}

void delivery::after_transaction() {
    bool retry = false;
    for (const auto& rc : _rcpts)
        if (!rc.final && rc.retry_now) retry = true;
    bool accepted_some = delivered_count() > _delivered_before;
    // 452 "too many recipients": the rest go in a new transaction right away,
    // as long as the last one delivered something
    if (retry && accepted_some && _conn && _conn->alive() && _conn->proto().idle() &&
        _transactions < _rcpts.size() + 1) {
        begin_transaction();
        return;
    }
    release_connection();
    if (all_final() || !_routed) {
        finish();
        return;
    }
    next_server();
}

void delivery::release_connection() {
    if (!_conn) return;
    auto c = std::move(_conn);
    if (c->alive() && c->proto().idle()) {
        c->set_body(nullptr);
        _ctx.cache->put(std::move(c));
    } else if (c->alive()) {
        _ctx.cache->retire(std::move(c));
    } else {
        c->set_user(nullptr);
        _ctx.loop.defer_delete(std::move(c));
    }
}

void delivery::conn_failed(connection& c, const session_failure& f) {
    if (&c != _conn.get()) return;
    auto dead = std::move(_conn);
    dead->set_user(nullptr);
    std::string relay = dead->relay();
    bool was_connected = dead->was_connected();
    _ctx.loop.defer_delete(std::move(dead));
    bool was_tx = _in_tx;
    _in_tx = false;
    if (_reused && f.before_any_reply && !was_tx) {
        // a cached session the server had closed meanwhile: no harm done
        _reused = false;
        log::debug("%s: cached session with %s was closed; connecting anew", _queue_id.c_str(), relay.c_str());
        if (!_cand) {
            start_routing();
        } else {
            connect_to(*_cand, false);
        }
        return;
    }
    if (!_counted && was_connected) {
        _counted = true;
        ++_sessions;
    }
    if (f.retry_plaintext && !_plaintext_retried && _cand) {
        _plaintext_retried = true;
        log::info("%s: %s; trying %s again without TLS", _queue_id.c_str(), f.res.text.c_str(), relay.c_str());
        connect_to(*_cand, true);
        return;
    }
    if (!was_tx) set_pending(f.res, relay);
    if (!f.res.text.empty()) log::info("%s: %s", _queue_id.c_str(), f.res.text.c_str());
    if (all_final()) {
        finish();
        return;
    }
    if (!_routed) {
        start_routing();
        return;
    }
    next_server();
}

size_t delivery::delivered_count() const {
    size_t n = 0;
    for (const auto& rc : _rcpts)
        if (rc.final && rc.res.success()) ++n;
    return n;
}

bool delivery::all_final() const {
    for (const auto& rc : _rcpts)
        if (!rc.final) return false;
    return true;
}

void delivery::set_pending(const result& r, const std::string& relay) {
    for (auto& rc : _rcpts) {
        if (rc.final) continue;
        rc.set(r, r.hard());
        rc.relay = relay;
    }
}

void delivery::finish() {
    if (_answered) return;
    _answered = true;
    _route.reset();
    release_connection();
    double delay = std::chrono::duration<double>(std::chrono::steady_clock::now() - _started).count();
    attr_list reply;
    reply.add("status", "done");
    for (size_t i = 0; i < _rcpts.size(); ++i) {
        const recipient& rc = _rcpts[i];
        result r = rc.has_result ? rc.res : local_result("4.4.1", "no server could be tried");
        const char* status;
        if (r.success()) {
            if (r.action != "relayed") r.action = "delivered";
            status = "sent";
        } else if (r.hard() && rc.final) {
            r.action = "failed";
            status = "bounced";
        } else {
            r.action = "deferred";
            if (r.dsn.empty() || r.dsn[0] != '4') r.dsn = "4" + (r.dsn.size() > 1 ? r.dsn.substr(1) : ".0.0");
            status = "deferred";
        }
        std::string p = "rcpt." + std::to_string(i) + ".";
        reply.add(p + "dsn", r.dsn).add(p + "action", r.action).add(p + "text", r.text);
        if (!r.mta.empty()) reply.add(p + "mta", r.mta);
        if (!r.diag.empty()) reply.add(p + "diag", r.diag);
        log::info("%s: to=<%s>, relay=%s, delay=%.2g, dsn=%s, status=%s (%s)", _queue_id.c_str(),
                  printable(rc.addr, 300).c_str(), rc.relay.empty() ? "none" : rc.relay.c_str(), delay,
                  r.dsn.c_str(), status, r.text.c_str());
    }
    if (_respond) _respond(reply);
    _ctx.finished(this);
}

void delivery::answer_error(const std::string& reason) {
    if (_answered) return;
    _answered = true;
    log::warn("%s: delivery request refused: %s", _queue_id.empty() ? "NOQUEUE" : _queue_id.c_str(),
              reason.c_str());
    if (_respond) _respond(attr_list().add("status", "error").add("reason", reason));
    _ctx.finished(this);
}

}  // namespace tern::smtp_client
