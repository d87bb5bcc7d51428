// queue_file.cpp - see queue_file.hpp; the byte layout is in docs/queue.md.
// SECURITY: every length read from a file is checked against the bytes that
// are present and against queue_limits before anything is allocated.
#include "lib/queue_file.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/queue_dir.hpp"

namespace tern {
namespace qf = queue_format;

// ---------------------------------------------------------------- small helpers

bool rcpt_status_final(rcpt_status s) { return s != rcpt_status::pending; }

const char* rcpt_action_name(rcpt_action a) {
    switch (a) {
    case rcpt_action::delayed: return "delayed";
    case rcpt_action::failed: return "failed";
    case rcpt_action::delivered: return "delivered";
    case rcpt_action::relayed: return "relayed";
    case rcpt_action::expanded: return "expanded";
    }
    return "unknown";
}

const std::string* envelope::attribute(std::string_view name) const {
    for (const auto& [n, v] : attributes)
        if (n == name) return &v;
    return nullptr;
}

size_t queue_file_info::pending_count() const {
    size_t n = 0;
    for (const auto& r : env.recipients)
        if (r.status == rcpt_status::pending) ++n;
    return n;
}

namespace queue_format {

uint32_t crc32c(const void* data, size_t len, uint32_t crc) {
    static const auto table = [] {
        struct t {
            uint32_t v[256];
        } tb{};
        for (uint32_t i = 0; i < 256; ++i) {
            uint32_t c = i;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            tb.v[i] = c;
        }
        return tb;
    }();
    auto p = static_cast<const unsigned char*>(data);
    crc = ~crc;
    while (len--) crc = table.v[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

}  // namespace queue_format

namespace {

// little-endian encoding
void put_u8(std::string& o, uint8_t v) { o.push_back(static_cast<char>(v)); }
void put_u16(std::string& o, uint16_t v) {
    for (int i = 0; i < 2; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
}
void put_u32(std::string& o, uint32_t v) {
    for (int i = 0; i < 4; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
}
void put_u64(std::string& o, uint64_t v) {
    for (int i = 0; i < 8; ++i) o.push_back(static_cast<char>(v >> (8 * i)));
}
void put_str(std::string& o, std::string_view s) {
    put_u32(o, static_cast<uint32_t>(s.size()));
    o.append(s);
}
uint32_t get_u32_at(const char* p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}
uint64_t get_u64_at(const char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

// A bounds-checked reader over one record.
class cursor {
public:
    explicit cursor(std::string_view d) : _d(d) {}
    size_t left() const { return _d.size() - _pos; }
    bool u8(uint8_t& v) {
        if (left() < 1) return false;
        v = static_cast<uint8_t>(_d[_pos++]);
        return true;
    }
    bool u32(uint32_t& v) {
        if (left() < 4) return false;
        v = get_u32_at(_d.data() + _pos);
        _pos += 4;
        return true;
    }
    bool u64(uint64_t& v) {
        if (left() < 8) return false;
        v = get_u64_at(_d.data() + _pos);
        _pos += 8;
        return true;
    }
    bool i64(int64_t& v) {
        uint64_t u;
        if (!u64(u)) return false;
        v = static_cast<int64_t>(u);
        return true;
    }
    bool str(std::string& s, size_t max) {
        uint32_t n;
        if (!u32(n) || n > max || n > left()) return false;
        s.assign(_d.substr(_pos, n));
        _pos += n;
        return true;
    }

private:
    std::string_view _d;
    size_t _pos = 0;
};

// Envelope text: bounded, one line, no NUL.
bool text_ok(std::string_view s, size_t max) {
    if (s.size() > max) return false;
    for (char c : s)
        if (c == '\0' || c == '\r' || c == '\n') return false;
    return true;
}

bool attr_name_ok(std::string_view n) {
    if (n.empty() || n.size() > 64) return false;
    for (char c : n)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-')) return false;
    return true;
}

// record types (docs/queue.md); lower-case types are optional: unknown ones are skipped
constexpr uint8_t rec_arrival = 'T', rec_sender = 'S', rec_rcpt = 'R', rec_client_addr = 'C',
                  rec_client_name = 'N', rec_helo = 'H', rec_auth = 'A', rec_protocol = 'P', rec_body = 'B',
                  rec_smtputf8 = 'U', rec_envid = 'I', rec_ret = 'F', rec_by = 'Y', rec_attr = 'X',
                  rec_result = 'L';
constexpr size_t rec_head = 5;  // type + u32 length

void put_record(std::string& o, uint8_t type, std::string_view payload) {
    put_u8(o, type);
    put_u32(o, static_cast<uint32_t>(payload.size()));
    o.append(payload);
}

bool single_text(std::string& o, uint8_t type, const std::string& v, const char* what, std::string& err) {
    if (v.empty()) return true;
    if (!text_ok(v, queue_limits::max_text)) {
        err = std::string("bad ") + what + ": too long or contains CR, LF or NUL";
        return false;
    }
    put_record(o, type, v);
    return true;
}

}  // namespace

namespace queue_format {

bool encode_envelope(const envelope& env, std::string& out, std::string& err) {
    out.clear();
    if (env.recipients.empty()) {
        err = "no recipients";
        return false;
    }
    if (env.recipients.size() > queue_limits::max_recipients) {
        err = "too many recipients (limit " + std::to_string(queue_limits::max_recipients) + ")";
        return false;
    }
    if (env.attributes.size() > queue_limits::max_attributes) {
        err = "too many attributes";
        return false;
    }
    std::string p;
    put_u64(p, static_cast<uint64_t>(env.arrival_us));
    put_record(out, rec_arrival, p);
    if (!text_ok(env.sender, queue_limits::max_text)) {
        err = "bad sender: too long or contains CR, LF or NUL";
        return false;
    }
    put_record(out, rec_sender, env.sender);
    if (!single_text(out, rec_client_addr, env.client_address, "client address", err) ||
        !single_text(out, rec_client_name, env.client_name, "client name", err) ||
        !single_text(out, rec_helo, env.helo, "HELO name", err) ||
        !single_text(out, rec_auth, env.auth_user, "authenticated user", err) ||
        !single_text(out, rec_protocol, env.protocol, "protocol", err) ||
        !single_text(out, rec_envid, env.envid, "ENVID", err))
        return false;
    if (env.body != body_type::unspecified) {
        if (static_cast<uint8_t>(env.body) > 3) {
            err = "bad body type";
            return false;
        }
        put_record(out, rec_body, std::string(1, static_cast<char>(env.body)));
    }
    if (env.smtputf8) put_record(out, rec_smtputf8, std::string(1, '\1'));
    if (env.ret != dsn_ret::unspecified) {
        if (static_cast<uint8_t>(env.ret) > 2) {
            err = "bad RET value";
            return false;
        }
        put_record(out, rec_ret, std::string(1, static_cast<char>(env.ret)));
    }
    if (env.by.mode) {
        if (env.by.mode != 'R' && env.by.mode != 'N') {
            err = "bad DELIVERBY mode";
            return false;
        }
        p.clear();
        put_u64(p, static_cast<uint64_t>(env.by.deadline));
        put_u64(p, static_cast<uint64_t>(env.by.seconds));
        put_u8(p, static_cast<uint8_t>(env.by.mode));
        put_u8(p, env.by.trace ? 1 : 0);
        put_record(out, rec_by, p);
    }
    for (const auto& [name, value] : env.attributes) {
        if (!attr_name_ok(name) || value.size() > queue_limits::max_text || value.find('\0') != std::string::npos) {
            err = "bad attribute \"" + name.substr(0, 64) + "\"";
            return false;
        }
        p.clear();
        put_str(p, name);
        put_str(p, value);
        put_record(out, rec_attr, p);
    }
    for (size_t i = 0; i < env.recipients.size(); ++i) {
        const auto& r = env.recipients[i];
        if (r.address.empty() || !text_ok(r.address, queue_limits::max_text) ||
            !text_ok(r.orcpt, queue_limits::max_text) || r.notify > 15 ||
            ((r.notify & dsn_notify::never) && r.notify != dsn_notify::never)) {
            err = "bad recipient #" + std::to_string(i + 1) + ": empty, too long, bad NOTIFY, or contains CR, LF or NUL";
            return false;
        }
        p.clear();
        put_str(p, r.address);
        put_str(p, r.orcpt);
        put_u8(p, r.notify);
        put_record(out, rec_rcpt, p);
    }
    if (out.size() > queue_limits::max_envelope) {
        err = "envelope too large";
        return false;
    }
    return true;
}

std::string encode_schedule(const schedule& s) {
    std::string o;
    put_u64(o, static_cast<uint64_t>(s.next_try));
    put_u32(o, s.attempts);
    put_u32(o, s.flags);
    put_u32(o, crc32c(o.data(), o.size()));
    return o;  // 20 bytes
}

std::string encode_header(uint32_t rcpt_count, uint64_t env_len, uint64_t msg_len, uint32_t env_crc,
                          const schedule& sched) {
    std::string o(magic, sizeof magic);
    put_u16(o, version);
    put_u16(o, static_cast<uint16_t>(header_size));
    put_u32(o, rcpt_count);
    put_u64(o, env_len);
    put_u64(o, msg_len);
    put_u32(o, env_crc);
    put_u32(o, crc32c(o.data(), o.size()));
    o += encode_schedule(sched);
    put_u32(o, 0);
    return o;  // 64 bytes
}

std::string encode_end(uint64_t msg_len, uint64_t lines, uint64_t header_len) {
    std::string o = {'T', 'Q', 'E', '\n'};
    put_u32(o, 0);
    put_u64(o, msg_len);
    put_u64(o, lines);
    put_u64(o, header_len);
    put_u32(o, crc32c(o.data(), o.size()));
    put_u32(o, 0);
    return o;  // 40 bytes
}

std::string clean_text(std::string_view s, size_t max) {
    std::string o;
    o.reserve(std::min(s.size(), max));
    for (char c : s) {
        if (o.size() >= max) break;
        unsigned char u = static_cast<unsigned char>(c);
        if (c == '\r' || c == '\n' || c == '\t') o.push_back(' ');
        else if (u < 0x20 || u == 0x7f) o.push_back('?');
        else o.push_back(c);
    }
    return o;
}

std::string encode_result(const rcpt_result& r) {
    std::string p;
    put_u32(p, r.index);
    put_u64(p, static_cast<uint64_t>(r.time));
    put_u8(p, static_cast<uint8_t>(r.action));
    put_str(p, clean_text(r.status, 32));
    put_str(p, clean_text(r.reason, queue_limits::max_reason));
    put_str(p, clean_text(r.remote_mta, queue_limits::max_text));
    put_str(p, clean_text(r.diagnostic, queue_limits::max_reason));
    std::string o;
    put_record(o, rec_result, p);
    put_u32(o, crc32c(o.data(), o.size()));
    return o;
}

}  // namespace queue_format

// ---------------------------------------------------------------- parsing

namespace {

struct header_fields {
    uint32_t rcpt_count = 0;
    uint64_t env_len = 0, msg_len = 0;
    uint32_t env_crc = 0;
    // derived offsets
    uint64_t env_off = 0, msg_off = 0, end_off = 0, log_off = 0;
};

bool parse_header(std::string_view h, uint64_t file_size, header_fields& f, queue_file_info& out, std::string& err) {
    if (h.size() < qf::header_size) {
        err = "truncated: " + std::to_string(h.size()) + " bytes, shorter than the header";
        return false;
    }
    if (std::memcmp(h.data(), qf::magic, sizeof qf::magic) != 0) {
        err = "not a queue file (bad magic)";
        return false;
    }
    uint16_t ver = static_cast<uint16_t>(static_cast<unsigned char>(h[8]) | static_cast<unsigned char>(h[9]) << 8);
    uint16_t hsize = static_cast<uint16_t>(static_cast<unsigned char>(h[10]) | static_cast<unsigned char>(h[11]) << 8);
    if (ver != qf::version || hsize != qf::header_size) {
        err = "unsupported queue file version " + std::to_string(ver);
        return false;
    }
    if (qf::crc32c(h.data(), 36) != get_u32_at(h.data() + 36)) {
        err = "damaged header (checksum mismatch)";
        return false;
    }
    f.rcpt_count = get_u32_at(h.data() + 12);
    f.env_len = get_u64_at(h.data() + 16);
    f.msg_len = get_u64_at(h.data() + 24);
    f.env_crc = get_u32_at(h.data() + 32);
    if (f.msg_len == qf::length_unset) {
        err = "incomplete: the writer never finished this file";
        return false;
    }
    if (f.rcpt_count == 0 || f.rcpt_count > queue_limits::max_recipients) {
        err = "bad recipient count " + std::to_string(f.rcpt_count);
        return false;
    }
    if (f.env_len > queue_limits::max_envelope) {
        err = "envelope length " + std::to_string(f.env_len) + " beyond the limit";
        return false;
    }
    f.env_off = qf::header_size + f.rcpt_count;
    f.msg_off = f.env_off + f.env_len;
    if (f.msg_len > file_size || f.msg_off > file_size) {
        err = "truncated: the header promises more bytes than the file has";
        return false;
    }
    f.end_off = f.msg_off + f.msg_len;
    f.log_off = f.end_off + qf::end_size;
    if (f.log_off > file_size) {
        err = "incomplete: no end record (file has " + std::to_string(file_size) + " bytes, needs " +
              std::to_string(f.log_off) + ")";
        return false;
    }
    // the schedule block has its own checksum: damage there only loses retry timing
    const char* s = h.data() + qf::sched_offset;
    if (qf::crc32c(s, 16) == get_u32_at(s + 16)) {
        out.sched.next_try = static_cast<int64_t>(get_u64_at(s));
        out.sched.attempts = get_u32_at(s + 8);
        out.sched.flags = get_u32_at(s + 12);
        out.sched_damaged = false;
    } else {
        out.sched = {};
        out.sched_damaged = true;
    }
    out.file_size = file_size;
    out.message_offset = f.msg_off;
    out.message_length = f.msg_len;
    out.log_offset = f.log_off;
    return true;
}

bool parse_envelope(std::string_view status, std::string_view env_bytes, const header_fields& f, envelope& env,
                    std::string& err) {
    if (qf::crc32c(env_bytes.data(), env_bytes.size()) != f.env_crc) {
        err = "damaged envelope (checksum mismatch)";
        return false;
    }
    env = envelope{};
    // no more than the envelope can hold (a recipient record is at least 15 bytes)
    env.recipients.reserve(std::min<uint64_t>(f.rcpt_count, env_bytes.size() / 15));
    bool have_arrival = false, have_sender = false;
    std::string seen;  // single-valued record types already read
    size_t pos = 0;
    while (pos < env_bytes.size()) {
        if (env_bytes.size() - pos < rec_head) {
            err = "envelope: truncated record header at offset " + std::to_string(f.env_off + pos);
            return false;
        }
        uint8_t type = static_cast<uint8_t>(env_bytes[pos]);
        uint32_t len = get_u32_at(env_bytes.data() + pos + 1);
        if (len > queue_limits::max_record || len > env_bytes.size() - pos - rec_head) {
            err = "envelope: record length " + std::to_string(len) + " out of bounds at offset " +
                  std::to_string(f.env_off + pos);
            return false;
        }
        std::string_view payload = env_bytes.substr(pos + rec_head, len);
        pos += rec_head + len;
        auto bad = [&](const char* what) {
            err = std::string("envelope: bad ") + what + " record";
            return false;
        };
        if (type != rec_rcpt && type != rec_attr && type >= 'A' && type <= 'Z') {
            if (seen.find(static_cast<char>(type)) != std::string::npos) {
                err = std::string("envelope: duplicate '") + static_cast<char>(type) + "' record";
                return false;
            }
            seen.push_back(static_cast<char>(type));
        }
        cursor c(payload);
        auto text = [&](std::string& dst, const char* what) {
            if (!text_ok(payload, queue_limits::max_text)) return bad(what);
            dst.assign(payload);
            return true;
        };
        switch (type) {
        case rec_arrival: {
            if (!c.i64(env.arrival_us)) return bad("arrival time");
            have_arrival = true;
            break;
        }
        case rec_sender:
            if (!text(env.sender, "sender")) return false;
            have_sender = true;
            break;
        case rec_client_addr:
            if (!text(env.client_address, "client address")) return false;
            break;
        case rec_client_name:
            if (!text(env.client_name, "client name")) return false;
            break;
        case rec_helo:
            if (!text(env.helo, "HELO")) return false;
            break;
        case rec_auth:
            if (!text(env.auth_user, "authenticated user")) return false;
            break;
        case rec_protocol:
            if (!text(env.protocol, "protocol")) return false;
            break;
        case rec_envid:
            if (!text(env.envid, "ENVID")) return false;
            break;
        case rec_body: {
            uint8_t v;
            if (!c.u8(v) || v > 3) return bad("body type");
            env.body = static_cast<body_type>(v);
            break;
        }
        case rec_smtputf8:
            env.smtputf8 = true;
            break;
        case rec_ret: {
            uint8_t v;
            if (!c.u8(v) || v < 1 || v > 2) return bad("RET");
            env.ret = static_cast<dsn_ret>(v);
            break;
        }
        case rec_by: {
            uint8_t mode, trace;
            if (!c.i64(env.by.deadline) || !c.i64(env.by.seconds) || !c.u8(mode) || !c.u8(trace) ||
                (mode != 'R' && mode != 'N'))
                return bad("DELIVERBY");
            env.by.mode = static_cast<char>(mode);
            env.by.trace = trace != 0;
            break;
        }
        case rec_attr: {
            if (env.attributes.size() >= queue_limits::max_attributes) return bad("attribute (too many)");
            queue_attr a;
            if (!c.str(a.first, 64) || !attr_name_ok(a.first) || !c.str(a.second, queue_limits::max_text))
                return bad("attribute");
            env.attributes.push_back(std::move(a));
            break;
        }
        case rec_rcpt: {
            if (env.recipients.size() >= f.rcpt_count) {
                err = "envelope: more recipient records than the header's " + std::to_string(f.rcpt_count);
                return false;
            }
            recipient r;
            if (!c.str(r.address, queue_limits::max_text) || r.address.empty() ||
                !text_ok(r.address, queue_limits::max_text) || !c.str(r.orcpt, queue_limits::max_text) ||
                !text_ok(r.orcpt, queue_limits::max_text) || !c.u8(r.notify) || r.notify > 15)
                return bad("recipient");
            // later format versions may append fields: extra bytes are ignored
            uint8_t st = static_cast<uint8_t>(status[env.recipients.size()]);
            if (st > static_cast<uint8_t>(rcpt_status::success_notify)) {
                err = "bad status byte " + std::to_string(st) + " for recipient #" +
                      std::to_string(env.recipients.size() + 1);
                return false;
            }
            r.status = static_cast<rcpt_status>(st);
            env.recipients.push_back(std::move(r));
            break;
        }
        default:
            if (type >= 'a' && type <= 'z') break;  // optional record of a later version
            err = "envelope: unknown record type " + std::to_string(type) + " at offset " +
                  std::to_string(f.env_off + pos - rec_head - len);
            return false;
        }
    }
    if (!have_arrival || !have_sender) {
        err = "envelope: missing arrival time or sender";
        return false;
    }
    if (env.recipients.size() != f.rcpt_count) {
        err = "envelope: " + std::to_string(env.recipients.size()) + " recipient records, header says " +
              std::to_string(f.rcpt_count);
        return false;
    }
    return true;
}

bool parse_end(std::string_view e, const header_fields& f, queue_file_info& out, std::string& err) {
    if (e.size() < qf::end_size) {
        err = "incomplete: no end record";
        return false;
    }
    if (e.substr(0, 4) != std::string_view("TQE\n", 4) || qf::crc32c(e.data(), 32) != get_u32_at(e.data() + 32)) {
        err = "incomplete or damaged: bad end record at offset " + std::to_string(f.end_off);
        return false;
    }
    if (get_u64_at(e.data() + 8) != f.msg_len) {
        err = "damaged: end record length disagrees with the header";
        return false;
    }
    out.line_count = get_u64_at(e.data() + 16);
    out.header_length = get_u64_at(e.data() + 24);
    if (out.line_count > f.msg_len || out.header_length > f.msg_len) {
        err = "damaged: bad end record counts";
        return false;
    }
    return true;
}

// Result records: the latest per recipient wins. A torn or damaged record
// ends the log (the rest is ignored; the next writer truncates it away).
void parse_log(std::string_view log, uint64_t log_off, bool complete, queue_file_info& out) {
    size_t pos = 0;
    out.log_records = 0;
    out.log_truncated = false;
    while (pos < log.size()) {
        size_t left = log.size() - pos;
        if (left < rec_head + 4) break;
        uint8_t type = static_cast<uint8_t>(log[pos]);
        uint32_t len = get_u32_at(log.data() + pos + 1);
        if (type != rec_result || len > queue_limits::max_record || len > left - rec_head - 4) break;
        if (qf::crc32c(log.data() + pos, rec_head + len) != get_u32_at(log.data() + pos + rec_head + len)) break;
        cursor c(log.substr(pos + rec_head, len));
        rcpt_result r;
        uint8_t action;
        if (!c.u32(r.index) || !c.i64(r.time) || !c.u8(action) || action < 1 || action > 5 || !c.str(r.status, 32) ||
            !c.str(r.reason, queue_limits::max_reason) || !c.str(r.remote_mta, queue_limits::max_text) ||
            !c.str(r.diagnostic, queue_limits::max_reason) || r.index >= out.env.recipients.size())
            break;
        r.action = static_cast<rcpt_action>(action);
        auto& slot = out.env.recipients[r.index].last;
        slot = std::move(r);
        pos += rec_head + len + 4;
        ++out.log_records;
    }
    out.log_end = log_off + pos;
    out.log_truncated = pos < log.size() || !complete;
}

}  // namespace

bool parse_queue_file(std::string_view data, queue_file_info& out, std::string& err, read_options opt) {
    out = queue_file_info{};
    header_fields f;
    if (!parse_header(data.substr(0, std::min<size_t>(data.size(), qf::header_size)), data.size(), f, out, err))
        return false;
    if (!parse_envelope(data.substr(qf::header_size, f.rcpt_count), data.substr(f.env_off, f.env_len), f, out.env,
                        err))
        return false;
    if (!parse_end(data.substr(f.end_off, qf::end_size), f, out, err)) return false;
    out.log_end = f.log_off;
    if (opt.log) {
        uint64_t avail = data.size() - f.log_off;
        uint64_t take = std::min<uint64_t>(avail, queue_limits::max_log);
        parse_log(data.substr(f.log_off, take), f.log_off, take == avail, out);
    }
    return true;
}

bool read_file_range(int fd, uint64_t offset, uint64_t len, std::string& out, std::string& err) {
    out.resize(len);
    uint64_t got = 0;
    while (got < len) {
        ssize_t n = ::pread(fd, out.data() + got, len - got, static_cast<off_t>(offset + got));
        if (n < 0) {
            if (errno == EINTR) continue;
            err = "read error: " + errno_text();
            return false;
        }
        if (n == 0) {
            err = "short read at offset " + std::to_string(offset + got);
            return false;
        }
        got += static_cast<uint64_t>(n);
    }
    return true;
}

bool read_queue_file(int fd, queue_file_info& out, std::string& err, read_options opt) {
    out = queue_file_info{};
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        err = "fstat: " + errno_text();
        return false;
    }
    uint64_t size = static_cast<uint64_t>(st.st_size);
    // One read covers header, status bytes and envelope of nearly every file
    // (and the whole of small ones); larger parts get one more read each.
    constexpr uint64_t first_read = 8192;
    std::string head;
    if (!read_file_range(fd, 0, std::min(size, first_read), head, err)) return false;
    header_fields f;
    if (!parse_header(head, size, f, out, err)) return false;
    if (f.msg_off > head.size()) {
        std::string more;
        if (!read_file_range(fd, head.size(), f.msg_off - head.size(), more, err)) return false;
        head += more;
    }
    if (!parse_envelope(std::string_view(head).substr(qf::header_size, f.rcpt_count),
                        std::string_view(head).substr(f.env_off, f.env_len), f, out.env, err))
        return false;
    uint64_t tail_end = opt.log ? std::min<uint64_t>(size, f.log_off + queue_limits::max_log) : f.log_off;
    std::string tail_buf;
    std::string_view tail;
    if (tail_end <= head.size()) {
        tail = std::string_view(head).substr(f.end_off, tail_end - f.end_off);
    } else {
        if (!read_file_range(fd, f.end_off, tail_end - f.end_off, tail_buf, err)) return false;
        tail = tail_buf;
    }
    if (!parse_end(tail.substr(0, qf::end_size), f, out, err)) return false;
    out.log_end = f.log_off;
    if (opt.log) parse_log(tail.substr(qf::end_size), f.log_off, tail_end == size, out);
    return true;
}

// ---------------------------------------------------------------- updates

std::unique_ptr<queue_file> queue_file::open(const queue_dir& q, std::string_view queue, std::string_view id,
                                             bool wait, open_status& st, std::string& err, read_options opt) {
    st = open_status::error;
    if (!valid_queue_id(id)) {
        st = open_status::not_found;
        err = "bad queue ID";
        return nullptr;
    }
    auto path = q.locate(queue, id);
    if (!path) {
        st = open_status::not_found;
        err = std::string(id) + ": not in the " + std::string(queue) + " queue";
        return nullptr;
    }
    unique_fd fd(::open(path->c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        st = errno == ENOENT ? open_status::not_found : open_status::error;
        err = "open " + *path + ": " + errno_text();
        return nullptr;
    }
    switch (queue_lock(fd.get(), wait)) {
    case queue_lock_result::locked: break;
    case queue_lock_result::busy:
        st = open_status::locked;
        err = std::string(id) + ": locked by another process";
        return nullptr;
    case queue_lock_result::error:
        err = "lock " + *path + ": " + errno_text();
        return nullptr;
    }
    // The file may have been moved or removed between open and lock.
    struct stat a, b;
    if (::fstat(fd.get(), &a) != 0 || ::lstat(path->c_str(), &b) != 0 || a.st_ino != b.st_ino ||
        a.st_dev != b.st_dev || a.st_nlink == 0) {
        st = open_status::not_found;
        err = std::string(id) + ": moved or removed while opening";
        return nullptr;
    }
    std::unique_ptr<queue_file> f(new queue_file());
    if (!read_queue_file(fd.get(), f->_info, err, opt)) {
        st = open_status::corrupt;
        err = std::string(id) + ": " + err;
        return nullptr;
    }
    f->_log_read = opt.log;
    f->_fd = std::move(fd);
    f->_id = std::string(id);
    f->_queue = std::string(queue);
    f->_path = std::move(*path);
    st = open_status::ok;
    return f;
}

namespace {
bool pwrite_all(int fd, std::string_view data, uint64_t off) {
    while (!data.empty()) {
        ssize_t n = ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(off));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data.remove_prefix(static_cast<size_t>(n));
        off += static_cast<uint64_t>(n);
    }
    return true;
}
}  // namespace

bool queue_file::sync(std::string& err) {
    if (::fdatasync(_fd.get()) != 0) {
        err = _id + ": fdatasync: " + errno_text();
        return false;
    }
    return true;
}

bool queue_file::set_status(size_t index, rcpt_status s, std::string& err, bool do_sync) {
    if (index >= _info.env.recipients.size()) {
        err = _id + ": no recipient #" + std::to_string(index);
        return false;
    }
    char b = static_cast<char>(s);
    if (!pwrite_all(_fd.get(), std::string_view(&b, 1), qf::header_size + index)) {
        err = _id + ": write status: " + errno_text();
        return false;
    }
    _info.env.recipients[index].status = s;
    return !do_sync || sync(err);
}

bool queue_file::add_result(const rcpt_result& r, std::string& err, bool do_sync) {
    if (r.index >= _info.env.recipients.size()) {
        err = _id + ": no recipient #" + std::to_string(r.index);
        return false;
    }
    if (!_log_read) {
        // opened envelope-only: learn where the log ends before appending to it
        queue_file_info full;
        if (!read_queue_file(_fd.get(), full, err)) {
            err = _id + ": " + err;
            return false;
        }
        for (size_t i = 0; i < full.env.recipients.size(); ++i) _info.env.recipients[i].last = full.env.recipients[i].last;
        _info.file_size = full.file_size;
        _info.log_end = full.log_end;
        _info.log_records = full.log_records;
        _info.log_truncated = full.log_truncated;
        _log_read = true;
    }
    // cut a torn tail first, or new records would hide behind it
    if (_info.file_size > _info.log_end) {
        if (::ftruncate(_fd.get(), static_cast<off_t>(_info.log_end)) != 0) {
            err = _id + ": truncate damaged log: " + errno_text();
            return false;
        }
        _info.file_size = _info.log_end;
    }
    std::string rec = qf::encode_result(r);
    if (_info.log_end - _info.log_offset + rec.size() > queue_limits::max_log) {
        err = _id + ": result log full";
        errno = EFBIG;
        return false;
    }
    if (!pwrite_all(_fd.get(), rec, _info.log_end)) {
        int e = errno;
        // leave no partial record behind (best effort: readers stop at a torn record anyway)
        [[maybe_unused]] int rc = ::ftruncate(_fd.get(), static_cast<off_t>(_info.log_end));
        err = _id + ": append result: " + errno_text(e);
        errno = e;
        return false;
    }
    _info.log_end += rec.size();
    _info.file_size = _info.log_end;
    ++_info.log_records;
    // keep our copy as the reader would see it (texts cleaned)
    rcpt_result stored = r;
    stored.status = qf::clean_text(r.status, 32);
    stored.reason = qf::clean_text(r.reason, queue_limits::max_reason);
    stored.remote_mta = qf::clean_text(r.remote_mta, queue_limits::max_text);
    stored.diagnostic = qf::clean_text(r.diagnostic, queue_limits::max_reason);
    _info.env.recipients[r.index].last = std::move(stored);
    return !do_sync || sync(err);
}

bool queue_file::set_schedule(const schedule& s, std::string& err, bool do_sync) {
    if (!pwrite_all(_fd.get(), qf::encode_schedule(s), qf::sched_offset)) {
        err = _id + ": write schedule: " + errno_text();
        return false;
    }
    _info.sched = s;
    _info.sched_damaged = false;
    return !do_sync || sync(err);
}

bool queue_file::reset_log(std::string& err, bool do_sync) {
    for (const auto& r : _info.env.recipients) {
        if (r.status == rcpt_status::failed || r.status == rcpt_status::success_notify) {
            err = _id + ": a DSN is still owed; the result log must stay";
            return false;
        }
    }
    if (::ftruncate(_fd.get(), static_cast<off_t>(_info.log_offset)) != 0) {
        err = _id + ": truncate: " + errno_text();
        return false;
    }
    _info.file_size = _info.log_end = _info.log_offset;
    _info.log_records = 0;
    _info.log_truncated = false;
    _log_read = true;
    for (auto& r : _info.env.recipients) r.last.reset();
    return !do_sync || sync(err);
}

bool queue_file::read_message(std::string& out, std::string& err, uint64_t max) const {
    return read_file_range(_fd.get(), _info.message_offset, std::min(_info.message_length, max), out, err);
}

void queue_file::moved_to(std::string_view queue, std::string path) {
    _queue = std::string(queue);
    _path = std::move(path);
}

}  // namespace tern
