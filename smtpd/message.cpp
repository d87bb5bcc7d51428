// message.cpp - see message.hpp.
// SECURITY: message bytes are untrusted; they are only scanned for the end
// of the header and counted, never interpreted beyond that.
#include "smtpd/message.hpp"

#include <ctime>

#include "lib/cleanup.hpp"
#include "lib/log.hpp"
#include "smtpd/session.hpp"
#include "smtpd/smtpd.hpp"

namespace tern::smtpd {

namespace {
constexpr size_t write_chunk = 64 * 1024;
}

message::message(session& s, std::unique_ptr<queue_writer> w) : _s(s), _w(std::move(w)) { _buf.reserve(16 * 1024); }

void message::fail(status st) {
    if (_st != status::ok) return;
    _st = st;
    _buf.clear();
    _buf.shrink_to_fit();
    if (st == status::write_failed)
        log::warn("%s: queue file write error: %s", _w->id().c_str(), _w->error().c_str());
    // give the disk space back now; the reply comes at the end of the data
    if (_w && st != status::write_failed) _w->abort();
}

void message::abort() {
    if (_w) _w->abort();
    _buf.clear();
}

void message::write(std::string_view data) {
    if (_st != status::ok || data.empty()) return;
    if (!_w->write(data)) fail(status::write_failed);
}

void message::absorb(uint64_t wire_size) {
    if (_st != status::ok) return;
    const settings& cf = _s.ctx.s;
    if (cf.message_size_limit && wire_size > cf.message_size_limit) {
        fail(status::too_big);
        return;
    }
    if (_in_header) {
        auto e = find_header_end(_buf, &_scan);
        if (!e) {
            if (_buf.size() > cf.header_limit) fail(status::header_too_big);
            return;
        }
        if (e->header_size > cf.header_limit) {
            fail(status::header_too_big);
            return;
        }
        if (!header_done(*e)) return;
    }
    if (_hold) {
        if (_prefix.size() + _buf.size() > _hold_limit) stop_holding();
        return;
    }
    if (_buf.size() >= write_chunk) {
        write(_buf);
        _buf.clear();
    }
}

void message::stop_holding() {
    _hold = false;
    log::info("%s: content check skipped: message larger than %llu bytes", _w->id().c_str(),
              static_cast<unsigned long long>(_hold_limit));
    write(_prefix);
    _prefix.clear();
    write(_buf);
    _buf.clear();
}

bool message::release(const std::vector<std::string>& headers) {
    if (_st != status::ok) return false;
    _hold = false;
    std::string add;
    for (const auto& h : headers) add += h + "\n";
    write(_prefix);
    write(add);
    write(_buf);
    _prefix.clear();
    _buf.clear();
    if (_st == status::ok && !_w->finish()) fail(status::write_failed);
    return _st == status::ok;
}

// The header is complete in _buf[0, e.body_offset): write it with our additions.
bool message::header_done(const header_end& e) {
    const settings& cf = _s.ctx.s;
    size_t header_size = e.header_size;
    std::string_view fields(_buf.data(), header_size);
    header_facts facts = scan_header(fields, cf.header_limit);
    if (static_cast<int>(facts.received) + 1 > cf.hopcount_limit) {
        fail(status::too_many_hops);
        return false;
    }
    std::time_t now = std::time(nullptr);
    received_info r;
    r.helo = _s.helo;
    r.client_name = _s.client.name;
    r.client_addr = _s.client.addr;
    if (cf.tls_received && _s.tls_active) r.tls = _s.tls_info;
    if (cf.auth_header && _s.is_authenticated()) r.auth_user = _s.sasl_user;
    r.by_host = cf.myhostname;
    r.mail_name = cf.mail_name;
    r.protocol = _s.protocol();
    r.queue_id = _w->id();
    if (_s.tx.rcpts.size() == 1) r.for_rcpt = _s.tx.rcpts.front().address;
    r.when = now;
    std::string prefix = make_received(r);
    for (const auto& p : _s.tx.prepend) prefix += p + "\n";
    bool submission = cf.always_add_missing_headers || _s.is_authenticated();
    _message_id = facts.message_id_value;
    std::string add;
    if (submission) {
        if (!facts.message_id) {
            _message_id = make_message_id(_w->id(), cf.myhostname, now);
            add += "Message-ID: " + _message_id + "\n";
        }
        if (!facts.date) add += "Date: " + rfc5322_date(now) + "\n";
    }
    _in_header = false;
    if (_hold) {
        // keep it all: the prefix apart, so the content check's headers go after it
        _prefix = std::move(prefix);
        _buf = std::string(fields) + add + _buf.substr(header_size);
        if (_prefix.size() + _buf.size() > _hold_limit) stop_holding();
        return true;
    }
    write(prefix);
    write(fields);
    write(add);
    if (_st == status::ok) write(std::string_view(_buf).substr(header_size));
    _buf.clear();
    return _st == status::ok;
}

bool message::complete(uint64_t wire_size) {
    absorb(wire_size);
    if (_st == status::ok && _in_header) {
        // the data ended inside the header (no empty line, no body)
        if (_buf.size() > _s.ctx.s.header_limit) fail(status::header_too_big);
        else header_done(header_end{_buf.size(), _buf.size(), false});
    }
    if (_hold) return _st == status::ok;  // release() writes it
    if (_st == status::ok && !_buf.empty()) {
        write(_buf);
        _buf.clear();
    }
    if (_st == status::ok && !_w->finish()) fail(status::write_failed);
    return _st == status::ok;
}

void message::failure_reply(int& code, std::string& dsn, std::string& text) const {
    switch (_st) {
    case status::ok:
        code = 250, dsn = "2.0.0", text = "Ok";
        break;
    case status::too_big:
        code = 552, dsn = "5.3.4", text = "Error: message file too big";
        break;
    case status::header_too_big:
        code = 552, dsn = "5.3.4", text = "Error: message header size exceeds limit";
        break;
    case status::too_many_hops:
        code = 554, dsn = "5.4.0", text = "Error: too many hops";
        break;
    case status::write_failed:
        if (_w && _w->out_of_space())
            code = 452, dsn = "4.3.1", text = "Error: insufficient system storage";
        else
            code = 451, dsn = "4.3.0", text = "Error: queue file write error";
        break;
    }
}

}  // namespace tern::smtpd
