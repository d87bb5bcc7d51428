// imap_bodystructure_test.cpp - ENVELOPE, BODY and BODYSTRUCTURE for
// simple, nested multipart and message/rfc822 messages (sizes and line
// counts checked by hand against RFC 3501 7.4.2), and BODY[section] bytes.
#include <catch2/catch.hpp>

#include "imapd/bodystructure.hpp"
#include "imapd/fetch_items.hpp"
#include "imapd/parser.hpp"

using namespace tern;
using namespace tern::imap;

namespace {
const std::string simple =
    "From: \"Joe Q. Public\" <john.q.public@example.com>\r\n"
    "To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\r\n"
    "Cc: <boss@nil.test>, \"Giant; \\\"Big\\\" Box\" <sysservices@example.net>\r\n"
    "Subject: =?ISO-8859-1?Q?Caf=E9?=\r\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
    "Message-ID: <5678.21-Nov-1997@example.com>\r\n"
    "\r\n"
    "Hi.\r\n";

const std::string nested =
    "From: a@b.c\r\n"
    "Subject: nested\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--outer\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "hello\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=inner\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "plain\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "<b>x</b>\r\n"
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: message/rfc822\r\n"
    "Content-Disposition: attachment; filename=\"fwd.eml\"\r\n"
    "Content-Language: en, fr\r\n"
    "\r\n"
    "From: c@d.e\r\n"
    "Subject: inner msg\r\n"
    "\r\n"
    "inner body\r\n"
    "--outer--\r\n";

fetch_section sec(const std::string& item) {
    command c;
    parse_error e;
    REQUIRE(parse_command("a FETCH 1 " + item + "\r\n", c, e));
    fetch_request r;
    std::string err;
    REQUIRE(parse_fetch(c.args, 1, r, err));
    REQUIRE(r.sections.size() == 1);
    return r.sections[0];
}

// The bytes of BODY[spec] or "<none>".
std::string section(const std::string& msg, const std::string& item) {
    auto tree = parse_mime(msg);
    std::string built;
    std::string_view out;
    if (!section_bytes(msg, tree.root, sec(item), built, out)) return "<none>";
    return std::string(out);
}
}  // namespace

TEST_CASE("imap ENVELOPE", "[imap]") {
    auto h = parse_header(simple);
    CHECK(envelope(h) ==
          "(\"Tue, 1 Jul 2003 10:52:37 +0200\" \"=?ISO-8859-1?Q?Caf=E9?=\" "
          "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
          "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
          "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\")) "
          "((\"Mary Smith\" NIL \"mary\" \"x.test\")(NIL NIL \"jdoe\" \"example.org\")(\"Who?\" NIL \"one\" \"y.test\")) "
          "((NIL NIL \"boss\" \"nil.test\")(\"Giant; \\\"Big\\\" Box\" NIL \"sysservices\" \"example.net\")) "
          "NIL NIL \"<5678.21-Nov-1997@example.com>\")");
    // Sender and Reply-To default to From only when absent or empty; groups; no domain
    auto g = parse_header(
        "From: x@y.z\r\nSender: s@y.z\r\nReply-To:\r\nTo: team: a@b.c, d@e.f;, undisclosed-recipients:;\r\n"
        "Bcc: local\r\nIn-Reply-To: <p@q>\r\n\r\n");
    CHECK(envelope(g) ==
          "(NIL NIL ((NIL NIL \"x\" \"y.z\")) ((NIL NIL \"s\" \"y.z\")) ((NIL NIL \"x\" \"y.z\")) "
          "((NIL NIL \"team\" NIL)(NIL NIL \"a\" \"b.c\")(NIL NIL \"d\" \"e.f\")(NIL NIL NIL NIL)"
          "(NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL "
          "((NIL NIL \"local\" \"MISSING_DOMAIN\")) \"<p@q>\" NIL)");
    // 8-bit and long values become literals
    auto u = parse_header("Subject: caf\xc3\xa9\r\n\r\n");
    CHECK(envelope(u).find("{5}\r\ncaf\xc3\xa9") != std::string::npos);
}

TEST_CASE("imap BODYSTRUCTURE of a simple message", "[imap]") {
    auto t = parse_mime(simple);
    CHECK(body_structure(t.root, true) == "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)");
    CHECK(body_structure(t.root, false) == "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 5 1)");
}

TEST_CASE("imap BODYSTRUCTURE of nested multiparts and message/rfc822", "[imap]") {
    auto t = parse_mime(nested);
    const std::string inner_env =
        "(NIL \"inner msg\" ((NIL NIL \"c\" \"d.e\")) ((NIL NIL \"c\" \"d.e\")) ((NIL NIL \"c\" \"d.e\")) NIL NIL NIL NIL NIL)";
    CHECK(body_structure(t.root, true) ==
          "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)"
          "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)"
          "(\"text\" \"html\" NIL NIL NIL \"quoted-printable\" 8 1 NIL NIL NIL NIL)"
          " \"alternative\" (\"boundary\" \"inner\") NIL NIL NIL)"
          "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 45 " + inner_env +
          " (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1 NIL NIL NIL NIL) 4"
          " NIL (\"attachment\" (\"filename\" \"fwd.eml\")) (\"en\" \"fr\") NIL)"
          " \"mixed\" (\"boundary\" \"outer\") NIL NIL NIL)");
    CHECK(body_structure(t.root, false) ==
          "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 5 1)"
          "((\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 1)(\"text\" \"html\" NIL NIL NIL \"quoted-printable\" 8 1)"
          " \"alternative\")"
          "(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 45 " + inner_env +
          " (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1) 4) \"mixed\")");
    // the sizes announced are the sizes of the sections FETCH returns
    CHECK(section(nested, "BODY[1]").size() == 5);
    CHECK(section(nested, "BODY[2.2]").size() == 8);
    CHECK(section(nested, "BODY[3]").size() == 45);
    CHECK(section(nested, "BODY[3.TEXT]").size() == 10);
}

TEST_CASE("imap BODY[section] bytes", "[imap]") {
    CHECK(section(nested, "BODY[]") == nested);
    CHECK(section(nested, "BODY[1]") == "hello");
    CHECK(section(nested, "BODY[2.1]") == "plain");
    CHECK(section(nested, "BODY[2.2]") == "<b>x</b>");
    CHECK(section(nested, "BODY[3]") == "From: c@d.e\r\nSubject: inner msg\r\n\r\ninner body");
    CHECK(section(nested, "BODY[3.HEADER]") == "From: c@d.e\r\nSubject: inner msg\r\n\r\n");
    CHECK(section(nested, "BODY[3.TEXT]") == "inner body");
    CHECK(section(nested, "BODY[3.1]") == "inner body");
    CHECK(section(nested, "BODY[2.MIME]") == "Content-Type: multipart/alternative; boundary=inner\r\n\r\n");
    CHECK(section(nested, "BODY[2.2.MIME]") ==
          "Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n");
    CHECK(section(nested, "BODY[TEXT]").substr(0, 10) == "preamble\r\n");
    CHECK(section(nested, "BODY[HEADER]").substr(0, 13) == "From: a@b.c\r\n");
    CHECK(section(nested, "BODY.PEEK[HEADER.FIELDS (subject FROM)]") == "From: a@b.c\r\nSubject: nested\r\n\r\n");
    CHECK(section(nested, "BODY[HEADER.FIELDS (X-None)]") == "\r\n");
    CHECK(section(nested, "BODY[HEADER.FIELDS.NOT (From Subject MIME-Version)]") ==
          "Content-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n");
    CHECK(section(nested, "BODY[3.HEADER.FIELDS.NOT (From)]") == "Subject: inner msg\r\n\r\n");
    CHECK(section(nested, "BODY[4]") == "<none>");
    CHECK(section(nested, "BODY[1.HEADER]") == "<none>");
    CHECK(section(nested, "BODY[2.3.1]") == "<none>");
    // a single-part message: part 1 is its body, 1.MIME its header
    CHECK(section(simple, "BODY[1]") == "Hi.\r\n");
    CHECK(section(simple, "BODY[1.MIME]").substr(0, 6) == "From: ");
}

TEST_CASE("imap BODYSTRUCTURE survives broken and deep input", "[imap]") {
    std::string deep;
    for (int i = 0; i < 60; i++) deep += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" + std::to_string(i) + "\r\n";
    deep += "\r\nleaf\r\n";
    auto t = parse_mime(deep);
    std::string bs = body_structure(t.root, true);
    // balanced parentheses outside strings
    int depth = 0;
    bool q = false;
    for (size_t i = 0; i < bs.size(); i++) {
        if (q) {
            if (bs[i] == '\\') i++;
            else if (bs[i] == '"') q = false;
        } else if (bs[i] == '"') q = true;
        else if (bs[i] == '(') depth++;
        else if (bs[i] == ')') depth--;
        REQUIRE(depth >= 0);
    }
    CHECK(depth == 0);
    auto b = parse_mime("Content-Type: multipart/mixed\r\n\r\nno boundary\r\n");
    CHECK(body_structure(b.root, false).substr(0, 16) == "(\"text\" \"plain\" ");
}
