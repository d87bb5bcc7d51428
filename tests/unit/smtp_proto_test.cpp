// smtp_proto_test.cpp - SMTP command lines, the DATA decoder (smuggling
// cases included), BDAT line ends and reply formatting; every stream
// parser is also fed its input split at every byte boundary.
#include <catch2/catch.hpp>

#include "lib/smtp_proto.hpp"

using namespace tern::smtp;

TEST_CASE("parse_command splits verb and argument", "[smtp_proto]") {
    struct row {
        std::string_view line;
        const char* verb;
        const char* arg;
        line_error err;
    } rows[] = {
        {"EHLO client.example\r\n", "EHLO", "client.example", line_error::none},
        {"mail FROM:<a@b> SIZE=10\r\n", "MAIL", "FROM:<a@b> SIZE=10", line_error::none},
        {"QUIT\r\n", "QUIT", "", line_error::none},
        {"QUIT", "QUIT", "", line_error::none},
        {"  noop   x  \r\n", "NOOP", "x", line_error::none},
        {"DATA\n", "DATA", "", line_error::bare_lf},
        {"RSET\rQUIT\r\n", "RSET", "QUIT", line_error::bare_cr},
        {"HELO a\r\r\n", "HELO", "a", line_error::bare_cr},
        {"\r\n", "", "", line_error::empty},
        {"   \r\n", "", "", line_error::empty},
    };
    for (const auto& r : rows) {
        INFO(std::string(r.line));
        auto c = parse_command(r.line);
        CHECK(c.error == r.err);
        if (r.err == line_error::none || r.err == line_error::bare_lf) {
            CHECK(c.verb == r.verb);
            CHECK(c.arg == r.arg);
        }
    }
    // NUL in the middle of a line
    std::string nul("HELO a\0b\r\n", 10);
    CHECK(parse_command(nul).error == line_error::nul);
}

TEST_CASE("find_line_end", "[smtp_proto]") {
    CHECK(find_line_end("abc") == std::string_view::npos);
    CHECK(find_line_end("abc\r\ndef") == 5);
    CHECK(find_line_end("\n") == 1);
}

namespace {

struct decoded {
    data_decoder::status st;
    size_t consumed;
    std::string out;
    uint64_t bytes, lines;
};

decoded decode_whole(std::string_view in, bool forbid) {
    data_decoder d(forbid);
    std::string out;
    auto r = d.feed(in, &out);
    return {r.st, r.consumed, out, d.bytes(), d.lines()};
}

// Feeds in as two pieces split at `cut`, continuing after the first piece
// only while it needs more.
decoded decode_split(std::string_view in, size_t cut, bool forbid) {
    data_decoder d(forbid);
    std::string out;
    auto r = d.feed(in.substr(0, cut), &out);
    size_t consumed = r.consumed;
    if (r.st == data_decoder::status::need_more) {
        auto r2 = d.feed(in.substr(cut), &out);
        r.st = r2.st;
        consumed += r2.consumed;
    }
    return {r.st, consumed, out, d.bytes(), d.lines()};
}

}  // namespace

TEST_CASE("data_decoder: end of data, dot-unstuffing and bare line ends", "[smtp_proto]") {
    using S = data_decoder::status;
    struct row {
        std::string_view in;
        bool forbid;
        S st;
        std::string_view out;
        size_t consumed;  // npos: whole input
    } rows[] = {
        {".\r\n", true, S::done, "", 3},
        {"a\r\n.\r\n", true, S::done, "a\n", 6},
        {"a\r\n.\r\nMAIL FROM:<x>\r\n", true, S::done, "a\n", 6},
        {"Subject: x\r\n\r\nbody\r\n..dot\r\n.\r\n", true, S::done, "Subject: x\n\nbody\n.dot\n", std::string_view::npos},
        {"a\r\n..\r\n.\r\n", true, S::done, "a\n.\n", std::string_view::npos},
        {"a\r\n.x\r\n", true, S::need_more, "a\nx\n", std::string_view::npos},
        {"line without end", true, S::need_more, "line without end", std::string_view::npos},
        {"a\r", true, S::need_more, "a", std::string_view::npos},
        // smuggling attempts: none of these ends the data
        {"a\n.\nMAIL", true, S::bare_lf, "a", 1},
        {"a\r\n.\nMAIL", true, S::bare_lf, "a\n", 4},
        {"a\n.\r\nMAIL", true, S::bare_lf, "a", 1},
        {"a\r.\r\nMAIL", true, S::bare_cr, "a", 1},
        {"a\r\n.\rMAIL", true, S::bare_cr, "a\n", 5},
        {"a\rb\r\n", true, S::bare_cr, "a", 1},
        // the same with bare line ends allowed: still no end, content kept
        {"a\n.\nb\r\n", false, S::need_more, "a\n\nb\n", std::string_view::npos},
        {"a\n.\r\nb\r\n", false, S::need_more, "a\n\nb\n", std::string_view::npos},
        {"a\r.\r\nb\r\n", false, S::need_more, "a\r.\nb\n", std::string_view::npos},
        {"a\r\n.\rb\r\n", false, S::need_more, "a\n\rb\n", std::string_view::npos},
        {"a\rb\r\n.\r\n", false, S::done, "a\rb\n", std::string_view::npos},
        {"a\nb\r\n.\r\n", false, S::done, "a\nb\n", std::string_view::npos},
        {"a\n..x\r\n.\r\n", false, S::done, "a\n.x\n", std::string_view::npos},
    };
    for (const auto& r : rows) {
        INFO(std::string(r.in) << " forbid=" << r.forbid);
        size_t want = r.consumed == std::string_view::npos ? r.in.size() : r.consumed;
        auto w = decode_whole(r.in, r.forbid);
        CHECK(w.st == r.st);
        CHECK(w.out == r.out);
        CHECK(w.consumed == want);
        CHECK(w.bytes == w.out.size());
        for (size_t cut = 0; cut <= r.in.size(); ++cut) {
            INFO("cut at " << cut);
            auto s = decode_split(r.in, cut, r.forbid);
            CHECK(s.st == r.st);
            CHECK(s.out == r.out);
            // a refusal may be noticed one byte later when a CR ends a piece
            if (r.st == S::done || r.st == S::need_more) CHECK(s.consumed == want);
        }
    }
}

TEST_CASE("data_decoder byte at a time, sizes and discard mode", "[smtp_proto]") {
    std::string in = "From: a\r\nTo: b\r\n\r\n.leading dot\r\nline2\r\n.\r\n";
    data_decoder d;
    std::string out;
    data_decoder::result r;
    size_t i = 0;
    for (; i < in.size(); ++i) {
        r = d.feed(std::string_view(&in[i], 1), &out);
        if (r.st != data_decoder::status::need_more) break;
    }
    CHECK(r.st == data_decoder::status::done);
    CHECK(i == in.size() - 1);
    CHECK(out == "From: a\nTo: b\n\nleading dot\nline2\n");
    CHECK(d.lines() == 5);
    CHECK(d.bytes() == out.size());
    CHECK(d.finished());
    // after done, nothing more is consumed
    CHECK(d.feed("more", &out).consumed == 0);

    data_decoder n;
    auto r2 = n.feed(in, nullptr);
    CHECK(r2.st == data_decoder::status::done);
    CHECK(n.bytes() == out.size());
    CHECK(n.lines() == 5);
}

TEST_CASE("crlf_converter for BDAT chunks", "[smtp_proto]") {
    struct row {
        std::string_view in;
        std::string_view out;
        uint64_t lines;
    } rows[] = {
        {"a\r\nb\r\n", "a\nb\n", 2},
        {"a\nb\r", "a\nb\r", 1},
        {"\r\r\n\r", "\r\n\r", 1},
        {"", "", 0},
        {"x\rx", "x\rx", 0},
    };
    for (const auto& r : rows) {
        for (size_t cut = 0; cut <= r.in.size(); ++cut) {
            INFO(std::string(r.in) << " cut " << cut);
            crlf_converter c;
            std::string out;
            c.feed(r.in.substr(0, cut), &out);
            c.feed(r.in.substr(cut), &out);
            c.finish(&out);
            CHECK(out == r.out);
            CHECK(c.lines() == r.lines);
            CHECK(c.bytes() == out.size());
        }
    }
}

TEST_CASE("format_reply and reply_code", "[smtp_proto]") {
    CHECK(format_reply(250, "2.1.0", "Ok") == "250 2.1.0 Ok\r\n");
    CHECK(format_reply(220, "", "mail.example ESMTP tern") == "220 mail.example ESMTP tern\r\n");
    CHECK(format_reply(250, "", "mail.example\nPIPELINING\nSIZE 10") ==
          "250-mail.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    CHECK(format_reply(214, "2.0.0", "a\nb") == "214-2.0.0 a\r\n214 2.0.0 b\r\n");
    CHECK(format_reply(500, "5.5.2", "bad\x01thing") == "500 5.5.2 bad?thing\r\n");
    CHECK(reply_code("250-a\r\n250 b\r\n") == 250);
    CHECK(reply_code("354 go") == 354);
    CHECK(reply_code("xyz") == 0);
    CHECK(reply_code("25") == 0);
}
