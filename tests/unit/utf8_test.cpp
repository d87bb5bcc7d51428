// utf8_test.cpp - lib/utf8: well-formedness (RFC 3629 table), sanitising,
// latin1/windows-1252 conversion and the UTF-8-or-cp1252 fallback.
#include <catch2/catch.hpp>

#include <string>

#include "lib/utf8.hpp"

using namespace tern;

TEST_CASE("UTF-8 well-formedness", "[utf8]") {
    struct row {
        std::string s;
        size_t len;  // utf8_sequence_length at 0
    } rows[] = {
        {"a", 1},
        {"\x7F", 1},
        {"\xC2\x80", 2},
        {"\xDF\xBF", 2},
        {"\xE0\xA0\x80", 3},
        {"\xED\x9F\xBF", 3},
        {"\xEE\x80\x80", 3},
        {"\xEF\xBF\xBF", 3},
        {"\xF0\x90\x80\x80", 4},
        {"\xF4\x8F\xBF\xBF", 4},
        {"\x80", 0},              // lone continuation
        {"\xC0\x80", 0},          // overlong NUL
        {"\xC1\xBF", 0},          // overlong
        {"\xE0\x9F\xBF", 0},      // overlong 3-byte
        {"\xED\xA0\x80", 0},      // surrogate
        {"\xF0\x8F\xBF\xBF", 0},  // overlong 4-byte
        {"\xF4\x90\x80\x80", 0},  // > U+10FFFF
        {"\xF5\x80\x80\x80", 0},
        {"\xFF", 0},
        {"\xC3", 0},              // truncated
        {"\xE2\x82", 0},
        {"\xC3(", 0},
        {"", 0},
    };
    for (const auto& r : rows) {
        INFO(r.s.size());
        CHECK(utf8_sequence_length(r.s, 0) == r.len);
        CHECK(utf8_valid(r.s) == (r.len == r.s.size()));
    }
    CHECK(utf8_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"));
    CHECK_FALSE(utf8_valid("caf\xE9"));
    CHECK(is_ascii("plain"));
    CHECK_FALSE(is_ascii("caf\xC3\xA9"));
    CHECK(utf8_sequence_length("ab", 5) == 0);
}

TEST_CASE("UTF-8 encoding and conversions", "[utf8]") {
    std::string s;
    for (uint32_t cp : {0x41u, 0xE9u, 0x20ACu, 0x1F600u, 0xD800u, 0x110000u}) utf8_append(s, cp);
    CHECK(s == "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xEF\xBF\xBD\xEF\xBF\xBD");
    CHECK(utf8_sanitize("a\xFF" "b\xC3") == "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
    CHECK(utf8_sanitize("caf\xC3\xA9") == "caf\xC3\xA9");
    CHECK(latin1_to_utf8("caf\xE9 \x80") == "caf\xC3\xA9 \xC2\x80");
    CHECK(cp1252_to_utf8("caf\xE9 \x80\x99\x81") == "caf\xC3\xA9 \xE2\x82\xAC\xE2\x84\xA2\xC2\x81");
    CHECK(cp1252_code_point(0x80) == 0x20AC);
    CHECK(cp1252_code_point(0x81) == 0x81);
    CHECK(cp1252_code_point('a') == 'a');
    CHECK(utf8_or_cp1252("caf\xC3\xA9 caf\xE9") == "caf\xC3\xA9 caf\xC3\xA9");
    // Every single byte, and every prefix of a mixed string, gives valid UTF-8.
    for (int b = 0; b < 256; ++b) {
        std::string one(1, static_cast<char>(b));
        CHECK(utf8_valid(utf8_or_cp1252(one)));
        CHECK(utf8_valid(utf8_sanitize(one)));
        CHECK(utf8_valid(latin1_to_utf8(one)));
    }
    const std::string mixed = "\xF0\x9F\x98\x80x\xE2\x82\xAC\xE9\xC3\xA9";
    for (size_t cut = 0; cut <= mixed.size(); ++cut) {
        CHECK(utf8_valid(utf8_or_cp1252(mixed.substr(0, cut))));
        CHECK(utf8_valid(utf8_sanitize(mixed.substr(0, cut))));
    }
}

TEST_CASE("modified UTF-7 mailbox names", "[utf8]") {
    struct row {
        const char* in;
        bool ok;
    };
    const row rows[] = {
        {"INBOX", true},
        {"Sent Items", true},
        {"R&-D", true},                         // "R&D"
        {"Entw&APw-rfe", true},                 // "Entwürfe"
        {"&ZeVnLIqe-", true},                   // 日本語
        {"&2D3eAA-", true},                     // U+1F600 as a surrogate pair
        {"bad&mutf7", false},                   // no closing '-'
        {"&-&", false},                         // trailing '&'
        {"&AGE-", false},                       // "a" encoded
        {"&2D0-", false},                       // lone high surrogate
        {"&3gA-", false},                       // lone low surrogate
        {"&APw/-", false},                      // '/' is not modified base64
        {"&APx-", false},                       // leftover bits not zero
        {"&-", true},
        {"&&-", false},
        {"caf\xC3\xA9", false},                 // raw UTF-8
        {"tab\there", false},
    };
    for (const auto& r : rows) {
        std::string why;
        INFO(r.in);
        CHECK(modified_utf7_valid(r.in, &why) == r.ok);
        if (!r.ok) CHECK(!why.empty());
    }
}
