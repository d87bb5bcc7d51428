// pop3_parse_test.cpp - POP3 command parsing and the wire encoder
// (CRLF conversion, dot-stuffing, TOP), fed at every byte boundary.
#include <catch2/catch.hpp>

#include "pop3d/parse.hpp"
#include "lib/strutil.hpp"

using namespace tern::pop3;

TEST_CASE("pop3 command lines") {
    std::string why;
    auto c = parse_command("retr 1", why);
    REQUIRE(c);
    CHECK(c->verb == "RETR");
    CHECK(c->args == std::vector<std::string>{"1"});
    c = parse_command("PASS secret with spaces", why);
    REQUIRE(c);
    CHECK(c->rest == "secret with spaces");
    c = parse_command("TOP 1  5", why);
    REQUIRE(c);
    CHECK(c->args == std::vector<std::string>{"1", "5"});
    struct bad {
        const char* line;
        const char* why;
    } rows[] = {{"", "empty"}, {"RE", "Unknown"}, {"RETRIEVE 1", "Unknown"}, {"R3TR", "Unknown"},
                {"RETR\x01", "control"}};
    for (auto& r : rows) {
        INFO(r.line);
        CHECK_FALSE(parse_command(r.line, why));
        CHECK(why.find(r.why) != std::string::npos);
    }
    CHECK(parse_msgno("3", 5) == 3u);
    CHECK_FALSE(parse_msgno("0", 5));
    CHECK_FALSE(parse_msgno("6", 5));
    CHECK_FALSE(parse_msgno("+1", 5));
    CHECK_FALSE(parse_msgno("99999999999", 5));
}

static std::string encode_split(const std::string& in, long top, size_t cut) {
    wire_encoder e(top);
    std::string out;
    if (e.feed(in.substr(0, cut), out)) e.feed(in.substr(cut), out);
    e.finish(out);
    return out;
}

TEST_CASE("wire encoding at every split point") {
    struct row {
        std::string in;
        long top;
        std::string out;
    } rows[] = {
        {"A: 1\n\nbody\n", -1, "A: 1\r\n\r\nbody\r\n.\r\n"},
        {"A: 1\n\n.dot\n..two\n", -1, "A: 1\r\n\r\n..dot\r\n...two\r\n.\r\n"},
        {"A: 1\r\n\r\nalready crlf\r\n", -1, "A: 1\r\n\r\nalready crlf\r\n.\r\n"},
        {"A: 1\n\nno newline", -1, "A: 1\r\n\r\nno newline\r\n.\r\n"},
        {"A: 1\nB: 2\n\nl1\nl2\nl3\n", 2, "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n.\r\n"},
        {"A: 1\n\nl1\n", 0, "A: 1\r\n\r\n.\r\n"},
        {"A: 1\n\nbare\rcr\n", -1, "A: 1\r\n\r\nbare\rcr\r\n.\r\n"},
        {"", -1, ".\r\n"},
        {".\n", -1, "..\r\n.\r\n"},
    };
    for (auto& r : rows) {
        for (size_t cut = 0; cut <= r.in.size(); ++cut) {
            INFO(r.in << " cut " << cut);
            CHECK(encode_split(r.in, r.top, cut) == r.out);
        }
    }
}

// The byte-at-a-time definition of the wire form (RFC 1939 3: CRLF line
// ends, byte-stuffed leading dots; TOP counts body lines after the first
// empty line), to check the line-at-a-time encoder against.
static std::string encode_reference(const std::string& in, long top) {
    std::string out;
    bool bol = true, prev_cr = false, in_body = false, done = false;
    size_t line_len = 0;
    for (char c : in) {
        if (bol) {
            if (in_body) {
                if (top == 0) {
                    done = true;
                    break;
                }
                if (top > 0) --top;
            }
            bol = false;
            line_len = 0;
            if (c == '.') out += '.';
        }
        if (c == '\n') {
            if (!prev_cr) out += '\r';
            out += '\n';
            if (!in_body && line_len == 0) in_body = true;
            bol = true;
            prev_cr = false;
            continue;
        }
        out += c;
        prev_cr = c == '\r';
        if (c != '\r') ++line_len;
    }
    (void)done;
    if (!bol) {
        if (!prev_cr) out += '\r';
        out += '\n';
    }
    return out + ".\r\n";
}

TEST_CASE("wire encoding matches the byte-at-a-time definition") {
    // every string of up to 7 bytes over {a . CR LF}, every TOP limit, every cut
    const char alphabet[] = {'a', '.', '\r', '\n'};
    for (size_t len = 0; len <= 7; ++len) {
        size_t combos = size_t(1) << (2 * len);
        for (size_t k = 0; k < combos; ++k) {
            std::string in;
            for (size_t j = 0; j < len; ++j) in += alphabet[(k >> (2 * j)) & 3];
            for (long top : {-1L, 0L, 1L, 2L}) {
                std::string want = encode_reference(in, top);
                for (size_t cut = 0; cut <= in.size(); ++cut) {
                    if (encode_split(in, top, cut) != want) {
                        FAIL_CHECK("input " << tern::printable(in, 64) << " top " << top << " cut " << cut);
                    }
                }
            }
        }
    }
}
