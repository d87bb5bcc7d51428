// smtp_proto.cpp - see smtp_proto.hpp.
// SECURITY: untrusted input throughout; every loop advances by at least one
// byte and looks only inside the piece it was given.
#include "lib/smtp_proto.hpp"

#include <cstring>

namespace tern::smtp {

const char* line_error_text(line_error e) {
    switch (e) {
    case line_error::none: return "ok";
    case line_error::bare_cr: return "bare <CR> received";
    case line_error::bare_lf: return "bare <LF> received";
    case line_error::nul: return "NUL character received";
    case line_error::empty: return "empty command";
    }
    return "?";
}

size_t find_line_end(std::string_view buf) {
    const void* p = std::memchr(buf.data(), '\n', buf.size());
    if (!p) return std::string_view::npos;
    return static_cast<size_t>(static_cast<const char*>(p) - buf.data()) + 1;
}

command parse_command(std::string_view line) {
    command c;
    if (!line.empty() && line.back() == '\n') {
        line.remove_suffix(1);
        if (!line.empty() && line.back() == '\r')
            line.remove_suffix(1);
        else
            c.error = line_error::bare_lf;
    }
    if (c.error == line_error::none) {
        if (std::memchr(line.data(), '\r', line.size()) || std::memchr(line.data(), '\n', line.size()))
            c.error = line_error::bare_cr;
        else if (std::memchr(line.data(), '\0', line.size()))
            c.error = line_error::nul;
    }
    // RFC 5321 4.1.1: verb, then SP; tolerate extra blanks around it
    size_t i = 0;
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t v = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    c.verb.reserve(i - v);
    for (size_t k = v; k < i; ++k) {
        char ch = line[k];
        c.verb += (ch >= 'a' && ch <= 'z') ? static_cast<char>(ch - 32) : ch;
    }
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t end = line.size();
    while (end > i && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
    c.arg = line.substr(i, end - i);
    if (c.verb.empty() && c.error == line_error::none) c.error = line_error::empty;
    return c;
}

void data_decoder::reset() {
    _st = st_bol;
    _bytes = _lines = 0;
}

void data_decoder::emit(std::string* out, const char* p, size_t n) {
    _bytes += n;
    if (out) out->append(p, n);
}

void data_decoder::emit_lf(std::string* out) {
    ++_bytes;
    ++_lines;
    if (out) out->push_back('\n');
}

data_decoder::result data_decoder::feed(std::string_view in, std::string* out) {
    const char* p = in.data();
    const char* const end = p + in.size();
    auto done = [&](status s) { return result{s, static_cast<size_t>(p - in.data())}; };
    while (p < end) {
        switch (_st) {
        case st_done:
            return done(status::done);
        case st_bol:
        case st_bol_lf:
            if (*p == '.') {
                ++p;
                // a dot after a bare LF is unstuffed but never ends the data
                _st = _st == st_bol ? st_dot : st_mid;
                continue;
            }
            _st = st_mid;
            continue;
        case st_dot:
            if (*p == '\r') {
                ++p;
                _st = st_dot_cr;
                continue;
            }
            if (*p == '\n') {
                if (_forbid) return done(status::bare_lf);
                ++p;
                emit_lf(out);
                _st = st_bol_lf;
                continue;
            }
            _st = st_mid;
            continue;
        case st_dot_cr:
            if (*p == '\n') {
                ++p;
                _st = st_done;
                return done(status::done);
            }
            if (_forbid) return done(status::bare_cr);
            // ".\r" then something else: the CR is data, the line goes on
            emit(out, "\r", 1);
            _st = st_mid;
            continue;
        case st_cr:
            if (*p == '\n') {
                ++p;
                emit_lf(out);
                _st = st_bol;
                continue;
            }
            if (_forbid) return done(status::bare_cr);
            emit(out, "\r", 1);
            _st = st_mid;
            continue;
        case st_mid: {
            // fast path: one memchr for the line end, one for a CR before it
            size_t left = static_cast<size_t>(end - p);
            const char* lf = static_cast<const char*>(std::memchr(p, '\n', left));
            const char* seg_end = lf ? lf : end;
            size_t seg = static_cast<size_t>(seg_end - p);
            const char* cr = static_cast<const char*>(std::memchr(p, '\r', seg));
            if (cr && cr + 1 < seg_end) {
                // a CR inside the line that is not its end
                if (_forbid) {
                    emit(out, p, static_cast<size_t>(cr - p));
                    p = cr;
                    return done(status::bare_cr);
                }
                emit(out, p, static_cast<size_t>(cr - p) + 1);
                p = cr + 1;
                continue;
            }
            if (!lf) {
                if (cr) {  // the piece ends in CR: wait for the next byte
                    emit(out, p, seg - 1);
                    p = end;
                    _st = st_cr;
                } else {
                    emit(out, p, seg);
                    p = end;
                }
                continue;
            }
            if (cr) {  // CRLF
                emit(out, p, seg - 1);
                p = lf + 1;
                emit_lf(out);
                _st = st_bol;
                continue;
            }
            if (_forbid) {
                emit(out, p, seg);
                p = lf;
                return done(status::bare_lf);
            }
            emit(out, p, seg);
            p = lf + 1;
            emit_lf(out);
            _st = st_bol_lf;
            continue;
        }
        }
    }
    return done(_st == st_done ? status::done : status::need_more);
}

void crlf_converter::feed(std::string_view in, std::string* out) {
    const char* p = in.data();
    const char* const end = p + in.size();
    if (p < end && _cr) {
        _cr = false;
        if (*p == '\n') {
            ++p;
            ++_bytes;
            ++_lines;
            if (out) out->push_back('\n');
        } else {
            ++_bytes;
            if (out) out->push_back('\r');
        }
    }
    while (p < end) {
        size_t left = static_cast<size_t>(end - p);
        const char* cr = static_cast<const char*>(std::memchr(p, '\r', left));
        const char* seg_end = cr ? cr : end;
        size_t seg = static_cast<size_t>(seg_end - p);
        // count LFs in the plain segment
        for (const char* q = p; (q = static_cast<const char*>(std::memchr(q, '\n', static_cast<size_t>(seg_end - q))));
             ++q)
            ++_lines;
        _bytes += seg;
        if (out) out->append(p, seg);
        if (!cr) break;
        p = cr + 1;
        if (p == end) {
            _cr = true;
            break;
        }
        if (*p == '\n') {
            ++p;
            ++_lines;
            ++_bytes;
            if (out) out->push_back('\n');
        } else {
            ++_bytes;
            if (out) out->push_back('\r');
        }
    }
}

void crlf_converter::finish(std::string* out) {
    if (_cr) {
        _cr = false;
        ++_bytes;
        if (out) out->push_back('\r');
    }
}

std::string format_reply(int code, std::string_view dsn, std::string_view text) {
    std::string out;
    char num[4] = {static_cast<char>('0' + code / 100 % 10), static_cast<char>('0' + code / 10 % 10),
                   static_cast<char>('0' + code % 10), 0};
    out.reserve(text.size() + 16);
    size_t pos = 0;
    for (;;) {
        size_t nl = text.find('\n', pos);
        std::string_view line = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        out.append(num, 3);
        out.push_back(nl == std::string_view::npos ? ' ' : '-');
        if (!dsn.empty()) {
            out.append(dsn);
            if (!line.empty()) out.push_back(' ');
        }
        // a reply line never carries control characters
        for (char ch : line) out.push_back((static_cast<unsigned char>(ch) < 32 && ch != '\t') ? '?' : ch);
        out.append("\r\n");
        if (nl == std::string_view::npos) break;
        pos = nl + 1;
    }
    return out;
}

int reply_code(std::string_view reply) {
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == '\r')) reply.remove_suffix(1);
    size_t last = reply.rfind('\n');
    std::string_view line = last == std::string_view::npos ? reply : reply.substr(last + 1);
    if (line.size() < 3) return 0;
    int code = 0;
    for (int i = 0; i < 3; ++i) {
        if (line[i] < '0' || line[i] > '9') return 0;
        code = code * 10 + (line[i] - '0');
    }
    if (line.size() > 3 && line[3] != ' ' && line[3] != '-') return 0;
    return code;
}

}  // namespace tern::smtp
