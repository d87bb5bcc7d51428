// parse.hpp - POP3 command line parsing (RFC 1939, 2449): a keyword of 3-4
// letters, then arguments separated by single spaces. Pure, no I/O, so it
// can be fuzzed and unit-tested. Used by pop3d's session.
// SECURITY: input is an untrusted client line, already bounded in length.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tern::pop3 {

struct command {
    std::string verb;               // upper case
    std::vector<std::string> args;  // as sent
    std::string rest;               // everything after the verb (PASS may contain spaces)
};

// nullopt with a reason for an empty line, a bad keyword or control bytes.
std::optional<command> parse_command(std::string_view line, std::string& why);

// A message number argument: 1..max, decimal, no sign or leading junk.
std::optional<size_t> parse_msgno(std::string_view arg, size_t max);

// Dot-stuffing and CRLF conversion of stored (LF) message bytes for the
// wire, fed in pieces. `at_line_start` and `prev_cr` carry state between
// pieces; lines_left limits body lines for TOP (-1: unlimited).
class wire_encoder {
public:
    explicit wire_encoder(long body_lines = -1) : _lines_left(body_lines) {}
    // Append the wire form of data to out. Returns false once TOP's limit is
    // reached (the rest is not needed).
    bool feed(std::string_view data, std::string& out);
    // Terminate: CRLF if the data did not end with a line end, then ".\r\n".
    void finish(std::string& out);

private:
    bool _bol = true;       // at the beginning of a line
    bool _prev_cr = false;  // the last byte was CR
    bool _in_body = false;  // past the empty line after the header
    size_t _line_len = 0;
    long _lines_left;
    bool _done = false;
};

}  // namespace tern::pop3
