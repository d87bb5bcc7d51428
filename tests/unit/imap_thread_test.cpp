// imap_thread_test.cpp - RFC 5256: base subjects, SORT criteria and order,
// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (dummies, subject merging,
// loops and hostile chains).
#include <catch2/catch.hpp>

#include "imapd/thread.hpp"

using namespace tern::imap;

TEST_CASE("imap base subject", "[imap]") {
    struct row {
        const char* in;
        const char* base;
        bool reply;
    } rows[] = {
        {"Hello", "hello", false},
        {"Re: Hello", "hello", true},
        {"RE: re: Fwd: hello", "hello", true},
        {"Fw: hello (fwd)", "hello", true},
        {"[list] Re: hello", "hello", true},
        {"Re: [list] hello", "hello", true},
        {"Re[2]: hello", "hello", true},
        {"[fwd: Re: hello]", "hello", true},
        {"  lots   of    space  ", "lots of space", false},
        {"[only a blob]", "[only a blob]", false},
        {"Re:", "", true},
        {"=?UTF-8?Q?Re:_caf=C3=A9?=", "café", true},
        {"Rendezvous", "rendezvous", false},
        {"Fwd:Fwd: x", "x", true},
        {"hello (fwd) (fwd)", "hello", true},
    };
    for (auto& r : rows) {
        INFO(r.in);
        bool reply = false;
        CHECK(base_subject(r.in, &reply) == r.base);
        CHECK(reply == r.reply);
    }
}

TEST_CASE("imap message ids", "[imap]") {
    CHECK(message_ids("<a@b> <c@d>\r\n <e@f>") == std::vector<std::string>{"<a@b>", "<c@d>", "<e@f>"});
    CHECK(message_ids("junk <a@b> (comment) <c\r\n @d>") == std::vector<std::string>{"<a@b>", "<c@d>"});
    CHECK(message_ids("no ids").empty());
}

TEST_CASE("imap SORT", "[imap]") {
    command c;
    parse_error e;
    REQUIRE(parse_command("a SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n", c, e));
    std::vector<sort_key> keys;
    std::string err;
    REQUIRE(parse_sort_criteria(c.args[0], keys, err));
    REQUIRE(keys.size() == 2);
    CHECK(keys[0].reverse);
    CHECK(keys[0].type == sort_key::kind::date);
    CHECK_FALSE(keys[1].reverse);
    std::vector<sort_row> rows(4);
    for (uint32_t i = 0; i < 4; i++) {
        rows[i].seq = i + 1;
        rows[i].id = 100 + i;
    }
    rows[0].date = 10, rows[0].subject = "b";
    rows[1].date = 30, rows[1].subject = "a";
    rows[2].date = 10, rows[2].subject = "a";
    rows[3].date = 20, rows[3].subject = "c";
    CHECK(sort_rows(rows, keys) == std::vector<uint32_t>{101, 103, 102, 100});
    CHECK(sort_rows(rows, {{sort_key::kind::subject, false}}) == std::vector<uint32_t>{101, 102, 100, 103});
    // ties fall back to the sequence number
    CHECK(sort_rows(rows, {{sort_key::kind::size, true}}) == std::vector<uint32_t>{100, 101, 102, 103});
    for (const char* bad : {"a SORT () UTF-8 ALL", "a SORT (REVERSE) UTF-8 ALL", "a SORT (BOGUS) UTF-8 ALL",
                            "a SORT DATE UTF-8 ALL", "a SORT (REVERSE REVERSE DATE) UTF-8 ALL"}) {
        INFO(bad);
        REQUIRE(parse_command(std::string(bad) + "\r\n", c, e));
        CHECK_FALSE(parse_sort_criteria(c.args[0], keys, err));
    }
}

namespace {
thread_row msg(uint32_t seq, int64_t date, std::string id, std::vector<std::string> refs, std::string subject) {
    thread_row r;
    r.seq = r.id = seq;
    r.date = date;
    r.message_id = std::move(id);
    r.references = std::move(refs);
    r.subject = base_subject(subject, &r.reply);
    return r;
}
}  // namespace

TEST_CASE("imap THREAD=ORDEREDSUBJECT", "[imap]") {
    std::vector<thread_row> rows = {
        msg(1, 100, "", {}, "apple"),     msg(2, 50, "", {}, "Re: apple"), msg(3, 200, "", {}, "banana"),
        msg(4, 300, "", {}, "Re: apple"), msg(5, 10, "", {}, "cherry"),    msg(6, 250, "", {}, "re: banana"),
    };
    // threads by first date: cherry(10) apple(50: 2 then 1, 4) banana(200: 3, 6)
    CHECK(thread_orderedsubject(rows) == "(5)(2 (1)(4))(3 6)");
    CHECK(thread_orderedsubject({}) == "");
}

TEST_CASE("imap THREAD=REFERENCES", "[imap]") {
    // a simple chain and a reply to an unknown parent (dummy)
    std::vector<thread_row> rows = {
        msg(1, 10, "<a@x>", {}, "topic"),
        msg(2, 20, "<b@x>", {"<a@x>"}, "Re: topic"),
        msg(3, 30, "<c@x>", {"<a@x>", "<b@x>"}, "Re: topic"),
        msg(4, 40, "<d@x>", {"<a@x>"}, "Re: topic"),
        msg(5, 15, "<e@x>", {"<missing@x>"}, "other"),
        msg(6, 16, "<f@x>", {"<missing@x>"}, "Re: other"),
        msg(7, 5, "<g@x>", {}, "lonely"),
    };
    // 1 has children 2 (with child 3) and 4; 5 and 6 share a missing parent
    CHECK(thread_references(rows) == "(7)(1 (2 3)(4))((5)(6))");

    // no Message-ID, duplicate Message-IDs, a reference loop
    std::vector<thread_row> odd = {
        msg(1, 10, "", {}, "one"),
        msg(2, 20, "<dup@x>", {}, "two"),
        msg(3, 30, "<dup@x>", {}, "three"),
        msg(4, 40, "<l1@x>", {"<l2@x>"}, "loop"),
        msg(5, 50, "<l2@x>", {"<l1@x>"}, "loop"),
    };
    std::string t = thread_references(odd);
    for (const char* n : {"1", "2", "3", "4", "5"}) CHECK(t.find(n) != std::string::npos);
    CHECK(t.front() == '(');
    CHECK(t.back() == ')');

    // same base subject, no references: merged under a dummy
    std::vector<thread_row> subj = {msg(1, 10, "<p@x>", {}, "meeting"), msg(2, 20, "<q@x>", {}, "meeting")};
    CHECK(thread_references(subj) == "((1)(2))");
    // a reply by subject becomes the child of the original
    std::vector<thread_row> re = {msg(1, 10, "<p@x>", {}, "meeting"), msg(2, 20, "<q@x>", {}, "Re: meeting")};
    CHECK(thread_references(re) == "(1 2)");
}

TEST_CASE("imap THREAD=REFERENCES on a long hostile chain", "[imap]") {
    std::vector<thread_row> rows;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        std::vector<std::string> refs;
        if (i > 0) refs.push_back("<m" + std::to_string(i - 1) + "@x>");
        rows.push_back(msg(uint32_t(i + 1), i, "<m" + std::to_string(i) + "@x>", refs, "chain " + std::to_string(i)));
    }
    std::string t = thread_references(rows);  // must not overflow the stack
    CHECK(t.substr(0, 6) == "(1 2 3");
    CHECK(t.back() == ')');
}
