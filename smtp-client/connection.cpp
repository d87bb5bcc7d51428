// connection.cpp - see connection.hpp.
#include "smtp-client/connection.hpp"

#include <cstring>
#include <event2/buffer.h>
#include <event2/event.h>
#include <sys/socket.h>

#include "lib/log.hpp"
#include "lib/tls.hpp"
#include "smtp-client/route.hpp"

namespace tern::smtp_client {

namespace {
constexpr size_t body_chunk = 64 * 1024;        // read from the queue file at a time
constexpr size_t output_high_water = 256 * 1024; // stop filling the socket buffer above this
}  // namespace

connection::connection(event_loop& loop, connection_params p, connection_user* user)
    : _loop(loop), _p(std::move(p)), _user(user), _parser(_p.reply_line_limit, _p.reply_line_count),
      _timer(loop, [this] { on_timer(); }), _created(std::chrono::steady_clock::now()),
      _alive_token(std::make_shared<bool>(true)) {
    _proto = std::make_unique<protocol>(*this, _p.session, _p.host, _p.addr);
}

connection::~connection() {
    *_alive_token = false;
    _connect_ev.reset();
    _timer.stop();
    if (_s) _s->close();
}

std::string connection::relay() const {
    return _p.host + "[" + _p.addr + "]:" + std::to_string(_p.port);
}

void connection::start() {
    std::string err;
    auto addr = parse_ip(_p.addr, _p.port);
    unique_fd fd;
    if (!addr) {
        err = "bad address";
    } else {
        fd = connect_nonblocking(*addr, err, _p.source.len ? &_p.source : nullptr);
        // "connect 192.0.2.1:25: Connection refused" -> "Connection refused"
        if (!fd) {
            auto colon = err.rfind(": ");
            if (colon != std::string::npos) err = err.substr(colon + 2);
        }
    }
    if (!fd) {
        std::weak_ptr<bool> w = _alive_token;
        _connecting = true;
        _loop.post([this, w, err] {
            auto a = w.lock();
            if (a && *a) connect_failed(err);
        });
        return;
    }
    // wait for the connect ourselves: the socket error names the reason
    // ("Connection refused", "No route to host") and the limit is ours
    _connecting = true;
    _connect_fd = std::move(fd);
    _connect_ev.reset(event_new(_loop.base(), _connect_fd.get(), EV_WRITE, &connection::connect_cb, this));
    struct timeval tv{static_cast<time_t>(_p.session.t.connect.count()), 0};
    event_add(_connect_ev.get(), &tv);
}

void connection::connect_cb(int, short what, void* arg) noexcept {
    auto self = static_cast<connection*>(arg);
    guard("smtp connect", [self, what] { self->connect_done(what); });
}

void connection::connect_done(short what) {
    _connect_ev.reset();
    unique_fd fd = std::move(_connect_fd);
    if (what & EV_TIMEOUT) {
        connect_failed("Connection timed out");
        return;
    }
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
        connect_failed(std::strerror(err));
        return;
    }
    _s = std::make_unique<stream>(_loop, std::move(fd), *this, false);
    on_connected();
}

void connection::on_timer() {
    if (_quitting) {
        drop();
        if (_user) _user->conn_failed(*this, session_failure{});
        return;
    }
    _proto->timed_out();
}

void connection::close_stream() {
    if (!_s) return;
    _s->close();
    _loop.defer_delete(std::move(_s));
}

void connection::connect_failed(const std::string& why) {
    if (_dead) return;
    _connect_ev.reset();
    _connect_fd.reset();
    _connecting = false;
    _dead = true;
    _timer.stop();
    close_stream();
    session_failure f;
    f.res = local_result("4.4.1", "connect to " + relay() + ": " + why);
    f.before_any_reply = true;
    if (_user) _user->conn_failed(*this, f);
}

void connection::on_connected() {
    _connecting = false;
    _was_connected = true;
    // a stalled write fails the session even when no reply is awaited
    _s->set_timeouts(std::chrono::seconds(0), _p.session.t.data_xfer);
    _proto->connected();
}

void connection::on_readable() {
    if (!_s || _dead) return;
    evbuffer* in = _s->input();
    char buf[4096];
    while (_s && !_dead && !_quitting && evbuffer_get_length(in) > 0) {
        ev_ssize_t n = evbuffer_copyout(in, buf, sizeof buf);
        if (n <= 0) return;
        size_t used = 0;
        auto st = _parser.feed(std::string_view(buf, static_cast<size_t>(n)), used);
        evbuffer_drain(in, used);
        if (st == reply_parser::status::error) {
            _proto->bad_reply(_parser.error());
            return;
        }
        if (st == reply_parser::status::done) {
            smtp_reply r = _parser.take();
            _proto->reply(r);
            if (_s) in = _s->input();  // STARTTLS replaced the buffers
            if (!in) return;
        }
    }
}

void connection::on_closed(const std::string& why) {
    close_stream();
    if (_quitting) {
        _quitting = false;
        _timer.stop();
        if (_user) _user->conn_failed(*this, session_failure{});
        return;
    }
    if (_dead) return;
    if (_proto->where() == stage::tls_handshake)
        _proto->tls_done(false, why);
    else
        _proto->lost(why == "timeout" ? "" : why);
}

void connection::on_flushed() {
    if (_in_body && !_dead) pump_body();
}

void connection::on_tls_ready() {
    if (_dead) return;
    SSL* ssl = _s ? _s->ssl() : nullptr;
    bool trusted = ssl && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE && SSL_get_verify_result(ssl) == X509_V_OK;
    log::info("%s TLS connection established to %s: %s", trusted ? "Verified" : "Untrusted", relay().c_str(),
              _s ? _s->tls_description().c_str() : "");
    _proto->tls_done(true, "");
}

void connection::write(std::string_view data) {
    if (_s && !_dead) _s->write(data);
}

void connection::expect_reply(std::chrono::seconds limit) {
    if (limit.count() == 0)
        _timer.stop();
    else
        _timer.start(limit);
}

void connection::start_tls() {
    _parser.reset();
    bool ok = false;
    std::string err = "no TLS context";
    if (_s && _p.tls_ctx) {
        std::string sni = numeric_address(_p.host) ? "" : _p.host;
        ok = _s->start_tls_client(_p.tls_ctx, sni);
        if (!ok) err = "cannot start TLS: " + openssl_error();
    }
    if (!ok) {
        std::weak_ptr<bool> w = _alive_token;
        _loop.post([this, w, err] {
            auto a = w.lock();
            if (a && *a && !_dead) _proto->tls_done(false, err);
        });
    }
}

void connection::send_body() {
    if (!_body) {
        _proto->abort(local_result("4.3.0", "internal error: no message to send"));
        return;
    }
    _body->rewind();
    _enc = std::make_unique<data_encoder>(_p.line_limit);
    _in_body = true;
    pump_body();
}

void connection::pump_body() {
    std::string raw, out;
    while (_in_body && _s && !_dead && _s->pending_output() < output_high_water) {
        raw.clear();
        out.clear();
        std::string err;
        if (!_body->next(raw, body_chunk, err)) {
            _in_body = false;
            _proto->abort(local_result("4.3.0", "error reading the queue file: " + err));
            return;
        }
        if (raw.empty()) {
            _enc->finish(out);
            _s->write(out);
            _in_body = false;
            _proto->body_sent();
            return;
        }
        _enc->feed(raw, out);
        _s->write(out);
    }
    if (_in_body) _timer.start(_p.session.t.data_xfer);  // progress restarts the clock
}

void connection::session_ready() {
    if (_user) _user->conn_ready(*this);
}

void connection::transaction_done() {
    if (_user) _user->conn_transaction_done(*this);
}

void connection::session_failed(const session_failure& f) { report_failure(f); }

void connection::report_failure(const session_failure& f) {
    _dead = true;
    _in_body = false;
    _timer.stop();
    close_stream();
    if (_user) _user->conn_failed(*this, f);
}

void connection::quit(std::chrono::seconds limit) {
    if (_dead || !_s || _connecting) {
        drop();
        return;
    }
    _proto->quit();
    _dead = true;
    _quitting = true;
    _s->close_after_flush();
    _timer.start(limit);
}

void connection::drop() {
    _connect_ev.reset();
    _connect_fd.reset();
    _dead = true;
    _quitting = false;
    _in_body = false;
    _timer.stop();
    close_stream();
}

void connection::abort(const result& r) {
    if (!_dead) _proto->abort(r);
}

}  // namespace tern::smtp_client
