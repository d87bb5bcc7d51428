// imap_parser_test.cpp - imapd's command framer (lines, {n} and {n+}
// literals, limits checked before storing) fed at every byte boundary, and
// the command parser (tags, UID, atoms with [sections], quoted strings,
// literals, nested lists, errors with reasons).
#include <catch2/catch.hpp>

#include "imapd/parser.hpp"

using namespace tern::imap;

namespace {

// Feed `in` cut at `cut` (and then the rest byte by byte past it), collect
// events: "C" continuation, "X:<bytes>" complete, "L" too long, "T" too big.
std::vector<std::string> frame(const std::string& in, size_t cut, framer_limits lim = {}) {
    framer f(lim);
    std::vector<std::string> ev;
    auto push = [&](std::string_view chunk) {
        while (!chunk.empty()) {
            size_t used = 0;
            auto r = f.feed(chunk, used);
            chunk.remove_prefix(used);
            switch (r) {
            case framer::result::need_more: break;
            case framer::result::continuation: ev.push_back("C"); break;
            case framer::result::complete: ev.push_back("X:" + f.take()); break;
            case framer::result::line_too_long: ev.push_back("L"); return false;
            case framer::result::literal_too_big:
                ev.push_back("T" + std::to_string(f.literal_size()) + (f.literal_sync() ? "s" : "n"));
                f.reset();
                return false;
            }
        }
        return true;
    };
    if (push(std::string_view(in).substr(0, cut))) push(std::string_view(in).substr(cut));
    return ev;
}

command parse_ok(const std::string& s) {
    command c;
    parse_error e;
    INFO(s);
    REQUIRE(parse_command(s, c, e));
    return c;
}

parse_error parse_bad(const std::string& s) {
    command c;
    parse_error e;
    INFO(s);
    REQUIRE_FALSE(parse_command(s, c, e));
    CHECK_FALSE(e.reason.empty());
    return e;
}

}  // namespace

TEST_CASE("imap framer: lines and literals at every byte boundary", "[imap]") {
    struct row {
        std::string in;
        std::vector<std::string> ev;
    } rows[] = {
        {"a NOOP\r\n", {"X:a NOOP\r\n"}},
        {"a NOOP\r\nb NOOP\r\n", {"X:a NOOP\r\n", "X:b NOOP\r\n"}},
        {"a LOGIN {5}\r\nalice {3}\r\npw!\r\n", {"C", "C", "X:a LOGIN {5}\r\nalice {3}\r\npw!\r\n"}},
        {"a LOGIN {5+}\r\nalice {3+}\r\npw!\r\n", {"X:a LOGIN {5+}\r\nalice {3+}\r\npw!\r\n"}},
        // a literal may hold CRLF and "{9}" without confusing the framer
        {"a APPEND x {8+}\r\n{9}\r\n\r\n\r\n", {"X:a APPEND x {8+}\r\n{9}\r\n\r\n\r\n"}},
        {"a X {0}\r\n\r\n", {"C", "X:a X {0}\r\n\r\n"}},
        // bare LF is accepted as a line end
        {"a NOOP\n", {"X:a NOOP\n"}},
        // not a literal marker
        {"a LOGIN x{y}\r\n", {"X:a LOGIN x{y}\r\n"}},
    };
    for (auto& r : rows)
        for (size_t cut = 0; cut <= r.in.size(); cut++) {
            INFO(r.in << " cut at " << cut);
            CHECK(frame(r.in, cut) == r.ev);
        }
}

TEST_CASE("imap framer: limits before allocation", "[imap]") {
    framer_limits lim;
    lim.line_limit = 32;
    lim.literal_limit = 100;
    lim.command_limit = 200;
    CHECK(frame("a APPEND x {101}\r\n", 0, lim) == std::vector<std::string>{"T101s"});
    CHECK(frame("a APPEND x {101+}\r\n", 5, lim) == std::vector<std::string>{"T101n"});
    CHECK(frame("a X {99999999999999999999}\r\n", 3, lim)[0].substr(0, 1) == "T");
    CHECK(frame("a " + std::string(40, 'x') + "\r\n", 7, lim) == std::vector<std::string>{"L"});
    // a line without any line end is cut as soon as it passes the limit
    CHECK(frame(std::string(100, 'x'), 0, lim) == std::vector<std::string>{"L"});
    // the total of lines and literals is bounded too
    CHECK(frame("a X {95+}\r\n" + std::string(95, 'y') + " {95+}\r\n" + std::string(95, 'z') + "\r\n", 0, lim)
              .back() == "T95n");
    // nothing of a refused literal is stored
    framer f(lim);
    size_t used = 0;
    REQUIRE(f.feed("t1 APPEND INBOX {1000}\r\n", used) == framer::result::literal_too_big);
    CHECK(f.buffered() < 64);
    CHECK(f.tag() == "t1");
}

TEST_CASE("imap parser: tags, names, UID", "[imap]") {
    auto c = parse_ok("a1 noop\r\n");
    CHECK(c.tag == "a1");
    CHECK(c.name == "NOOP");
    CHECK(c.args.empty());
    c = parse_ok("x uid fetch 1:* (FLAGS)\r\n");
    CHECK(c.uid);
    CHECK(c.name == "FETCH");
    REQUIRE(c.args.size() == 2);
    CHECK(c.args[0].text == "1:*");
    CHECK(c.args[1].is_list());
    CHECK(parse_bad("\r\n").tag.empty());
    CHECK(parse_bad("a+ NOOP\r\n").tag.empty());
    CHECK(parse_bad("abc\r\n").tag == "abc");
    CHECK(parse_bad("abc \r\n").tag == "abc");
    CHECK(parse_bad("a N(OOP\r\n").reason.find("command") != std::string::npos);
    CHECK(parse_bad("a UID\r\n").reason.find("UID") != std::string::npos);
}

TEST_CASE("imap parser: argument kinds", "[imap]") {
    auto c = parse_ok("a LOGIN \"al\\\"ice\" {3}\r\np w\r\n");
    REQUIRE(c.args.size() == 2);
    CHECK(c.args[0].type == arg::kind::quoted);
    CHECK(c.args[0].text == "al\"ice");
    CHECK(c.args[1].type == arg::kind::literal);
    CHECK(c.args[1].text == "p w");
    c = parse_ok("a FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100> UID)\r\n");
    REQUIRE(c.args.size() == 2);
    REQUIRE(c.args[1].items.size() == 2);
    CHECK(c.args[1].items[0].text == "BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>");
    CHECK(c.args[1].items[1].is("uid"));
    c = parse_ok("a SEARCH (OR (SEEN) (NOT DELETED)) UID 1:5\r\n");
    REQUIRE(c.args.size() == 3);
    CHECK(c.args[0].items[1].items[0].is("SEEN"));
    CHECK(c.args[0].items[2].items[1].is("DELETED"));
    c = parse_ok("a STORE 1 +FLAGS (\\Seen $Label1)\r\n");
    CHECK(c.args[2].items[0].text == "\\Seen");
    c = parse_ok("a LIST \"\" *\r\n");
    CHECK(c.args[0].text.empty());
    CHECK(c.args[1].text == "*");
    c = parse_ok("a X ()\r\n");
    CHECK(c.args[0].is_list());
    CHECK(c.args[0].items.empty());
    c = parse_ok("a X nil NIL \"NIL\"\r\n");
    CHECK(c.args[0].is_nil());
    CHECK(c.args[1].is_nil());
    CHECK_FALSE(c.args[2].is_nil());
    // LITERAL+ inside a list
    c = parse_ok("a X ({2+}\r\nab c)\r\n");
    REQUIRE(c.args[0].items.size() == 2);
    CHECK(c.args[0].items[0].text == "ab");
}

TEST_CASE("imap parser: errors have reasons", "[imap]") {
    struct row {
        const char* in;
        const char* reason;
    } rows[] = {
        {"a X \"unterminated\r\n", "unterminated"},
        {"a X (a b\r\n", "missing ')'"},
        {"a X a)\r\n", "unexpected ')'"},
        {"a X \"bad \\q escape\"\r\n", "escape"},
        {"a X BODY[HEADER\r\n", "']'"},
        {"a X {5}\r\nab\r\n", "past the command"},
        {"a X ~{3}\r\nabc\r\n", "literal8"},
        {"a X \"a\"b\r\n", "missing space"},
        {"a X a\x01\r\n", "control"},
    };
    for (auto& r : rows) {
        auto e = parse_bad(r.in);
        INFO(r.in << " -> " << e.reason);
        CHECK(e.tag == "a");
        CHECK(e.reason.find(r.reason) != std::string::npos);
    }
    std::string deep = "a X ";
    for (int i = 0; i < 40; i++) deep += "(";
    for (int i = 0; i < 40; i++) deep += ")";
    CHECK(parse_bad(deep + "\r\n").reason.find("nested") != std::string::npos);
}

TEST_CASE("imap parser: every prefix of a command is handled", "[imap]") {
    const std::string cmd = "t UID FETCH 1:3,5 (FLAGS BODY[1.2.HEADER.FIELDS (A B)]<0.10> \"q\\\\\" {2+}\r\nxy)\r\n";
    for (size_t n = 0; n <= cmd.size(); n++) {
        command c;
        parse_error e;
        (void)parse_command(cmd.substr(0, n), c, e);  // must not crash or read past the end
    }
    auto c = parse_ok(cmd);
    CHECK(c.args[1].items.size() == 4);
    CHECK(c.args[1].items[2].text == "q\\");
    CHECK(c.args[1].items[3].text == "xy");
}

TEST_CASE("imap tags", "[imap]") {
    CHECK(valid_tag("A001"));
    CHECK(valid_tag("a.b-c]"));
    CHECK_FALSE(valid_tag(""));
    CHECK_FALSE(valid_tag("a+b"));
    CHECK_FALSE(valid_tag("a*"));
    CHECK_FALSE(valid_tag("a{"));
    CHECK_FALSE(valid_tag(std::string(65, 'a')));
}
