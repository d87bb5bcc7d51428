// imap_format_test.cpp - IMAP strings (quoted or literal), flag lists,
// INTERNALDATE, SEARCH dates, APPEND date-times, RFC 5322 Date: fields,
// and the LF/CRLF conversions between the store and the wire.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>

#include "imapd/format.hpp"

using namespace tern::imap;

TEST_CASE("imap strings", "[imap]") {
    CHECK(imap_string("abc") == "\"abc\"");
    CHECK(imap_string("") == "\"\"");
    CHECK(imap_string("a\"b\\c") == "\"a\\\"b\\\\c\"");
    CHECK(imap_string("two\r\nlines") == "{10}\r\ntwo\r\nlines");
    CHECK(imap_string("caf\xc3\xa9") == "{5}\r\ncaf\xc3\xa9");
    CHECK(imap_string(std::string(2000, 'x')).substr(0, 7) == "{2000}\r");
    std::string out;
    append_nstring(out, std::nullopt);
    CHECK(out == "NIL");
    CHECK(mailbox_name("Sent Items") == "\"Sent Items\"");
}

TEST_CASE("imap flag lists", "[imap]") {
    std::vector<std::string> kw{"$Label1", "Junk"};
    CHECK(flag_list(0, 0, kw, false) == "()");
    CHECK(flag_list(1 | 4, 2, kw, true) == "(\\Seen \\Flagged Junk \\Recent)");
    CHECK(flag_list(32, 0, kw, false) == "()");  // maildir 'P' is not an IMAP flag
}

TEST_CASE("imap dates", "[imap]") {
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK(format_internal_date(0) == "01-Jan-1970 00:00:00 +0000");
    CHECK(format_internal_date(1700000000) == "14-Nov-2023 22:13:20 +0000");
    CHECK(parse_search_date("1-Feb-1994") == days_from_civil(1994, 2, 1));
    CHECK(parse_search_date("01-feb-1994") == days_from_civil(1994, 2, 1));
    CHECK(parse_search_date("29-Feb-2024") == days_from_civil(2024, 2, 29));
    for (const char* bad : {"29-Feb-2023", "1-Foo-1994", "1-1-1994", "32-Jan-2000", "1-Jan-94", "", "1-Jan-", "x-Jan-2000"}) {
        INFO(bad);
        CHECK_FALSE(parse_search_date(bad));
    }
    CHECK(parse_date_time("17-Jul-1996 02:44:25 -0700") == int64_t(837596665));
    CHECK(parse_date_time(" 7-Jul-1996 02:44:25 +0000") == days_from_civil(1996, 7, 7) * 86400 + 2 * 3600 + 44 * 60 + 25);
    for (const char* bad : {"17-Jul-1996 02:44:25", "17-Jul-1996 25:44:25 -0700", "17-Jul-1996 02:44:25 -0760", "garbage"}) {
        INFO(bad);
        CHECK_FALSE(parse_date_time(bad));
    }
    int64_t day = 0;
    CHECK(parse_rfc5322_date("Tue, 1 Jul 2003 10:52:37 +0200", &day) == int64_t(1057049557));
    CHECK(day == days_from_civil(2003, 7, 1));
    CHECK(parse_rfc5322_date("1 Jul 2003 10:52 GMT") == int64_t(1057056720));
    CHECK(parse_rfc5322_date("Thu, 13 Feb 69 23:32:54 -0330 (Newfoundland Time)") ==
          days_from_civil(1969, 2, 13) * 86400 + 23 * 3600 + 32 * 60 + 54 + 3 * 3600 + 1800);
    CHECK(parse_rfc5322_date("Mon, 2 Jan 2006 15:04:05 PST") == int64_t(1136243045));
    CHECK_FALSE(parse_rfc5322_date("yesterday"));
    CHECK_FALSE(parse_rfc5322_date("Mon, 31 Feb 2006 15:04:05 +0000"));
    CHECK(local_day(86400 * 3 + 5) == 3);
}

TEST_CASE("imap line ends", "[imap]") {
    CHECK(to_crlf("a\nb\r\nc\n") == "a\r\nb\r\nc\r\n");
    CHECK(to_crlf("\n\n") == "\r\n\r\n");
    CHECK(to_crlf("no end") == "no end");
    CHECK(crlf_to_lf("a\r\nb\r\n") == "a\nb\n");
    CHECK(crlf_to_lf("bare\rcr\r\n") == "bare\rcr\n");
    CHECK(to_crlf(crlf_to_lf("x\r\ny\r\n")) == "x\r\ny\r\n");
    CHECK(to_crlf("") == "");
    CHECK(to_crlf("\r\n\n\r") == "\r\n\r\n\r");
    CHECK(crlf_to_lf("\r\r\n\r") == "\r\n\r");
    CHECK(crlf_to_lf("") == "");
    // against the byte-at-a-time definition, on every string over {a, \r, \n} up to 6 bytes
    const char alpha[] = {'a', '\r', '\n'};
    for (int len = 0; len <= 6; ++len) {
        int total = 1;
        for (int k = 0; k < len; ++k) total *= 3;
        for (int code = 0; code < total; ++code) {
            std::string in;
            for (int k = 0, c = code; k < len; ++k, c /= 3) in += alpha[c % 3];
            std::string want_crlf, want_lf;
            for (size_t i = 0; i < in.size(); ++i) {
                if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) want_crlf += '\r';
                want_crlf += in[i];
                if (!(in[i] == '\r' && i + 1 < in.size() && in[i + 1] == '\n')) want_lf += in[i];
            }
            CHECK(to_crlf(in) == want_crlf);
            CHECK(crlf_to_lf(in) == want_lf);
        }
    }
}
