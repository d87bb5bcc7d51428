// cmd_mail.cpp - POP3 TRANSACTION state: STAT, LIST, UIDL, RETR, TOP, DELE,
// RSET, NOOP. Deletions are only marked here; QUIT applies them. RETR and
// TOP stream the message with CRLF line ends and dot-stuffing, in chunks,
// waiting for the client to read when the output buffer is full.
#include "lib/log.hpp"
#include "lib/strutil.hpp"
#include "pop3d/session.hpp"

namespace tern::pop3 {

namespace {
constexpr size_t kChunk = 64 * 1024;
constexpr size_t kHighWater = 256 * 1024;
}  // namespace

session::msg* session::message(const std::string& arg) {
    auto n = parse_msgno(arg, _msgs.size());
    if (!n) {
        error("No such message");
        return nullptr;
    }
    msg* m = &_msgs[*n - 1];
    if (m->deleted) {
        error("Message " + arg + " already deleted");
        return nullptr;
    }
    return m;
}

void session::cmd_stat(const command& c) {
    if (!c.args.empty()) return error("STAT takes no arguments");
    size_t n = 0;
    uint64_t size = 0;
    for (const auto& m : _msgs)
        if (!m.deleted) {
            ++n;
            size += m.wire_size;
        }
    reply("+OK " + std::to_string(n) + " " + std::to_string(size));
}

void session::cmd_list(const command& c) {
    if (c.args.size() > 1) return error("Usage: LIST [msg]");
    if (c.args.size() == 1) {
        if (msg* m = message(c.args[0])) reply("+OK " + c.args[0] + " " + std::to_string(m->wire_size));
        return;
    }
    std::string out = "+OK scan listing follows\r\n";
    for (size_t i = 0; i < _msgs.size(); ++i)
        if (!_msgs[i].deleted) out += std::to_string(i + 1) + " " + std::to_string(_msgs[i].wire_size) + "\r\n";
    out += ".\r\n";
    _s->write(out);
}

void session::cmd_uidl(const command& c) {
    if (c.args.size() > 1) return error("Usage: UIDL [msg]");
    uint32_t v = _inbox->uidvalidity();
    if (c.args.size() == 1) {
        if (msg* m = message(c.args[0])) reply("+OK " + c.args[0] + " " + mailbox::pop3_uidl(v, m->uid));
        return;
    }
    std::string out = "+OK unique-id listing follows\r\n";
    for (size_t i = 0; i < _msgs.size(); ++i)
        if (!_msgs[i].deleted) out += std::to_string(i + 1) + " " + mailbox::pop3_uidl(v, _msgs[i].uid) + "\r\n";
    out += ".\r\n";
    _s->write(out);
}

void session::cmd_retr(const command& c) {
    if (c.args.size() != 1) return error("Usage: RETR msg");
    msg* m = message(c.args[0]);
    if (!m) return;
    const mailbox::message* info = _inbox->find(m->uid);
    if (!info) return error("[SYS/TEMP] Message vanished");
    reply("+OK " + std::to_string(m->wire_size) + " octets");
    _retr.emplace(retrieval{m->uid, 0, info->size, wire_encoder(-1), true});
    _busy = true;
    pump_retrieval();
}

void session::cmd_top(const command& c) {
    if (c.args.size() != 2) return error("Usage: TOP msg lines");
    msg* m = message(c.args[0]);
    if (!m) return;
    auto lines = parse_u64(c.args[1]);
    if (!lines || *lines > 100000000) return error("Invalid number of lines");
    const mailbox::message* info = _inbox->find(m->uid);
    if (!info) return error("[SYS/TEMP] Message vanished");
    reply("+OK top of message follows");
    _retr.emplace(retrieval{m->uid, 0, info->size, wire_encoder(static_cast<long>(*lines)), false});
    _busy = true;
    pump_retrieval();
}

void session::pump_retrieval() {
    while (_retr && _s && !_s->closed()) {
        if (_s->pending_output() > kHighWater) return;  // on_flushed() resumes
        auto& r = *_retr;
        std::string out;
        bool more = r.offset < r.size;
        if (more) {
            std::string chunk;
            uint64_t len = std::min<uint64_t>(kChunk, r.size - r.offset);
            auto st = _inbox->read(r.uid, r.offset, len, chunk);
            if (!st || chunk.empty()) {
                log::error("%s: user=%s: read uid %u: %s", _peer.c_str(), _user.c_str(), r.uid,
                           st ? "short read" : st.reason.c_str());
                // the client cannot tell a cut message from a whole one: end the session
                _retr.reset();
                _s->close();
                finish();
                return;
            }
            r.offset += chunk.size();
            more = r.enc.feed(chunk, out) && r.offset < r.size;
        }
        if (!more) {
            r.enc.finish(out);
            _s->write(out);
            if (r.counted) {
                ++_retr_count;
                _retr_bytes += r.size;
            }
            _retr.reset();
            _busy = false;
            _s->kick();  // pipelined commands waiting behind this one
            return;
        }
        _s->write(out);
    }
}

void session::cmd_dele(const command& c) {
    if (c.args.size() != 1) return error("Usage: DELE msg");
    if (msg* m = message(c.args[0])) {
        m->deleted = true;
        reply("+OK Marked to be deleted");
    }
}

void session::cmd_rset(const command& c) {
    if (!c.args.empty()) return error("RSET takes no arguments");
    for (auto& m : _msgs) m.deleted = false;
    reply("+OK");
}

void session::cmd_noop(const command& c) {
    if (!c.args.empty()) return error("NOOP takes no arguments");
    reply("+OK");
}

}  // namespace tern::pop3
