// mbox_format_test.cpp - From_ quoting (fed at every byte boundary), From_
// dates, splitting, flag headers and the content readers see.
#include <catch2/catch.hpp>

#include "lib/mailbox.hpp"
#include "lib/mbox_format.hpp"

using namespace tern::mailbox;

TEST_CASE("mboxrd quoting, whole and split at every byte", "[mailbox][mbox]") {
    struct row {
        const char* in;
        const char* out;
    };
    const row rows[] = {
        {"From me\n", ">From me\n"},
        {"a\nFrom x\nb\n", "a\n>From x\nb\n"},
        {">From x\n", ">>From x\n"},
        {">>>From y\n", ">>>>From y\n"},
        {"From\n", "From\n"},              // no space: not a From_ line
        {"FromX y\n", "FromX y\n"},
        {" From x\n", " From x\n"},
        {">Fro\n", ">Fro\n"},
        {"x From y\n", "x From y\n"},
        {"From ", ">From \n"},             // unterminated last line gets its newline
        {"abc", "abc\n"},
        {"", ""},
        {"\n\nFrom a\n\n>From b\n", "\n\n>From a\n\n>>From b\n"},
    };
    for (auto& r : rows) {
        std::string in = r.in;
        CHECK(mbox::quote(in) == r.out);
        for (size_t cut = 0; cut <= in.size(); cut++) {
            for (size_t cut2 = cut; cut2 <= in.size(); cut2++) {
                mbox::quoter q;
                std::string out;
                q.feed(std::string_view(in).substr(0, cut), out);
                q.feed(std::string_view(in).substr(cut, cut2 - cut), out);
                q.feed(std::string_view(in).substr(cut2), out);
                if (!in.empty()) q.finish(out);
                INFO("input " << in << " cut at " << cut << "," << cut2);
                CHECK(out == r.out);
            }
        }
        // Quoting then unquoting gives the message back (plus a final newline).
        std::string back = mbox::unquote(mbox::quote(in));
        CHECK(back == (in.empty() || in.back() == '\n' ? in : in + "\n"));
    }
}

TEST_CASE("From_ line dates", "[mailbox][mbox]") {
    int64_t t = 1700000000;  // Tue Nov 14 22:13:20 2023 UTC
    std::string line = mbox::from_line("alice@example.org", t);
    CHECK(line == "From alice@example.org Tue Nov 14 22:13:20 2023\n");
    CHECK(mbox::parse_from_date(line) == t);
    CHECK(mbox::from_line("", t).starts_with("From MAILER-DAEMON "));
    CHECK(mbox::from_line("a b\tc", t).starts_with("From a_b_c "));
    CHECK(mbox::parse_from_date("From x Tue Nov 14 22:13:20 PST 2023") == t);
    CHECK(mbox::parse_from_date("From x Tue Nov  4 01:02 2023") == 1699059720);
    CHECK(mbox::parse_from_date("From x") == 0);
    CHECK(mbox::parse_from_date("From x Tue Foo 14 22:13:20 2023") == 0);
}

TEST_CASE("split, analyze, present, rewrite", "[mailbox][mbox]") {
    std::string m1 = "From a Tue Nov 14 22:13:20 2023\nSubject: one\nStatus: RO\nX-Status: AF\n"
                     "X-Keywords: $Work later\n\nbody\n>From quoted\n\n";
    std::string m2 = "From b Tue Nov 14 22:13:21 2023\nSubject: two\n\nline\n\n>From inside, quoted\n";
    std::string file = m1 + m2;
    auto starts = mbox::split(file, 0);
    REQUIRE(starts.size() == 2);
    CHECK(starts[0] == 0);
    CHECK(starts[1] == m1.size());
    CHECK(mbox::split(file, 1).empty());  // must start at a From_ line

    auto i1 = mbox::analyze(m1);
    CHECK(i1.flags == (flag::seen | flag::answered | flag::flagged));
    CHECK(i1.old);
    CHECK(i1.keywords == std::vector<std::string>{"$Work", "later"});
    CHECK(i1.date == 1700000000);
    std::string p1 = mbox::present(m1);
    CHECK(p1 == "Subject: one\n\nbody\nFrom quoted\n");
    CHECK(i1.size == p1.size());
    CHECK(i1.wire_size == wire_size_of(p1));

    // A rewrite changes only the flag headers: the content and fingerprint stay.
    std::string r1 = mbox::rewrite(m1, flag::deleted | flag::draft, {"x"}, false);
    CHECK(r1.find("Status: RO") == std::string::npos);
    CHECK(r1.find("X-Status: TD\nX-Keywords: x\n\nbody") != std::string::npos);
    CHECK(r1.ends_with("\n\n"));
    CHECK(mbox::present(r1) == p1);
    auto ri = mbox::analyze(r1);
    CHECK(ri.fp == i1.fp);
    CHECK(ri.flags == (flag::deleted | flag::draft));
    CHECK_FALSE(ri.old);

    // The last message without a separator line, and a message with no header/body break.
    CHECK(mbox::present(m2) == "Subject: two\n\nline\n\nFrom inside, quoted\n");
    std::string m3 = "From c Tue Nov 14 22:13:21 2023\nSubject: only headers\n\n";
    CHECK(mbox::present(m3) == "Subject: only headers\n");
    std::string r3 = mbox::rewrite(m3, flag::seen, {}, true);
    CHECK(r3 == "From c Tue Nov 14 22:13:21 2023\nSubject: only headers\nStatus: RO\n\n");
    CHECK(mbox::present(r3) == "Subject: only headers\n");

    // Folded flag headers are removed with their continuation lines.
    std::string m4 = "From d Tue Nov 14 22:13:21 2023\nX-Keywords: a\n b\nSubject: s\n\nx\n\n";
    CHECK(mbox::present(m4) == "Subject: s\n\nx\n");
    CHECK(mbox::analyze(m4).keywords == std::vector<std::string>{"a", "b"});
}
