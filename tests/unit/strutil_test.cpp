// strutil_test.cpp - string helpers, xtext and base64.
#include <catch2/catch.hpp>

#include "lib/strutil.hpp"

using namespace tern;

TEST_CASE("split and trim") {
    CHECK(trim("  a b \t") == "a b");
    CHECK(split_list("a, b,,c\td ") == std::vector<std::string>{"a", "b", "c", "d"});
    CHECK(split_char("a::b", ':') == std::vector<std::string>{"a", "", "b"});
    CHECK(iequals("MAIL", "mail"));
    CHECK_FALSE(iequals("MAIL", "mai"));
    CHECK(istarts_with("RCPT TO:<a>", "rcpt to:"));
    CHECK(parse_u64("123") == 123u);
    CHECK_FALSE(parse_u64("12a"));
    CHECK_FALSE(parse_u64(""));
    CHECK(parse_i64("-5") == -5);
    CHECK(printable("a\x01" "b") == "a?b");
}

TEST_CASE("xtext") {
    CHECK(xtext_encode("a+b=c d") == "a+2Bb+3Dc+20d");
    CHECK(xtext_decode("a+2Bb+3Dc+20d") == "a+b=c d");
    CHECK_FALSE(xtext_decode("a+2"));
    CHECK_FALSE(xtext_decode("a+zz"));
    CHECK_FALSE(xtext_decode("a=b"));
}

TEST_CASE("base64") {
    struct row {
        const char* plain;
        const char* enc;
    } rows[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
                {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (auto r : rows) {
        CHECK(base64_encode(r.plain) == r.enc);
        CHECK(base64_decode(r.enc) == std::string(r.plain));
    }
    CHECK(base64_decode("Zm9v\r\nYmFy") == std::string("foobar"));
    CHECK_FALSE(base64_decode("Zm9v!"));
    CHECK_FALSE(base64_decode("Zg==Zg"));
    std::string bin;
    for (int i = 0; i < 256; ++i) bin += static_cast<char>(i);
    CHECK(base64_decode(base64_encode(bin)) == bin);
}
