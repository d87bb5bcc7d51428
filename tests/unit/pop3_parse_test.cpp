// pop3_parse_test.cpp - POP3 command parsing and the wire encoder
// (CRLF conversion, dot-stuffing, TOP), fed at every byte boundary.
#include <catch2/catch.hpp>

#include "pop3d/parse.hpp"

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
