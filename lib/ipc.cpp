// ipc.cpp - see ipc.hpp.
#include "lib/ipc.hpp"

#include <event2/buffer.h>
#include <list>

#include "lib/log.hpp"
#include "lib/net.hpp"
#include "lib/stream.hpp"

namespace tern {

std::optional<attr_list> ipc_call(const std::string& socket_path, const attr_list& req, int timeout_ms,
                                  std::string& err, attr_limits lim) {
    auto fd = connect_unix(socket_path, timeout_ms, err);
    if (!fd) return std::nullopt;
    attr_stream s(fd.get(), lim);
    if (!s.write(req, timeout_ms, err)) return std::nullopt;
    return s.read(timeout_ms, err);
}

bool ipc_notify(const std::string& socket_path, const attr_list& req, int timeout_ms) {
    std::string err;
    bool again = false;
    // No waiting for a full listen queue: the notices are wake-ups, and a
    // service with a full queue has plenty of them pending (smtpd calls
    // this from its event loop).
    auto fd = connect_unix_once(socket_path, err, again);
    if (!fd) return false;
    set_nonblocking(fd.get(), false);
    attr_stream s(fd.get());
    return s.write(req, timeout_ms, err);
}

namespace {

class async_request final : public ipc_request, public stream_handler {
public:
    async_request(event_loop& loop, std::string path, std::string payload, std::chrono::milliseconds timeout,
                  ipc_callback done, attr_limits lim)
        : _loop(loop),
          _path(std::move(path)),
          _payload(std::move(payload)),
          _parser(lim),
          _done(std::move(done)),
          _timer(loop, [this] { finish(std::nullopt, _s ? "timeout" : "timeout: " + _connect_err); }),
          _retry(loop, [this] { try_connect(); }) {
        _timer.start(timeout);
    }
    ~async_request() override {
        _timer.stop();
        _retry.stop();
        if (_s) {
            _s->close();
            _loop.defer_delete(std::move(_s));
        }
    }
    // First attempt from ipc_async(); a failure is reported from the loop.
    void start() {
        bool again = false;
        auto fd = connect_unix_once(_path, _connect_err, again);
        if (fd) return connected(std::move(fd));
        if (!again) {
            // reported from the loop, never from inside ipc_async(), through a
            // timer this handle owns (destroying the handle cancels it)
            _failed = true;
            _retry.start(std::chrono::milliseconds(0));
            return;
        }
        schedule_retry();
    }
    void on_readable() override {
        auto st = _parser.feed(_s->input());
        if (st == attr_parser::status::done) finish(_parser.take(), "");
        else if (st == attr_parser::status::error) finish(std::nullopt, "bad reply: " + _parser.error());
    }
    void on_closed(const std::string& why) override { finish(std::nullopt, why); }

private:
    void connected(unique_fd fd) {
        _s = std::make_unique<stream>(_loop, std::move(fd), *this);
        _s->write(_payload);
        _payload.clear();
        _payload.shrink_to_fit();
    }
    // The service's listen queue is full (a burst): wait for it to accept,
    // 1, 2, 4 .. 50 ms apart, within the request's own timeout.
    void schedule_retry() {
        _retry.start(std::chrono::milliseconds(_pause_ms));
        _pause_ms = std::min(_pause_ms * 2, 50);
    }
    void try_connect() {
        if (!_done) return;
        if (_failed) return finish(std::nullopt, _connect_err);
        bool again = false;
        auto fd = connect_unix_once(_path, _connect_err, again);
        if (fd) return connected(std::move(fd));
        if (again) return schedule_retry();
        finish(std::nullopt, _connect_err);
    }
    void finish(std::optional<attr_list> r, const std::string& err) {
        if (!_done) return;
        _timer.stop();
        _retry.stop();
        if (_s) {
            _s->close();
            _loop.defer_delete(std::move(_s));
        }
        auto cb = std::move(_done);
        _done = nullptr;
        cb(std::move(r), err);  // may destroy *this: touch nothing after
    }
    event_loop& _loop;
    std::string _path;
    std::string _payload;
    std::string _connect_err;
    attr_parser _parser;
    ipc_callback _done;
    timer _timer;
    timer _retry;
    int _pause_ms = 1;
    bool _failed = false;
    std::unique_ptr<stream> _s;
};

// An immediate failure still reports asynchronously, through a timer that
// the handle owns (so destroying the handle cancels it).
class failed_request final : public ipc_request {
public:
    failed_request(event_loop& loop, std::string err, ipc_callback done)
        : _err(std::move(err)), _done(std::move(done)), _timer(loop, [this] {
              auto cb = std::move(_done);
              cb(std::nullopt, _err);
          }) {
        _timer.start(std::chrono::milliseconds(0));
    }

private:
    std::string _err;
    ipc_callback _done;
    timer _timer;
};

}  // namespace

std::unique_ptr<ipc_request> ipc_async(event_loop& loop, const std::string& socket_path, const attr_list& req,
                                       std::chrono::milliseconds timeout, ipc_callback done, attr_limits lim) {
    auto payload = attr_encode(req, lim.escape);
    if (!payload) return std::make_unique<failed_request>(loop, "request cannot be encoded", std::move(done));
    // UNIX-socket connects finish at once unless the listener's backlog is
    // full; then the request waits (without blocking the loop) for a place.
    auto r = std::make_unique<async_request>(loop, socket_path, std::move(*payload), timeout, std::move(done), lim);
    r->start();
    return r;
}

// ---------------------------------------------------------------- server side

namespace {

size_t g_open = 0;

class attr_server_conn final : public stream_handler {
public:
    attr_server_conn(event_loop& loop, unique_fd fd, attr_handler h, std::chrono::seconds idle, attr_limits lim)
        : _loop(loop), _parser(lim), _escape(lim.escape), _handler(std::move(h)) {
        ++g_open;
        _alive = std::make_shared<bool>(true);
        _s = std::make_unique<stream>(loop, std::move(fd), *this);
        _s->set_timeouts(idle, idle);
    }
    ~attr_server_conn() override {
        --g_open;
        *_alive = false;
    }
    static void start(event_loop& loop, unique_fd fd, attr_handler h, std::chrono::seconds idle, attr_limits lim) {
        auto c = std::make_unique<attr_server_conn>(loop, std::move(fd), std::move(h), idle, lim);
        c->_self = std::move(c);
    }

    void on_readable() override {
        // one request at a time: the next is parsed after the reply is sent
        while (!_busy && _s && !_s->closed()) {
            auto st = _parser.feed(_s->input());
            if (st == attr_parser::status::need_more) return;
            if (st == attr_parser::status::error) {
                log::warn("bad request from peer: %s", _parser.error().c_str());
                attr_list r;
                r.add("status", "error").add("reason", _parser.error());
                if (auto enc = attr_encode(r, _escape)) _s->write(*enc);
                _s->close_after_flush();
                return;
            }
            _busy = true;
            auto req = _parser.take();
            std::weak_ptr<bool> alive = _alive;
            _handler(req, [this, alive](const attr_list& reply) {
                auto a = alive.lock();
                if (!a || !*a || !_s || _s->closed()) return;
                if (auto enc = attr_encode(reply, _escape)) _s->write(*enc);
                _busy = false;
                _s->kick();
            });
        }
    }
    void on_closed(const std::string&) override {
        if (_s) _loop.defer_delete(std::move(_s));
        if (_self) _loop.defer_delete(std::move(_self));
    }

private:
    event_loop& _loop;
    attr_parser _parser;
    bool _escape;
    attr_handler _handler;
    std::unique_ptr<stream> _s;
    std::unique_ptr<attr_server_conn> _self;
    std::shared_ptr<bool> _alive;
    bool _busy = false;
};

}  // namespace

void serve_attr_connection(event_loop& loop, unique_fd fd, attr_handler handler, std::chrono::seconds idle_timeout,
                           attr_limits lim) {
    attr_server_conn::start(loop, std::move(fd), std::move(handler), idle_timeout, lim);
}

size_t attr_connections_open() { return g_open; }

}  // namespace tern
