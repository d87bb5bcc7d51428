// policy_conn.cpp - see policy_conn.hpp. One request at a time: the next
// request is read after the reply to this one is queued (requests may be
// pipelined; they wait in the input buffer).
#include "spamd/policy_conn.hpp"

#include <event2/buffer.h>

#include "lib/log.hpp"
#include "lib/net.hpp"
#include "lib/stream.hpp"
#include "lib/strutil.hpp"

using namespace tern;

namespace spamd {
namespace {

size_t g_open = 0;

class conn final : public stream_handler {
public:
    conn(event_loop& loop, unique_fd fd, policy_handler h, policy_limits lim)
        : _loop(loop), _handler(std::move(h)), _lim(lim), _alive(std::make_shared<bool>(true)) {
        ++g_open;
        _s = std::make_unique<stream>(loop, std::move(fd), *this);
        _s->set_timeouts(lim.idle, lim.idle);
    }
    ~conn() override {
        --g_open;
        *_alive = false;
    }
    static void start(event_loop& loop, unique_fd fd, policy_handler h, policy_limits lim) {
        auto c = std::make_unique<conn>(loop, std::move(fd), std::move(h), lim);
        c->_self = std::move(c);
    }

    void on_readable() override {
        int budget = 64;  // lines per turn: one client cannot starve the others
        while (!_busy && _s && !_s->closed()) {
            if (--budget == 0) {
                _s->kick();
                return;
            }
            evbuffer* in = _s->input();
            if (_skipping) {
                // the rest of an over-long line: drop it without buffering
                struct evbuffer_ptr p = evbuffer_search(in, "\n", 1, nullptr);
                if (p.pos < 0) {
                    evbuffer_drain(in, evbuffer_get_length(in));
                    return;
                }
                evbuffer_drain(in, static_cast<size_t>(p.pos) + 1);
                _skipping = false;
                continue;
            }
            std::string line;
            auto st = read_line(in, _lim.max_line, line);
            if (st == line_status::need_more) return;
            if (st == line_status::too_long) {
                bad("attribute line longer than " + std::to_string(_lim.max_line) + " bytes");
                _skipping = true;
                continue;
            }
            if (line.empty()) {
                if (_req.attrs.empty() && _req.error.empty()) continue;  // stray empty line
                dispatch();
                continue;
            }
            _total += line.size() + 1;
            if (!_req.error.empty()) continue;  // already bad: read to the end
            auto eq = line.find('=');
            if (eq == std::string::npos || eq == 0) {
                bad("malformed attribute line \"" + printable(line, 60) + "\" (expected name=value)");
                continue;
            }
            if (_req.attrs.items.size() >= _lim.max_attrs) {
                bad("more than " + std::to_string(_lim.max_attrs) + " attributes");
                continue;
            }
            if (_total > _lim.max_total) {
                bad("request larger than " + std::to_string(_lim.max_total) + " bytes");
                _req.attrs = {};
                continue;
            }
            _req.attrs.add(line.substr(0, eq), line.substr(eq + 1));
        }
    }

    void on_closed(const std::string&) override {
        if (_s) _loop.defer_delete(std::move(_s));
        if (_self) _loop.defer_delete(std::move(_self));
    }

private:
    void bad(std::string why) {
        if (_req.error.empty()) _req.error = std::move(why);
        _req.attrs = {};  // a bad request's attributes are not kept
    }

    void dispatch() {
        _busy = true;
        raw_request req = std::move(_req);
        _req = {};
        _total = 0;
        std::weak_ptr<bool> alive = _alive;
        _handler(std::move(req), [this, alive](const std::string& action) {
            auto a = alive.lock();
            if (!a || !*a || !_s || _s->closed()) return;
            // raw mode: the action is one line
            std::string clean = action;
            for (auto& c : clean)
                if (c == '\n' || c == '\r') c = ' ';
            _s->write("action=" + clean + "\n\n");
            _busy = false;
            _s->kick();  // a pipelined request may be waiting
        });
    }

    event_loop& _loop;
    policy_handler _handler;
    policy_limits _lim;
    std::unique_ptr<stream> _s;
    std::unique_ptr<conn> _self;
    std::shared_ptr<bool> _alive;
    raw_request _req;
    size_t _total = 0;
    bool _busy = false;
    bool _skipping = false;
};

}  // namespace

void serve_policy_connection(event_loop& loop, unique_fd fd, policy_handler handler, policy_limits lim) {
    conn::start(loop, std::move(fd), std::move(handler), lim);
}

size_t policy_connections_open() { return g_open; }

}  // namespace spamd
