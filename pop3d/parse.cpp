// parse.cpp - see parse.hpp.
#include "pop3d/parse.hpp"

#include <cctype>
#include <cstring>

#include "lib/strutil.hpp"

namespace tern::pop3 {

std::optional<command> parse_command(std::string_view line, std::string& why) {
    for (unsigned char c : line)
        if (c < 0x20 && c != '\t') {
            why = "control characters in command";
            return std::nullopt;
        }
    if (line.empty()) {
        why = "empty command";
        return std::nullopt;
    }
    size_t sp = line.find(' ');
    std::string_view verb = line.substr(0, sp);
    if (verb.size() < 3 || verb.size() > 4) {
        why = "Unknown command";
        return std::nullopt;
    }
    for (char c : verb)
        if (!std::isalpha(static_cast<unsigned char>(c))) {
            why = "Unknown command";
            return std::nullopt;
        }
    command cmd;
    cmd.verb = to_upper(verb);
    if (sp != std::string_view::npos) {
        cmd.rest = std::string(line.substr(sp + 1));
        for (auto& a : split_char(cmd.rest, ' '))
            if (!a.empty()) cmd.args.push_back(a);
    }
    return cmd;
}

std::optional<size_t> parse_msgno(std::string_view arg, size_t max) {
    if (arg.empty() || arg.size() > 10) return std::nullopt;
    for (char c : arg)
        if (c < '0' || c > '9') return std::nullopt;
    auto n = parse_u64(arg);
    if (!n || *n == 0 || *n > max) return std::nullopt;
    return static_cast<size_t>(*n);
}

bool wire_encoder::feed(std::string_view data, std::string& out) {
    if (_done) return false;
    out.reserve(out.size() + data.size() + data.size() / 32 + 8);
    // Whole line pieces at a time (memchr for the LF): this runs over every
    // byte a client retrieves, so it must not cost a branch per byte.
    size_t i = 0;
    while (i < data.size()) {
        if (_bol) {
            // a new line begins: count TOP's body lines, stuff a leading dot
            if (_in_body) {
                if (_lines_left == 0) {
                    _done = true;
                    return false;
                }
                if (_lines_left > 0) --_lines_left;
            }
            _bol = false;
            _line_len = 0;
            if (data[i] == '.') out += '.';
        }
        const void* lf = std::memchr(data.data() + i, '\n', data.size() - i);
        size_t end = lf ? static_cast<size_t>(static_cast<const char*>(lf) - data.data()) : data.size();
        std::string_view piece = data.substr(i, end - i);
        if (!piece.empty()) {
            out.append(piece);
            _prev_cr = piece.back() == '\r';
            // only "is the line empty (CRs aside)" matters
            if (_line_len == 0 && piece.find_first_not_of('\r') != std::string_view::npos) _line_len = 1;
        }
        if (!lf) break;
        if (!_prev_cr) out += '\r';
        out += '\n';
        if (!_in_body && _line_len == 0) _in_body = true;  // the empty line ends the header
        _bol = true;
        _prev_cr = false;
        i = end + 1;
    }
    return true;
}

void wire_encoder::finish(std::string& out) {
    // TOP stops at a line start, so only an unterminated last line needs CRLF
    if (!_bol) {
        if (!_prev_cr) out += '\r';
        out += '\n';
    }
    out += ".\r\n";
}

}  // namespace tern::pop3
