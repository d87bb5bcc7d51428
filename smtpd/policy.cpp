// policy.cpp - see policy.hpp. A connection belongs either to the idle pool
// or to the one request using it; a failed connection is deleted from the
// loop, never inside its own callback.
// SECURITY: the server's reply is parsed with attr limits in raw mode.
#include "smtpd/policy.hpp"

#include "lib/log.hpp"
#include "lib/stream.hpp"
#include "lib/strutil.hpp"

namespace tern::smtpd {

namespace {
attr_limits policy_limits() {
    attr_limits l;
    l.escape = false;
    l.max_line = 8192;
    l.max_count = 100;
    l.max_total = 64 * 1024;
    return l;
}
}  // namespace

class policy_conn final : public stream_handler {
public:
    using done_fn = std::function<void(std::optional<attr_list>, const std::string&)>;
    // A non-blocking connect in progress needs no special care: the request
    // waits in the output buffer until the socket becomes writable, and a
    // failed connect surfaces as an error on it.
    policy_conn(event_loop& loop, unique_fd fd) : _loop(loop), _parser(policy_limits()) {
        _io = std::make_unique<stream>(loop, std::move(fd), *this);
        born = std::chrono::steady_clock::now();
        last_used = born;
    }
    ~policy_conn() override {
        if (_io) {
            _io->close();
            _loop.defer_delete(std::move(_io));
        }
    }
    void send(const std::string& payload, done_fn done) {
        _done = std::move(done);
        _parser.reset();
        _io->write(payload);
    }
    void on_readable() override {
        if (!_done) {
            // nobody asked: a server that talks out of turn is not reused
            dead = true;
            return;
        }
        auto st = _parser.feed(_io->input());
        if (st == attr_parser::status::need_more) return;
        auto done = std::move(_done);
        _done = nullptr;
        if (st == attr_parser::status::error) {
            dead = true;
            done(std::nullopt, "bad reply: " + _parser.error());
            return;
        }
        last_used = std::chrono::steady_clock::now();
        done(_parser.take(), "");
    }
    void on_closed(const std::string& why) override {
        dead = true;
        if (_done) {
            auto done = std::move(_done);
            _done = nullptr;
            done(std::nullopt, why);
        }
    }
    bool dead = false;
    bool reused = false;
    std::chrono::steady_clock::time_point born, last_used;

private:
    event_loop& _loop;
    std::unique_ptr<stream> _io;
    attr_parser _parser;
    done_fn _done;
};

namespace {

class request final : public policy_wait {
public:
    request(policy_client& owner, std::string payload, policy_client::callback cb)
        : _owner(owner), _payload(std::move(payload)), _cb(std::move(cb)),
          _timer(owner.loop(),
                 [this] {
                     fail("timeout after " + std::to_string(_owner.timeout().count()) + "s" +
                          (_conn ? std::string() : ": " + _connect_err));
                 }),
          _retry(owner.loop(), [this] { connect_fresh(false); }),
          _alive(std::make_shared<bool>(true)) {}
    ~request() override {
        *_alive = false;
        _timer.stop();
        _retry.stop();
    }

    void start(std::unique_ptr<policy_conn> c) {
        _timer.start(std::chrono::duration_cast<std::chrono::milliseconds>(_owner.timeout()));
        if (c) {
            use(std::move(c));
            return;
        }
        connect_fresh(true);
    }
    // report from the loop, never from inside ask()
    void fail_later(const std::string& err) {
        std::weak_ptr<bool> alive = _alive;
        _owner.loop().post([this, alive, err] {
            if (auto a = alive.lock(); a && *a) fail(err);
        });
    }

private:
    void use(std::unique_ptr<policy_conn> c) {
        _conn = std::move(c);
        _conn->send(_payload, [this](std::optional<attr_list> reply, const std::string& err) {
            if (!reply && _conn && _conn->reused && !_retried) {
                // the server closed an idle connection just now: once more on a new one
                _retried = true;
                discard_conn();
                connect_fresh(false);
                return;
            }
            if (!reply) {
                fail(err);
                return;
            }
            _timer.stop();
            _owner.give_back(std::move(_conn));
            auto cb = std::move(_cb);
            _cb = nullptr;
            const std::string* action = reply->find("action");
            if (!action)
                cb(std::nullopt, "reply without action=");
            else
                cb(*action, "");  // may destroy *this
        });
    }
    // A new connection. The server's listen queue may be full (a burst of
    // checks): then wait for a place, 1, 2, 4 .. 50 ms apart, within the
    // request's timeout, without blocking the loop.
    void connect_fresh(bool from_start) {
        bool again = false;
        auto fresh = _owner.connect(_connect_err, again);
        if (fresh) {
            use(std::move(fresh));
            return;
        }
        if (again) {
            _retry.start(std::chrono::milliseconds(_pause_ms));
            _pause_ms = std::min(_pause_ms * 2, 50);
            return;
        }
        if (from_start) fail_later(_connect_err);
        else fail(_connect_err);
    }
    void discard_conn() {
        if (_conn) _owner.loop().defer_delete(std::move(_conn));
    }
    void fail(const std::string& err) {
        _timer.stop();
        _retry.stop();
        discard_conn();
        if (!_cb) return;
        auto cb = std::move(_cb);
        _cb = nullptr;
        cb(std::nullopt, err);  // may destroy *this
    }

    policy_client& _owner;
    std::string _payload;
    policy_client::callback _cb;
    timer _timer;
    timer _retry;
    int _pause_ms = 1;
    std::string _connect_err;
    std::unique_ptr<policy_conn> _conn;
    bool _retried = false;
    std::shared_ptr<bool> _alive;
};

}  // namespace

policy_client::policy_client(event_loop& loop, std::string endpoint, std::chrono::seconds timeout,
                             std::chrono::seconds max_idle, std::chrono::seconds max_ttl)
    : _loop(loop), _endpoint(std::move(endpoint)), _timeout(timeout), _max_idle(max_idle), _max_ttl(max_ttl) {}

policy_client::~policy_client() = default;

std::unique_ptr<policy_conn> policy_client::connect(std::string& err, bool& again) {
    again = false;
    if (_endpoint.rfind("unix:", 0) == 0) {
        auto fd = connect_unix_once(_endpoint.substr(5), err, again);
        if (!fd) return nullptr;
        return std::make_unique<policy_conn>(_loop, std::move(fd));
    }
    // inet:host:port (host numeric or [v6])
    std::string hp = _endpoint.substr(5);
    auto colon = hp.rfind(':');
    std::string host = colon == std::string::npos ? hp : hp.substr(0, colon);
    uint64_t port = colon == std::string::npos ? 0 : parse_u64(hp.substr(colon + 1)).value_or(0);
    if (host == "localhost") host = "127.0.0.1";
    std::optional<sock_addr> addr;
    if (port > 0 && port < 65536) addr = parse_ip(host, static_cast<int>(port));
    if (!addr) {
        err = "bad policy service address " + _endpoint;
        return nullptr;
    }
    auto fd = connect_nonblocking(*addr, err);
    if (!fd) return nullptr;
    return std::make_unique<policy_conn>(_loop, std::move(fd));
}

std::unique_ptr<policy_conn> policy_client::take_idle() {
    auto now = std::chrono::steady_clock::now();
    while (!_idle.empty()) {
        auto c = std::move(_idle.back());
        _idle.pop_back();
        if (c->dead || now - c->last_used > _max_idle || now - c->born > _max_ttl) {
            _loop.defer_delete(std::move(c));
            continue;
        }
        c->reused = true;
        return c;
    }
    return nullptr;
}

void policy_client::give_back(std::unique_ptr<policy_conn> c) {
    if (!c) return;
    auto now = std::chrono::steady_clock::now();
    if (c->dead || now - c->born > _max_ttl || _idle.size() >= 64) {
        _loop.defer_delete(std::move(c));
        return;
    }
    _idle.push_back(std::move(c));
}

std::unique_ptr<policy_wait> policy_client::ask(const attr_list& req, callback cb) {
    auto payload = attr_encode(req, false);
    auto r = std::make_unique<request>(*this, payload ? *payload : std::string(), std::move(cb));
    if (!payload) {
        r->fail_later("a request value holds a newline");
        return r;
    }
    r->start(take_idle());
    return r;
}

std::optional<std::string> resolve_policy_endpoint(const std::string& spec,
                                                   const std::function<std::string(const std::string&)>& queue_path) {
    if (spec.rfind("unix:", 0) == 0) {
        std::string p = spec.substr(5);
        if (p.empty()) return std::nullopt;
        return "unix:" + queue_path(p);
    }
    if (spec.rfind("inet:", 0) == 0) {
        if (spec.rfind(':') <= 5) return std::nullopt;
        return spec;
    }
    // Postfix also accepts a bare "private/name"
    if (!spec.empty() && spec.find(':') == std::string::npos) return "unix:" + queue_path(spec);
    return std::nullopt;
}

}  // namespace tern::smtpd
