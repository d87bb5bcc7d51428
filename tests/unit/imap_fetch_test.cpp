// imap_fetch_test.cpp - FETCH item parsing: macros, every item, sections
// with partial ranges, labels echoed in responses, modifiers, and errors.
#include <catch2/catch.hpp>

#include "imapd/fetch_items.hpp"

using namespace tern::imap;

namespace {
bool parse(const std::string& items, fetch_request& r, std::string& err, command& hold) {
    parse_error e;
    if (!parse_command("a FETCH 1 " + items + "\r\n", hold, e)) {
        err = e.reason;
        return false;
    }
    return parse_fetch(hold.args, 1, r, err);
}
}  // namespace

TEST_CASE("imap FETCH items", "[imap]") {
    command hold;
    fetch_request r;
    std::string err;
    REQUIRE(parse("ALL", r, err, hold));
    CHECK((r.flags && r.internaldate && r.size && r.envelope && !r.body));
    CHECK(r.needs() == 1);
    REQUIRE(parse("FAST", r, err, hold));
    CHECK((r.flags && !r.envelope));
    CHECK(r.needs() == 0);
    REQUIRE(parse("FULL", r, err, hold));
    CHECK(r.body);
    CHECK(r.needs() == 2);
    REQUIRE(parse("(UID FLAGS MODSEQ RFC822.SIZE INTERNALDATE)", r, err, hold));
    CHECK(r.needs() == 0);
    CHECK_FALSE(r.sets_seen());
    REQUIRE(parse("(BODY.PEEK[HEADER.FIELDS (From To)] BODYSTRUCTURE)", r, err, hold));
    REQUIRE(r.sections.size() == 1);
    CHECK(r.sections[0].label == "BODY[HEADER.FIELDS (From To)]");
    CHECK(r.sections[0].peek);
    CHECK(r.sections[0].fields == std::vector<std::string>{"From", "To"});
    CHECK_FALSE(r.sets_seen());
    REQUIRE(parse("BODY[1.2.MIME]<10.20>", r, err, hold));
    CHECK(r.sections[0].part == "1.2");
    CHECK(r.sections[0].what == fetch_section::spec::mime);
    CHECK(r.sections[0].partial);
    CHECK(r.sections[0].offset == 10);
    CHECK(r.sections[0].length == 20);
    CHECK(r.sections[0].label == "BODY[1.2.MIME]<10>");
    CHECK(r.sets_seen());
    REQUIRE(parse("(RFC822 RFC822.HEADER RFC822.TEXT body[text] BODY[])", r, err, hold));
    REQUIRE(r.sections.size() == 5);
    CHECK(r.sections[0].label == "RFC822");
    CHECK_FALSE(r.sections[0].peek);
    CHECK(r.sections[1].peek);  // RFC822.HEADER does not set \Seen
    CHECK(r.sections[2].what == fetch_section::spec::text);
    CHECK(r.sections[3].label == "BODY[TEXT]");
    CHECK(r.sections[4].label == "BODY[]");
    REQUIRE(parse("BODY.PEEK[3.HEADER.FIELDS.NOT (\"X-A\" x-b)]", r, err, hold));
    CHECK(r.sections[0].what == fetch_section::spec::header_fields_not);
    CHECK(r.sections[0].label == "BODY[3.HEADER.FIELDS.NOT (X-A x-b)]");
    REQUIRE(parse("(FLAGS) (CHANGEDSINCE 12345 VANISHED)", r, err, hold));
    CHECK(r.changedsince == 12345u);
    CHECK(r.vanished);
    CHECK(r.modseq);
}

TEST_CASE("imap FETCH item errors", "[imap]") {
    for (const char* bad : {"", "()", "NOSUCH", "(FLAGS NOSUCH)", "(ALL)", "BODY[NOSUCH]", "BODY[1.MIME.TEXT]",
                            "BODY[MIME]", "BODY[0]", "BODY[1.]", "BODY[]<x>", "BODY[]<1>", "BODY[]<1.0>",
                            "BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]", "BODY[HEADER.FIELDS (a:b)]",
                            "BINARY[1]", "FLAGS junk", "FLAGS (CHANGEDSINCE)", "FLAGS (VANISHED)", "FLAGS (BOGUS 1)"}) {
        command hold;
        fetch_request r;
        std::string err;
        INFO(bad);
        CHECK_FALSE(parse(bad, r, err, hold));
        CHECK_FALSE(err.empty());
    }
}
