// imap_seqset_test.cpp - IMAP sequence sets: parsing, "*", reversed ranges,
// merging, membership and the compact form written back.
#include <catch2/catch.hpp>

#include "imapd/seqset.hpp"

using namespace tern::imap;

TEST_CASE("imap sequence sets parse and resolve", "[imap]") {
    struct row {
        const char* text;
        uint32_t star;
        std::vector<seq_range> want;
    } rows[] = {
        {"1", 10, {{1, 1}}},
        {"1:3,5", 10, {{1, 3}, {5, 5}}},
        {"3:1", 10, {{1, 3}}},
        {"*", 10, {{10, 10}}},
        {"5:*", 10, {{5, 10}}},
        {"*:5", 10, {{5, 10}}},
        {"12:*", 10, {{10, 12}}},  // RFC 3501: n:* always includes the last message
        {"1:2,2:4,6,7", 10, {{1, 4}, {6, 7}}},
        {"9,1,5:6", 10, {{1, 1}, {5, 6}, {9, 9}}},
        {"1:*", 0, {{1, 1}}},  // "*" of an empty mailbox
        {"*", 0, {}},
        {"4294967295", 10, {{4294967295u, 4294967295u}}},
    };
    for (auto& r : rows) {
        INFO(r.text);
        auto s = seq_set::parse(r.text);
        REQUIRE(s);
        CHECK(s->resolved(r.star).ranges() == r.want);
    }
    CHECK(seq_set::parse("1:*")->has_star());
    CHECK_FALSE(seq_set::parse("1:2")->has_star());
}

TEST_CASE("imap sequence sets reject bad syntax", "[imap]") {
    for (const char* bad : {"", "0", "1:0", "01", "1,", ",1", "1::2", "1:2:3", "-1", "a", "1 2", "4294967296", "1,,2", "**"}) {
        INFO(bad);
        CHECK_FALSE(seq_set::parse(bad));
    }
    std::string many;
    for (int i = 1; i <= 20; i++) many += std::to_string(i * 2) + ",";
    many += "1";
    CHECK(seq_set::parse(many, 100));
    CHECK_FALSE(seq_set::parse(many, 10));
}

TEST_CASE("imap sequence set membership and formatting", "[imap]") {
    auto s = seq_set::parse("1:3,7,10:20")->resolved(100);
    for (uint32_t v : {1u, 2u, 3u, 7u, 10u, 15u, 20u}) CHECK(s.contains(v));
    for (uint32_t v : {0u, 4u, 6u, 8u, 9u, 21u, 100u}) CHECK_FALSE(s.contains(v));
    CHECK(s.count() == 3 + 1 + 11);
    CHECK(s.max() == 20);
    CHECK(format_set(std::vector<uint32_t>{1, 2, 3, 5, 7, 8}) == "1:3,5,7:8");
    CHECK(format_set(std::vector<uint32_t>{}) == "");
    CHECK(format_set(std::vector<uint32_t>{4}) == "4");
    CHECK(format_set(s.ranges()) == "1:3,7,10:20");
}
