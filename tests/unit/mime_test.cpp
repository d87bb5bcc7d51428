// mime_test.cpp - lib/mime header sections, RFC 2047 words, RFC 2231
// parameters, Content-* fields, transfer codecs, charsets and the HTML
// reducer; every parser also fed its input cut at every byte. The MIME tree
// is in mime_tree_test.cpp.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "lib/mime.hpp"
#include "lib/utf8.hpp"

using namespace tern;

namespace {

std::string crlf(std::string_view lf) {
    std::string out;
    for (char c : lf) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Header sections

TEST_CASE("header section: fields, folding, offsets (LF and CRLF)", "[mime]") {
    const std::string lf =
        "Received: from a.example\n"
        "\tby b.example; Mon, 1 Jan 2024 00:00:00 +0000\n"
        "From: John <j@x.example>\n"
        "Subject : obsolete space before colon\n"
        "subject: second\n"
        "X-Empty:\n"
        "X-8bit: caf\xC3\xA9 \xE9t\xE9\n"
        "\n"
        "body line\n";
    for (const std::string& msg : {lf, crlf(lf)}) {
        const bool is_crlf = msg.size() != lf.size();
        INFO("crlf: " << is_crlf);
        auto h = parse_header(msg);
        REQUIRE(h.fields.size() == 6);
        CHECK(h.has_separator);
        CHECK_FALSE(h.truncated);
        CHECK(h.lines == 8);
        CHECK(msg.substr(h.body_offset()) == (is_crlf ? "body line\r\n" : "body line\n"));
        CHECK(h.offset == 0);

        const header_field& rcv = h.fields[0];
        CHECK(rcv.name == "Received");
        CHECK(rcv.value() == "from a.example\tby b.example; Mon, 1 Jan 2024 00:00:00 +0000");
        CHECK(rcv.raw.find('\n') != std::string_view::npos);  // raw keeps the folding
        CHECK(msg.substr(rcv.offset, rcv.raw.size()) == rcv.raw);
        CHECK(rcv.size == rcv.raw.size() + (is_crlf ? 2 : 1));
        // Fields tile the header exactly.
        size_t pos = 0;
        for (const auto& f : h.fields) {
            CHECK(f.offset == pos);
            pos += f.size;
        }
        CHECK(pos + (is_crlf ? 2 : 1) == h.size);

        CHECK(h.first("SUBJECT")->value() == "obsolete space before colon");
        CHECK(h.first("subject")->name == "Subject");
        CHECK(h.all("Subject").size() == 2);
        CHECK(h.all("subject")[1]->value() == "second");
        CHECK(h.count("SuBjEcT") == 2);
        CHECK(h.get("x-empty") == std::string());
        CHECK_FALSE(h.get("X-Missing"));
        CHECK(h.get("X-8bit") == "caf\xC3\xA9 \xE9t\xE9");
        CHECK(h.first("From")->raw_value() == " John <j@x.example>");
    }
}

TEST_CASE("header section: malformed, unterminated, limits", "[mime]") {
    // A line without a colon is kept as a malformed field; lookups skip it.
    auto h = parse_header("From: a@x\nnot a header\n continued\nTo: b@x\n\nbody");
    REQUIRE(h.fields.size() == 3);
    CHECK(h.fields[1].malformed);
    CHECK(h.fields[1].name.empty());
    CHECK(h.fields[1].raw == "not a header\n continued");
    CHECK(h.first("To")->value() == "b@x");
    CHECK(h.body_offset() == std::string_view("From: a@x\nnot a header\n continued\nTo: b@x\n\n").size());

    // A continuation before any field, names with spaces, an empty name.
    auto odd = parse_header(" leading\nBad Name: x\n: empty\nOk:1\n\n");
    REQUIRE(odd.fields.size() == 4);
    CHECK(odd.fields[0].malformed);
    CHECK(odd.fields[1].malformed);
    CHECK(odd.fields[2].malformed);
    CHECK(odd.fields[3].name == "Ok");

    // No empty line: the header runs to the end; a white-space line is a continuation.
    auto open = parse_header("A: 1\nB: 2");
    CHECK_FALSE(open.has_separator);
    CHECK(open.size == 9);
    CHECK(open.fields.size() == 2);
    auto ws = parse_header("A: 1\n \nbody: x\n\n");
    CHECK(ws.fields.size() == 2);
    CHECK(ws.fields[0].value() == "1");

    CHECK(parse_header("").fields.empty());
    CHECK(parse_header("\r\nbody").size == 2);
    CHECK(parse_header("\nbody").size == 1);
    CHECK(parse_header("\r\nbody").has_separator);

    // Limits stop the recording, not the search for the end of the header.
    std::string big;
    for (int i = 0; i < 50; ++i) big += "X-" + std::to_string(i) + ": value\n";
    big += "\nbody";
    header_limits lim;
    lim.max_fields = 10;
    auto t = parse_header(big, lim);
    CHECK(t.truncated);
    CHECK(t.fields.size() == 10);
    CHECK(big.substr(t.body_offset()) == "body");
    lim = {};
    lim.max_size = 100;
    t = parse_header(big, lim);
    CHECK(t.truncated);
    CHECK(t.fields.size() < 10);
    CHECK(t.fields.back().offset + t.fields.back().size <= 100);
    CHECK(big.substr(t.body_offset()) == "body");

    // A region of a larger buffer.
    std::string buf = "junk\nA: 1\n\nrest";
    auto r = parse_header(buf, 5, buf.size());
    CHECK(r.offset == 5);
    REQUIRE(r.fields.size() == 1);
    CHECK(r.fields[0].offset == 5);
    CHECK(buf.substr(r.body_offset()) == "rest");
    CHECK(parse_header(buf, 100, 200).fields.empty());
}

TEST_CASE("header section cut at every byte boundary", "[mime]") {
    const std::string lf = "From: a@x\nSubject: one\n two\nX: \xFF\xFE\n\nbody\n";
    for (const std::string& msg : {lf, crlf(lf)}) {
        auto full = parse_header(msg);
        for (size_t cut = 0; cut <= msg.size(); ++cut) {
            std::string_view part = std::string_view(msg).substr(0, cut);
            auto h = parse_header(part);
            CHECK(h.body_offset() <= cut);
            for (const auto& f : h.fields) {
                CHECK(f.offset + f.size <= cut);
                CHECK(part.substr(f.offset, f.raw.size()) == f.raw);
                CHECK(f.value_offset <= f.raw.size());
            }
            if (cut >= full.body_offset()) {
                CHECK(h.body_offset() == full.body_offset());
                CHECK(h.fields.size() == full.fields.size());
            } else {
                CHECK(h.size == cut);
                if (h.has_separator) CHECK(part.back() == '\r');  // a CR at the end reads as an empty line
            }
        }
    }
}

// ---------------------------------------------------------------------------
// RFC 2047

TEST_CASE("RFC 2047 encoded words: RFC examples and lenient cases", "[mime]") {
    struct row {
        const char* in;
        const char* out;
    } rows[] = {
        // RFC 2047 section 8
        {"(=?ISO-8859-1?Q?a?=)", "(a)"},
        {"(=?ISO-8859-1?Q?a?= b)", "(a b)"},
        {"(=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=)", "(ab)"},
        {"(=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=)", "(ab)"},
        {"(=?ISO-8859-1?Q?a?=\r\n    =?ISO-8859-1?Q?b?=)", "(ab)"},
        {"(=?ISO-8859-1?Q?a_b?=)", "(a b)"},
        {"(=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=)", "(a b)"},
        {"=?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>", "Keith Moore <moore@cs.utk.edu>"},
        {"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=", "Keld J\xC3\xB8rn Simonsen"},
        {"=?ISO-8859-1?Q?Andr=E9?= Pirard", "Andr\xC3\xA9 Pirard"},
        {"=?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=",
         "If you can read this you understand the example."},
        {"Nathaniel Borenstein (=?iso-8859-8?b?7eXs+SDv4SDp7Oj08A==?=)",
         "Nathaniel Borenstein (\xD7\x9D\xD7\x95\xD7\x9C\xD7\xA9 \xD7\x9F\xD7\x91 \xD7\x99\xD7\x9C\xD7\x98\xD7\xA4\xD7\xA0)"},
        // RFC 2231 section 5: language in an encoded word
        {"=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore"},
        // Case, padding, charsets
        {"=?utf-8?b?w6k=?=", "\xC3\xA9"},
        {"=?UTF-8?B?w6k?=", "\xC3\xA9"},
        {"=?utf-8?q?caf=c3=a9?=", "caf\xC3\xA9"},
        {"=?ISO-2022-JP?B?GyRCJEYkOSRIGyhC?=", "\xE3\x81\xA6\xE3\x81\x99\xE3\x81\xA8"},
        {"=?windows-1252?Q?=80_5?=", "\xE2\x82\xAC 5"},
        {"=?x-unknown-cs?Q?caf=E9?=", "caf\xC3\xA9"},
        // A character split over two words in one charset is joined first.
        {"=?utf-8?B?ww==?= =?utf-8?B?qQ==?=", "\xC3\xA9"},
        {"=?utf-8?Q?=C3?= =?UTF-8?Q?=A9?=", "\xC3\xA9"},
        // Text between words is kept when it is not only white space.
        {"=?utf-8?Q?a?= x =?utf-8?Q?b?=", "a x b"},
        {"x =?utf-8?Q?a?=", "x a"},
        {"=?utf-8?Q?a?=x", "ax"},
        {"foo=?utf-8?Q?a?=bar", "fooabar"},
        // Malformed words stay as they are.
        {"=?utf-8?X?abc?=", "=?utf-8?X?abc?="},
        {"=?utf-8?B?####?=", "=?utf-8?B?####?="},
        {"=?utf-8?Q?a b?=", "=?utf-8?Q?a b?="},
        {"=??Q?a?=", "=??Q?a?="},
        {"=?utf-8?Q?a", "=?utf-8?Q?a"},
        {"=?utf-8?Q?a?", "=?utf-8?Q?a?"},
        {"=?utf-8?", "=?utf-8?"},
        {"=?", "=?"},
        {"=?utf-8?Q?a=?=", "=?utf-8?Q?a=?="},
        {"=?=?utf-8?Q?a?=", "=?a"},
        // Raw 8-bit text
        {"caf\xC3\xA9", "caf\xC3\xA9"},
        {"caf\xE9", "caf\xC3\xA9"},
        {"", ""},
        {"plain text", "plain text"},
    };
    for (const auto& r : rows) {
        INFO(r.in);
        CHECK(decode_rfc2047(r.in) == r.out);
    }
    CHECK(decode_header_text(" =?utf-8?Q?a?=\r\n =?utf-8?Q?b?= \r\n") == "ab");
}

TEST_CASE("RFC 2047 cut at every byte boundary", "[mime]") {
    const std::string s =
        "Re: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?= =?ISO-2022-JP?B?GyRCJEYkOSRIGyhC?= "
        "=?utf-8?q?caf=C3=A9?= \xE9t\xE9";
    for (size_t cut = 0; cut <= s.size(); ++cut) {
        std::string out = decode_rfc2047(s.substr(0, cut));
        CHECK(utf8_valid(out));
        CHECK(out.size() <= 3 * cut + 3);
    }
    // Many "=?" candidates: linear time.
    std::string many;
    for (int i = 0; i < 20000; ++i) many += "=?a?q?";
    CHECK(decode_rfc2047(many) == many);
}

// ---------------------------------------------------------------------------
// RFC 2231 parameters and Content-* fields

TEST_CASE("Content-Type and RFC 2231 parameters", "[mime]") {
    // RFC 2231 section 3: continuations.
    auto ct = parse_content_type(
        "message/external-body; access-type=URL;\r\n URL*0=\"ftp://\";\r\n"
        " URL*1=\"cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar\"");
    CHECK(ct.type == "message");
    CHECK(ct.subtype == "external-body");
    CHECK_FALSE(ct.defaulted);
    CHECK(ct.params.get("url") == "ftp://cs.utk.edu/pub/moore/bulk-mailer/bulk-mailer.tar");
    CHECK(ct.params.get("access-type") == "URL");
    REQUIRE(ct.params.raw.size() == 3);
    CHECK(ct.params.raw[1] == std::pair<std::string, std::string>{"URL*0", "ftp://"});
    CHECK_FALSE(ct.params.bad_syntax);

    // Section 4: charset and language.
    ct = parse_content_type("application/x-stuff;\r\n title*=us-ascii'en-us'This%20is%20%2A%2A%2Afun%2A%2A%2A");
    auto t = ct.params.find("TITLE");
    REQUIRE(t);
    CHECK(t->value == "This is ***fun***");
    CHECK(t->charset == "us-ascii");
    CHECK(t->language == "en-us");

    // Section 4.1: both.
    ct = parse_content_type(
        "application/x-stuff;\r\n title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
        " title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n title*2=\"isn't it!\"");
    t = ct.params.find("title");
    REQUIRE(t);
    CHECK(t->value == "This is even more ***fun*** isn't it!");
    CHECK(t->language == "en");

    struct row {
        const char* value;
        const char* type;
        const char* param;
        const char* expect;
        bool bad;
    } rows[] = {
        {"text/plain; charset=us-ascii (Plain text)", "text/plain", "charset", "us-ascii", false},
        {"text/plain; charset=\"us-ascii\"", "text/plain", "charset", "us-ascii", false},
        {"TEXT/HTML; CHARSET=UTF-8", "text/html", "charset", "UTF-8", false},
        {"text/plain;charset=utf-8;format=flowed", "text/plain", "format", "flowed", false},
        {"text/plain; charset=utf-8; format=flowed;", "text/plain", "format", "flowed", false},
        {"text/plain charset=utf-8", "text/plain", "charset", "utf-8", false},
        {"(c) text (d) / (e) plain (f) ; (g) charset (h) = (i) x", "text/plain", "charset", "x", false},
        {"multipart/mixed; boundary=----=_Part_0_12345.678", "multipart/mixed", "boundary", "----=_Part_0_12345.678",
         false},
        {"multipart/mixed; boundary=\"simple boundary\"", "multipart/mixed", "boundary", "simple boundary", false},
        {"application/pdf; name=\"a \\\"q\\\" b.pdf\"", "application/pdf", "name", "a \"q\" b.pdf", false},
        {"application/pdf; name=foo bar.pdf", "application/pdf", "name", "foo bar.pdf", true},
        {"application/pdf; name=\"=?UTF-8?B?w6kudHh0?=\"", "application/pdf", "name", "\xC3\xA9.txt", false},
        {"application/pdf; name*=UTF-8''%E2%82%AC%20rates.pdf", "application/pdf", "name", "\xE2\x82\xAC rates.pdf",
         false},
        {"application/pdf; name*=iso-8859-1''caf%E9", "application/pdf", "name", "caf\xC3\xA9", false},
        {"application/pdf; name*=''caf%C3%A9", "application/pdf", "name", "caf\xC3\xA9", false},
        {"application/pdf; name=\"fallback.txt\"; name*=utf-8''real.txt", "application/pdf", "name", "real.txt",
         false},
        {"application/pdf; name*1=\"b\"; name*0=\"a\"", "application/pdf", "name", "ab", false},
        {"application/pdf; name*0=\"a\"; name*2=\"c\"", "application/pdf", "name", "ac", true},
        {"application/pdf; name*0=\"a\"; name*0=\"b\"", "application/pdf", "name", "a", true},
        {"application/pdf; name*0*=utf-8''%C3; name*1*=%A9", "application/pdf", "name", "\xC3\xA9", false},
        {"application/pdf; name*=noquotes%41", "application/pdf", "name", "noquotesA", true},
        {"application/pdf; name*100=\"x\"", "application/pdf", "name", "", true},
        {"application/pdf; name*01=\"x\"", "application/pdf", "name*01", "x", false},
        {"application/pdf; name=\"caf\xE9\"", "application/pdf", "name", "caf\xC3\xA9", false},
        {"application/pdf; noval; name=x", "application/pdf", "name", "x", true},
        {"application/pdf; =x; name=y", "application/pdf", "name", "y", true},
        {"application/pdf; name=\"unterminated", "application/pdf", "name", "unterminated", false},
        {"application/pdf; name=\"a\" junk; x=1", "application/pdf", "x", "1", true},
        // Unusable values fall back to text/plain; charset=us-ascii (RFC 2045 5.2).
        {"text", "text/plain", "charset", "us-ascii", false},
        {"/plain", "text/plain", "charset", "us-ascii", false},
        {"text/", "text/plain", "charset", "us-ascii", false},
        {"", "text/plain", "charset", "us-ascii", false},
        {"text/plain/html", "text/plain", "charset", "", true},
        {"te(x)t/plain", "text/plain", "charset", "us-ascii", false},
    };
    for (const auto& r : rows) {
        INFO(r.value);
        auto c = parse_content_type(std::string_view(r.value));
        CHECK(c.type + "/" + c.subtype == r.type);
        CHECK(c.params.get(r.param) == r.expect);
        CHECK(c.params.bad_syntax == r.bad);
    }
    auto d = parse_content_type(std::nullopt);
    CHECK(d.defaulted);
    CHECK(d.is("text", "plain"));
    CHECK(d.charset() == "us-ascii");
    CHECK(d.params.raw.size() == 1);
    CHECK(parse_content_type("text/plain").charset() == "us-ascii");
    CHECK(parse_content_type("text/plain; charset=\" UTF-8 \"").charset() == "utf-8");

    mime_param_limits few;
    few.max_params = 3;
    auto p = parse_mime_params("; a=1; b=2; c=3; d=4; e=5", few);
    CHECK(p.raw.size() == 3);
    CHECK(p.decoded.size() == 3);
    CHECK(p.bad_syntax);
    CHECK(p.get("c") == "3");
    CHECK(p.get("d", "none") == "none");
}

TEST_CASE("Content-Disposition, -Transfer-Encoding, -Language, -Location", "[mime]") {
    // RFC 2183 example.
    auto d = parse_content_disposition(
        "attachment; filename=genome.jpeg;\r\n modification-date=\"Wed, 12 Feb 1997 16:29:51 -0500\";");
    REQUIRE(d);
    CHECK(d->type == "attachment");
    CHECK(d->params.get("filename") == "genome.jpeg");
    CHECK(d->params.get("modification-date") == "Wed, 12 Feb 1997 16:29:51 -0500");
    CHECK(parse_content_disposition("INLINE")->type == "inline");
    CHECK_FALSE(parse_content_disposition(""));
    CHECK_FALSE(parse_content_disposition("; filename=x"));

    CHECK(parse_content_transfer_encoding(std::nullopt) == "7bit");
    CHECK(parse_content_transfer_encoding(" BASE64 ") == "base64");
    CHECK(parse_content_transfer_encoding("(c) Quoted-Printable (d)") == "quoted-printable");
    CHECK(parse_content_transfer_encoding("") == "7bit");
    CHECK(parse_content_transfer_encoding("x-uuencode") == "x-uuencode");

    CHECK(parse_content_language("en, de (German)") == std::vector<std::string>{"en", "de"});
    CHECK(parse_content_language("  ") .empty());
    CHECK(parse_content_language("en-US,,fr") == std::vector<std::string>{"en-US", "fr"});
    CHECK(parse_content_location("http://example.com/\r\n  foo bar") == "http://example.com/foobar");
}

TEST_CASE("parameters cut at every byte boundary", "[mime]") {
    const std::string values[] = {
        "application/x-stuff; title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n"
        " title*1*=%2A%2A%2Afun%2A%2A%2A%20; title*2=\"isn't \\\"it\\\"!\" (comment (nested))",
        "multipart/mixed; boundary=\"=_a b\"; name*=utf-8''%E2%82%AC; x=\"=?utf-8?B?w6k=?=\"",
    };
    for (const auto& v : values) {
        for (size_t cut = 0; cut <= v.size(); ++cut) {
            auto ct = parse_content_type(std::string_view(v).substr(0, cut));
            CHECK_FALSE(ct.type.empty());
            CHECK_FALSE(ct.subtype.empty());
            for (const auto& p : ct.params.decoded) CHECK(utf8_valid(p.value));
            auto d = parse_content_disposition(std::string_view(v).substr(0, cut));
            if (d) CHECK_FALSE(d->type.empty());
        }
    }
}

// ---------------------------------------------------------------------------
// Transfer encodings

TEST_CASE("base64, lenient", "[mime]") {
    struct row {
        const char* in;
        const char* out;
        bool error;
    } rows[] = {
        {"", "", false},
        {"Zm9vYmFy", "foobar", false},
        {"Zm9v\r\nYmFy\r\n", "foobar", false},
        {"Zm9vYg==", "foob", false},
        {"Zm9vYg", "foob", false},
        {"Zm9vY", "foo", true},
        {"Zm9v!YmFy", "foobar", true},
        {"Zm 9v\tYm\nFy", "foobar", false},
        {"Zg==Zg==", "ff", true},
        {"====", "", false},
    };
    for (const auto& r : rows) {
        INFO(r.in);
        bool err = !r.error;
        CHECK(base64_decode_lenient(r.in, &err) == r.out);
        CHECK(err == r.error);
    }
    std::string bin;
    for (int i = 0; i < 256; ++i) bin += static_cast<char>(i);
    bool err = true;
    CHECK(base64_decode_lenient("  " + [&] {
        std::string e = "";
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for (size_t i = 0; i + 2 < bin.size(); i += 3) {
            uint32_t v = (uint8_t(bin[i]) << 16) | (uint8_t(bin[i + 1]) << 8) | uint8_t(bin[i + 2]);
            for (int k = 3; k >= 0; --k) e += tbl[(v >> (6 * k)) & 63];
            if (i % 57 == 54) e += "\r\n";
        }
        e += "/w==";  // the last byte, 0xff
        return e;
    }(), &err) == bin);
    CHECK_FALSE(err);
}

TEST_CASE("quoted-printable decoding, lenient", "[mime]") {
    struct row {
        const char* in;
        const char* out;
        bool error;
    } rows[] = {
        {"", "", false},
        {"caf=C3=A9", "caf\xC3\xA9", false},
        {"caf=c3=a9", "caf\xC3\xA9", false},
        {"a=3Db", "a=b", false},
        {"soft=\r\nbreak", "softbreak", false},
        {"soft=\nbreak", "softbreak", false},
        {"soft=  \r\nbreak", "softbreak", false},
        {"end=", "end", false},
        {"trailing   \r\nspace\t\nx  ", "trailing\r\nspace\nx", false},
        {"inner  space", "inner  space", false},
        {"bad=G1", "bad=G1", true},
        {"bad=4", "bad=4", true},
        {"bad= x", "bad= x", true},
        {"=\r", "", false},
        {"line\r\nline", "line\r\nline", false},
    };
    for (const auto& r : rows) {
        INFO(r.in);
        bool err = !r.error;
        CHECK(qp_decode(r.in, &err) == r.out);
        CHECK(err == r.error);
    }
    bool err = false;
    CHECK(qp_decode("a_b=5F=3F", &err, true) == "a b_?");
    CHECK(decode_transfer_encoding("Zm9v", "BASE64") == "foo");
    CHECK(decode_transfer_encoding("a=3D", "quoted-printable") == "a=");
    CHECK(decode_transfer_encoding("a=3D", "8bit") == "a=3D");
    CHECK(decode_transfer_encoding("a=3D", "x-unknown") == "a=3D");
}

TEST_CASE("quoted-printable encoding: 76-character lines, round trip", "[mime]") {
    CHECK(qp_encode("plain text\nline two\n") == "plain text\r\nline two\r\n");
    CHECK(qp_encode("caf\xC3\xA9 = ok\r\n") == "caf=C3=A9 =3D ok\r\n");
    CHECK(qp_encode("trailing space \nand tab\t\n") == "trailing space=20\r\nand tab=09\r\n");
    CHECK(qp_encode("From here\n") == "=46rom here\r\n");
    CHECK(qp_encode("bare\rCR") == "bare=0DCR");
    CHECK(qp_encode("no newline at end") == "no newline at end");
    CHECK(qp_encode("x\n", "\n") == "x\n");
    std::string line76(76, 'a');
    CHECK(qp_encode(line76 + "\n") == line76 + "\r\n");
    std::string line77(77, 'a');
    CHECK(qp_encode(line77 + "\n") == std::string(75, 'a') + "=\r\naa\r\n");
    // An escape is never split by a soft break.
    std::string esc = std::string(74, 'a') + "\xE9" + "b";
    CHECK(qp_encode(esc) == std::string(74, 'a') + "=\r\n=E9b");

    std::mt19937 rng(42);
    for (int round = 0; round < 50; ++round) {
        std::string in;
        size_t len = rng() % 2000;
        for (size_t i = 0; i < len; ++i) {
            unsigned r = rng() % 10;
            if (r == 0) in += "\r\n";
            else if (r == 1) in += ' ';
            else if (r < 5) in += static_cast<char>(rng() % 256);
            else in += static_cast<char>('a' + rng() % 26);
        }
        std::string enc = qp_encode(in);
        size_t start = 0;
        while (start < enc.size()) {
            size_t e = enc.find("\r\n", start);
            if (e == std::string::npos) e = enc.size();
            CHECK(e - start <= 76);
            for (size_t k = start; k < e; ++k) {
                unsigned char c = static_cast<unsigned char>(enc[k]);
                CHECK(((c >= 33 && c <= 126) || c == ' ' || c == '\t'));
            }
            if (e > start) CHECK((enc[e - 1] != ' ' && enc[e - 1] != '\t'));
            start = e + 2;
        }
        // Decoding gives the input back, with line ends as CRLF (bare LF became CRLF).
        std::string expect;
        for (size_t i = 0; i < in.size(); ++i) {
            if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r')) expect += '\r';
            expect += in[i];
        }
        bool err = true;
        CHECK(qp_decode(enc, &err) == expect);
        CHECK_FALSE(err);
    }
}

TEST_CASE("decoders cut at every byte boundary", "[mime]") {
    const std::string qp = "caf=C3=A9 soft=\r\nbreak =3D end=\r\n=E9t=E9  \r\n";
    const std::string b64 = "w6l0w6kgY2Fmw6k=\r\nw6k=";
    for (size_t cut = 0; cut <= qp.size(); ++cut) {
        bool err;
        std::string out = qp_decode(qp.substr(0, cut), &err);
        CHECK(out.size() <= cut);
    }
    for (size_t cut = 0; cut <= b64.size(); ++cut) {
        bool err;
        std::string out = base64_decode_lenient(b64.substr(0, cut), &err);
        CHECK(out.size() <= cut);
    }
}

// ---------------------------------------------------------------------------
// Charsets

TEST_CASE("charset conversion to UTF-8", "[mime]") {
    struct row {
        const char* charset;
        std::string in;
        const char* out;
        bool lossy;
    } rows[] = {
        {"us-ascii", "plain", "plain", false},
        {"", "plain", "plain", false},
        {"US-ASCII", "caf\xC3\xA9", "caf\xC3\xA9", false},      // 8-bit in "ascii": valid UTF-8 kept
        {"us-ascii", "caf\xE9", "caf\xC3\xA9", true},           // else windows-1252
        {"utf-8", "caf\xC3\xA9", "caf\xC3\xA9", false},
        {"UTF8", "caf\xC3\xA9", "caf\xC3\xA9", false},
        {"utf-8", "caf\xE9!", "caf\xEF\xBF\xBD!", true},
        {"iso-8859-1", "caf\xE9", "caf\xC3\xA9", false},
        {"\"ISO-8859-1\"", "caf\xE9", "caf\xC3\xA9", false},
        {"latin1", "\xA3", "\xC2\xA3", false},
        {"windows-1252", "\x80", "\xE2\x82\xAC", false},
        {"iso-8859-15", "\xA4", "\xE2\x82\xAC", false},
        {"koi8-r", "\xF0\xD2\xC9\xD7\xC5\xD4", "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", false},
        {"shift_jis", "\x83" "e\x83X\x83g", "\xE3\x83\x86\xE3\x82\xB9\xE3\x83\x88", false},
        {"gb2312", "\xD6\xD0\xCE\xC4", "\xE4\xB8\xAD\xE6\x96\x87", false},
        {"utf-16", std::string("\xFF\xFEh\x00\xE9\x00", 6), "h\xC3\xA9", false},
        {"iso-2022-jp", "\x1B$B$F$9$H\x1B(B", "\xE3\x81\xA6\xE3\x81\x99\xE3\x81\xA8", false},
        {"shift_jis", "\x83", "\xEF\xBF\xBD", true},  // truncated sequence
        {"x-no-such-charset", "caf\xE9", "caf\xC3\xA9", true},
        {"../../etc/passwd", "caf\xC3\xA9", "caf\xC3\xA9", false},
        {"UTF-8//TRANSLIT", "caf\xE9", "caf\xC3\xA9", true},
        {"a-very-long-charset-name-that-nobody-would-ever-use-really", "x", "x", false},
    };
    for (const auto& r : rows) {
        INFO(r.charset << ": " << r.in);
        bool lossy = !r.lossy;
        CHECK(charset_to_utf8(r.in, r.charset, &lossy) == r.out);
        CHECK(lossy == r.lossy);
    }
    CHECK(charset_known("utf-8"));
    CHECK(charset_known("ISO-8859-2"));
    CHECK(charset_known("koi8-r"));
    CHECK_FALSE(charset_known("x-no-such-charset"));
    CHECK(charset_known(""));  // the default (us-ascii)

    // Multi-byte input cut anywhere: valid UTF-8 out, no crash.
    const std::string sjis = "\x83" "e\x83X\x83gabc\x83" "e";
    const std::string jis = "\x1B$B$F$9$H\x1B(Bx";
    for (size_t cut = 0; cut <= sjis.size(); ++cut) CHECK(utf8_valid(charset_to_utf8(sjis.substr(0, cut), "sjis")));
    for (size_t cut = 0; cut <= jis.size(); ++cut) CHECK(utf8_valid(charset_to_utf8(jis.substr(0, cut), "iso-2022-jp")));
    std::string garbage;
    for (int i = 0; i < 4096; ++i) garbage += static_cast<char>((i * 7919) & 0xff);
    for (auto cs : {"utf-8", "big5", "euc-jp", "utf-16", "utf-7", "gb18030", "us-ascii"})
        CHECK(utf8_valid(charset_to_utf8(garbage, cs)));
}

// ---------------------------------------------------------------------------
// HTML

TEST_CASE("HTML to text", "[mime]") {
    struct row {
        const char* in;
        const char* out;
    } rows[] = {
        {"<p>Hello <b>world</b></p>", "Hello world"},
        {"<html><head><title>T</title><style>p { color: red }</style></head><body>x</body></html>", "T\nx"},
        {"a<script>alert('<p>no</p>')</script>b", "ab"},
        {"a<SCRIPT type=x>var s = '</scr' + 'ipt>';</SCRIPT >b", "ab"},
        {"a<script>never closed", "a"},
        {"a<!-- comment <b>x</b> -->b", "ab"},
        {"a<!-- unterminated", "a"},
        {"<!DOCTYPE html>a", "a"},
        {"a<?xml version='1.0'?>b", "ab"},
        {"V<b></b>i<i>a</i>gra", "Viagra"},
        {"line1<br>line2<br/>line3", "line1\nline2\nline3"},
        {"<div>a</div><div>b</div>", "a\nb"},
        {"<table><tr><td>a</td><td>b</td></tr></table>", "a b"},
        {"&lt;tag&gt; &amp; &quot;q&quot; &#39;s&#39;", "<tag> & \"q\" 's'"},
        {"caf&eacute; &euro;5 &copy;", "caf\xC3\xA9 \xE2\x82\xAC" "5 \xC2\xA9"},
        {"&#233;&#xE9;&#XE9;", "\xC3\xA9\xC3\xA9\xC3\xA9"},
        {"&#128;", "\xE2\x82\xAC"},
        {"&#0; &#1114112; &#99999999999;", "\xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD"},
        {"fr&shy;ee mo&#8203;ney me&zwj;ds", "free money meds"},
        {"fr\xC2\xAD" "ee mo\xE2\x80\x8Bney", "free money"},
        {"a&nbsp;b", "a b"},
        {"&unknown; & &amp", "&unknown; & &"},
        {"a < b > c", "a < b > c"},
        {"1<2", "1<2"},
        {"  lots   of\n\n  space  ", "lots of space"},
        {"<a href=\"http://example.com/x?a=1&amp;b=2\">click</a>", "href=http://example.com/x?a=1&b=2 click"},
        {"<A HREF='http://spam.example/'>here</A> now", "href=http://spam.example/ here now"},
        {"<a href=http://bare.example/path>x</a>", "href=http://bare.example/path x"},
        {"<img src=\"http://img.example/p.gif\" alt=\"x\">", "src=http://img.example/p.gif"},
        {"<a title=\"a > b\" href=\"h\">t</a>", "href=h t"},
        {"<a href=\"unterminated>t", "href=unterminated>t"},
        {"bad \xC3 utf-8 \xFF", "bad \xEF\xBF\xBD utf-8 \xEF\xBF\xBD"},
        {"<a href=\" spaced url \">t</a>", "href=spaced+url t"},
        {"caf\xC3\xA9 <b>\xE2\x82\xAC</b>", "caf\xC3\xA9 \xE2\x82\xAC"},
    };
    for (const auto& r : rows) {
        INFO(r.in);
        CHECK(html_to_text(r.in) == r.out);
    }
    // Cut anywhere: no crash, valid UTF-8 stays valid, output bounded.
    const std::string doc =
        "<html><body><p>Dear &quot;friend&quot;,</p><script>x<y</script><a href='http://a.example/?q=1&amp;r=2'>"
        "caf&eacute;</a><!-- c --><img src=x.gif>&#x20AC;&#8364;\xC3\xA9</body></html>";
    for (size_t cut = 0; cut <= doc.size(); ++cut) {
        std::string out = html_to_text(doc.substr(0, cut));
        CHECK(utf8_valid(out));
        CHECK(out.size() <= 2 * cut + 16);
    }
    std::string lt(100000, '<');
    CHECK(html_to_text(lt) == lt);
    std::string scripts;
    for (int i = 0; i < 5000; ++i) scripts += "<script>";
    CHECK(html_to_text(scripts).empty());
}
