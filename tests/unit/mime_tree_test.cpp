// mime_tree_test.cpp - lib/mime tree: nesting, IMAP part numbers and
// sections checked by slicing the original buffer, broken structure, limits,
// LF vs CRLF, every-byte cuts, and the decoded text of text parts.
#include <catch2/catch.hpp>

#include <string>
#include <utility>
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

const std::string big_message =
    "From: Alice <alice@example.com>\n"
    "To: Bob <bob@example.org>\n"
    "Subject: =?utf-8?Q?caf=C3=A9?= test\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\n"
    "\n"
    "This is the preamble.\n"
    "--outer\n"
    "Content-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "caf=E9 one\n"
    "--outer\n"
    "Content-Type: multipart/alternative; boundary=inner\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "plain alt\n"
    "--inner\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "PHA+aHRtbCA8Yj5hbHQ8L2I+PC9wPg==\n"
    "--inner--\n"
    "--outer\n"
    "Content-Type: message/rfc822\n"
    "Content-Description: forwarded\n"
    "Content-Disposition: inline\n"
    "\n"
    "From: Carol <carol@example.net>\n"
    "Subject: inner message\n"
    "Content-Type: multipart/mixed; boundary=\"emb\"\n"
    "\n"
    "--emb\n"
    "Content-Type: text/plain\n"
    "\n"
    "embedded text\n"
    "--emb\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"x.bin\"\n"
    "\n"
    "AAEC\n"
    "--emb--\n"
    "--outer\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: simple\n"
    "\n"
    "simple body\n"
    "line 2\n"
    "--outer\n"
    "Content-Type: image/gif\n"
    "Content-ID: <img1@example.com>\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Language: en\n"
    "Content-Location: http://example.com/img.gif\n"
    "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
    "\n"
    "R0lGODlh\n"
    "--outer--\n"
    "This is the epilogue.\n";

void collect(const mime_part& n, std::vector<const mime_part*>& out) {
    out.push_back(&n);
    for (const auto& c : n.children) collect(c, out);
}

std::vector<std::pair<std::string, std::string>> numbering(const mime_part& root) {
    std::vector<const mime_part*> all;
    collect(root, all);
    std::vector<std::pair<std::string, std::string>> out;
    for (auto p : all) out.emplace_back(p->part_number, p->type.type + "/" + p->type.subtype);
    return out;
}

// Structural invariants every tree must keep, whatever the input.
void check_node(std::string_view msg, const mime_part& root, const mime_part& n, size_t lo, size_t hi) {
    INFO("part " << n.part_number);
    CHECK(n.header_offset >= lo);
    CHECK(n.header_offset + n.header_size == n.body_offset);
    CHECK(n.body_offset + n.body_size <= hi);
    CHECK(n.header.offset == n.header_offset);
    CHECK(n.header.size == n.header_size);
    for (const auto& f : n.header.fields) {
        CHECK(f.offset >= n.header_offset);
        CHECK(f.offset + f.raw.size() <= n.body_offset);
        CHECK(msg.substr(f.offset, f.raw.size()) == f.raw);
    }
    if (n.is_multipart()) {
        size_t pos = n.body_offset;
        for (const auto& c : n.children) {
            CHECK(c.header_offset >= pos);
            CHECK(c.depth == n.depth + 1);
            pos = c.body_offset + c.body_size;
            check_node(msg, root, c, n.body_offset, n.body_offset + n.body_size);
        }
    } else if (auto e = n.embedded()) {
        CHECK(e->header_offset == n.body_offset);
        CHECK(e->body_offset + e->body_size == n.body_offset + n.body_size);
        check_node(msg, root, *e, n.body_offset, n.body_offset + n.body_size);
    } else {
        CHECK(n.children.empty());
    }
    // The number leads back to the node (a multipart message shares its
    // number with its container and is reached through HEADER/TEXT instead).
    if (!n.part_number.empty() && !(n.is_message_root && n.is_multipart())) {
        CHECK(find_part(root, n.part_number) == &n);
        auto body = imap_section(root, n.part_number);
        REQUIRE(body);
        CHECK(*body == n.body_range());
        auto mime = imap_section(root, n.part_number + ".MIME");
        REQUIRE(mime);
        CHECK(*mime == n.header_range());
    }
}

void check_tree(std::string_view msg, const mime_tree& t) {
    const mime_part& r = t.root;
    CHECK(r.header_offset == 0);
    CHECK(r.body_offset + r.body_size == msg.size());
    CHECK(r.is_message_root);
    CHECK(r.part_number == (r.is_multipart() ? "" : "1"));
    check_node(msg, r, r, 0, msg.size());
    CHECK(imap_section(r, "")->size == msg.size());
    std::vector<const mime_part*> all;
    collect(r, all);
    CHECK(all.size() == t.part_count);
}

std::string slice(std::string_view msg, const mime_part& root, std::string_view spec) {
    auto r = imap_section(root, spec);
    if (!r) return "<none>";
    return std::string(r->in(msg));
}

}  // namespace

TEST_CASE("MIME tree: nested multiparts and message/rfc822, numbering and sections", "[mime]") {
    for (bool use_crlf : {false, true}) {
        const std::string msg = use_crlf ? crlf(big_message) : big_message;
        auto E = [&](std::string_view lf) { return use_crlf ? crlf(lf) : std::string(lf); };
        INFO("crlf: " << use_crlf);
        auto t = parse_mime(msg);
        CHECK_FALSE(t.truncated);
        CHECK(t.part_count == 12);
        check_tree(msg, t);
        const mime_part& r = t.root;

        std::vector<std::pair<std::string, std::string>> expect = {
            {"", "multipart/mixed"},       {"1", "text/plain"},     {"2", "multipart/alternative"},
            {"2.1", "text/plain"},         {"2.2", "text/html"},    {"3", "message/rfc822"},
            {"3", "multipart/mixed"},      {"3.1", "text/plain"},   {"3.2", "application/octet-stream"},
            {"4", "message/rfc822"},       {"4.1", "text/plain"},   {"5", "image/gif"},
        };
        CHECK(numbering(r) == expect);

        struct row {
            const char* spec;
            const char* lf;  // expected slice with LF line ends
        } rows[] = {
            {"HEADER",
             "From: Alice <alice@example.com>\nTo: Bob <bob@example.org>\nSubject: =?utf-8?Q?caf=C3=A9?= test\n"
             "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"outer\"\n\n"},
            {"1", "caf=E9 one"},
            {"1.MIME", "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\n"},
            {"2",
             "--inner\nContent-Type: text/plain\n\nplain alt\n--inner\nContent-Type: text/html; charset=utf-8\n"
             "Content-Transfer-Encoding: base64\n\nPHA+aHRtbCA8Yj5hbHQ8L2I+PC9wPg==\n--inner--"},
            {"2.MIME", "Content-Type: multipart/alternative; boundary=inner\n\n"},
            {"2.1", "plain alt"},
            {"2.1.MIME", "Content-Type: text/plain\n\n"},
            {"2.2", "PHA+aHRtbCA8Yj5hbHQ8L2I+PC9wPg=="},
            {"3",
             "From: Carol <carol@example.net>\nSubject: inner message\nContent-Type: multipart/mixed; boundary=\"emb\"\n"
             "\n--emb\nContent-Type: text/plain\n\nembedded text\n--emb\nContent-Type: application/octet-stream\n"
             "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"x.bin\"\n\nAAEC\n--emb--"},
            {"3.MIME", "Content-Type: message/rfc822\nContent-Description: forwarded\nContent-Disposition: inline\n\n"},
            {"3.HEADER",
             "From: Carol <carol@example.net>\nSubject: inner message\nContent-Type: multipart/mixed; boundary=\"emb\"\n\n"},
            {"3.HEADER.FIELDS (FROM)",
             "From: Carol <carol@example.net>\nSubject: inner message\nContent-Type: multipart/mixed; boundary=\"emb\"\n\n"},
            {"3.TEXT",
             "--emb\nContent-Type: text/plain\n\nembedded text\n--emb\nContent-Type: application/octet-stream\n"
             "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"x.bin\"\n\nAAEC\n--emb--"},
            {"3.1", "embedded text"},
            {"3.1.MIME", "Content-Type: text/plain\n\n"},
            {"3.2", "AAEC"},
            {"4", "Subject: simple\n\nsimple body\nline 2"},
            {"4.HEADER", "Subject: simple\n\n"},
            {"4.TEXT", "simple body\nline 2"},
            {"4.1", "simple body\nline 2"},
            {"4.1.MIME", "Subject: simple\n\n"},
            {"5", "R0lGODlh"},
            {"6", "<none>"},
            {"0", "<none>"},
            {"5.1", "<none>"},
            {"1.1", "<none>"},
            {"1.HEADER", "<none>"},
            {"1.TEXT", "<none>"},
            {"3.3", "<none>"},
            {"3.1.1", "<none>"},
            {"4.2", "<none>"},
            {"4.1.1", "<none>"},
            {"MIME", "<none>"},
            {"1..1", "<none>"},
            {"1.", "<none>"},
            {".1", "<none>"},
            {"1.BOGUS", "<none>"},
            {"x", "<none>"},
        };
        for (const auto& row : rows) {
            INFO("section " << row.spec);
            CHECK(slice(msg, r, row.spec) == (std::string(row.lf) == "<none>" ? "<none>" : E(row.lf)));
        }
        CHECK(slice(msg, r, "") == msg);
        CHECK(slice(msg, r, "header") == slice(msg, r, "HEADER"));
        CHECK(slice(msg, r, "3.text") == slice(msg, r, "3.TEXT"));
        std::string text = slice(msg, r, "TEXT");
        CHECK(text.rfind(E("This is the preamble.\n--outer\n"), 0) == 0);
        CHECK(text.size() >= 22);
        CHECK(text.substr(text.size() - E("--outer--\nThis is the epilogue.\n").size()) ==
              E("--outer--\nThis is the epilogue.\n"));

        // Content fields for BODYSTRUCTURE.
        const mime_part& p1 = r.children[0];
        CHECK(p1.type.charset() == "iso-8859-1");
        CHECK(p1.encoding == "quoted-printable");
        CHECK(p1.body_lines == 1);
        CHECK(p1.header_lines == 3);
        const mime_part& p3 = r.children[2];
        CHECK(p3.description == "forwarded");
        REQUIRE(p3.disposition);
        CHECK(p3.disposition->type == "inline");
        REQUIRE(p3.embedded());
        CHECK(p3.embedded()->header.get("From") == "Carol <carol@example.net>");
        CHECK(p3.embedded()->header.get("Subject") == "inner message");
        CHECK(p3.body_lines == 15);
        const mime_part& p32 = p3.embedded()->children[1];
        REQUIRE(p32.disposition);
        CHECK(p32.disposition->type == "attachment");
        CHECK(p32.disposition->params.get("filename") == "x.bin");
        const mime_part& p4 = r.children[3];
        CHECK(p4.body_lines == 4);
        REQUIRE(p4.embedded());
        CHECK(p4.embedded()->part_number == "4.1");
        CHECK(p4.embedded()->type.defaulted);
        CHECK(p4.embedded()->body_lines == 2);
        const mime_part& p5 = r.children[4];
        CHECK(p5.id == "<img1@example.com>");
        CHECK(p5.encoding == "base64");
        CHECK(p5.language == std::vector<std::string>{"en"});
        CHECK(p5.location == "http://example.com/img.gif");
        CHECK(p5.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ==");
        CHECK_FALSE(p5.disposition);
        for (auto p : {&r, &r.children[1], p3.embedded()}) CHECK_FALSE(p->missing_end_boundary);
        CHECK(r.header.get("subject") == "=?utf-8?Q?caf=C3=A9?= test");
        CHECK(decode_header_text(r.header.first("Subject")->raw_value()) == "caf\xC3\xA9 test");
    }
}

TEST_CASE("MIME tree: LF and CRLF copies agree; bare LF counts give CRLF sizes", "[mime]") {
    const std::string lf = big_message;
    const std::string cr = crlf(big_message);
    auto a = parse_mime(lf);
    auto b = parse_mime(cr);
    std::vector<const mime_part*> na, nb;
    collect(a.root, na);
    collect(b.root, nb);
    REQUIRE(na.size() == nb.size());
    for (size_t i = 0; i < na.size(); ++i) {
        INFO("part " << na[i]->part_number);
        CHECK(na[i]->part_number == nb[i]->part_number);
        CHECK(na[i]->header_size + na[i]->header_bare_lf == nb[i]->header_size);
        CHECK(na[i]->body_size + na[i]->body_bare_lf == nb[i]->body_size);
        CHECK(na[i]->body_lines == nb[i]->body_lines);
        CHECK(na[i]->header_lines == nb[i]->header_lines);
        CHECK(nb[i]->body_bare_lf == 0);
        CHECK(nb[i]->header_bare_lf == 0);
        CHECK(crlf(na[i]->body_range().in(lf)) == nb[i]->body_range().in(cr));
    }
    // Mixed line ends in one message.
    std::string mixed = "Content-Type: multipart/mixed; boundary=b\r\n\n--b\r\n\r\none\n--b\n\ntwo\r\n--b--\r\n";
    auto m = parse_mime(mixed);
    REQUIRE(m.root.children.size() == 2);
    CHECK(m.root.children[0].body_range().in(mixed) == "one");
    CHECK(m.root.children[1].body_range().in(mixed) == "two");
    check_tree(mixed, m);
}

TEST_CASE("MIME tree: single-part and degenerate messages", "[mime]") {
    struct row {
        const char* msg;
        const char* header;
        const char* body;
        const char* type;
    } rows[] = {
        {"Subject: x\n\nhello\n", "Subject: x\n\n", "hello\n", "text/plain"},
        {"Subject: x\r\n\r\nhello", "Subject: x\r\n\r\n", "hello", "text/plain"},
        {"Subject: x", "Subject: x", "", "text/plain"},
        {"Subject: x\n", "Subject: x\n", "", "text/plain"},
        {"", "", "", "text/plain"},
        {"\n", "\n", "", "text/plain"},
        {"\nbody", "\n", "body", "text/plain"},
        {"Content-Type: text/html\n\n<p>x</p>", "Content-Type: text/html\n\n", "<p>x</p>", "text/html"},
        {"Content-Type: bogus\n\nx", "Content-Type: bogus\n\n", "x", "text/plain"},
        // multipart that has no parts: shown as text/plain
        {"Content-Type: multipart/mixed; boundary=b\n\nno parts here\n", "Content-Type: multipart/mixed; boundary=b\n\n",
         "no parts here\n", "text/plain"},
        {"Content-Type: multipart/mixed\n\n--b\n\nx\n--b--\n", "Content-Type: multipart/mixed\n\n", "--b\n\nx\n--b--\n",
         "text/plain"},
        {"Content-Type: multipart/mixed; boundary=\"\"\n\n--\n\nx\n", "Content-Type: multipart/mixed; boundary=\"\"\n\n",
         "--\n\nx\n", "text/plain"},
        {"Content-Type: multipart/mixed; boundary=b\n\n--b--\n", "Content-Type: multipart/mixed; boundary=b\n\n",
         "--b--\n", "text/plain"},
        // message/rfc822 in base64 is not parsed
        {"Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA==\n",
         "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n", "U3ViamVjdDogeA==\n",
         "message/rfc822"},
    };
    for (const auto& r : rows) {
        INFO(r.msg);
        std::string msg = r.msg;
        auto t = parse_mime(msg);
        check_tree(msg, t);
        CHECK(t.root.part_number == "1");
        CHECK(t.root.header_range().in(msg) == r.header);
        CHECK(t.root.body_range().in(msg) == r.body);
        CHECK(t.root.type.type + "/" + t.root.type.subtype == r.type);
        CHECK(slice(msg, t.root, "1") == r.body);
        CHECK(slice(msg, t.root, "1.MIME") == r.header);
        CHECK(slice(msg, t.root, "TEXT") == r.body);
        CHECK(slice(msg, t.root, "HEADER") == r.header);
        CHECK(slice(msg, t.root, "2") == "<none>");
        CHECK(slice(msg, t.root, "1.1") == "<none>");
        CHECK_FALSE(t.root.embedded());
    }
    auto h = parse_mime("Subject: x\n\nhello\nworld");
    CHECK(h.root.body_lines == 2);
    CHECK(h.root.header_lines == 2);
    CHECK(h.root.type.defaulted);
    CHECK(h.root.type.charset() == "us-ascii");
}

TEST_CASE("MIME tree: top-level message/rfc822 and digests", "[mime]") {
    std::string fwd = "Content-Type: message/rfc822\n\nSubject: in\n\nbody\n";
    auto t = parse_mime(fwd);
    check_tree(fwd, t);
    CHECK(t.root.part_number == "1");
    REQUIRE(t.root.embedded());
    CHECK(t.root.embedded()->part_number == "1.1");
    CHECK(slice(fwd, t.root, "1") == "Subject: in\n\nbody\n");
    CHECK(slice(fwd, t.root, "1.HEADER") == "Subject: in\n\n");
    CHECK(slice(fwd, t.root, "1.TEXT") == "body\n");
    CHECK(slice(fwd, t.root, "1.1") == "body\n");
    CHECK(slice(fwd, t.root, "1.1.MIME") == "Subject: in\n\n");

    std::string global = "Content-Type: message/global\n\nSubject: caf\xC3\xA9\n\nb\n";
    auto g = parse_mime(global);
    REQUIRE(g.root.embedded());
    CHECK(g.root.embedded()->header.get("Subject") == "caf\xC3\xA9");

    std::string digest =
        "Content-Type: multipart/digest; boundary=d\n\n"
        "--d\n\nSubject: m1\n\nbody1\n"
        "--d\nContent-Type: text/plain\n\nexplicit\n"
        "--d\n\nSubject: m3\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nx1\n--x--\n"
        "--d--\n";
    auto d = parse_mime(digest);
    check_tree(digest, d);
    std::vector<std::pair<std::string, std::string>> expect = {
        {"", "multipart/digest"}, {"1", "message/rfc822"}, {"1.1", "text/plain"}, {"2", "text/plain"},
        {"3", "message/rfc822"},  {"3", "multipart/mixed"}, {"3.1", "text/plain"}};
    CHECK(numbering(d.root) == expect);
    CHECK(slice(digest, d.root, "1.HEADER") == "Subject: m1\n\n");
    CHECK(slice(digest, d.root, "1.1") == "body1");
    CHECK(slice(digest, d.root, "3.1") == "x1");
    CHECK(d.root.children[0].type.defaulted);
}

TEST_CASE("MIME tree: broken boundaries", "[mime]") {
    SECTION("missing final boundary") {
        std::string m = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n";
        auto t = parse_mime(m);
        check_tree(m, t);
        REQUIRE(t.root.children.size() == 2);
        CHECK(t.root.missing_end_boundary);
        CHECK(slice(m, t.root, "1") == "one");
        CHECK(slice(m, t.root, "2") == "two\n");
    }
    SECTION("an inner multipart closed by its parent's boundary") {
        std::string m =
            "Content-Type: multipart/mixed; boundary=o\n\n"
            "--o\nContent-Type: multipart/alternative; boundary=i\n\n--i\n\nA\n--i\n\nB\n"
            "--o\n\nC\n--o--\n";
        auto t = parse_mime(m);
        check_tree(m, t);
        std::vector<std::pair<std::string, std::string>> expect = {
            {"", "multipart/mixed"}, {"1", "multipart/alternative"}, {"1.1", "text/plain"},
            {"1.2", "text/plain"},   {"2", "text/plain"}};
        CHECK(numbering(t.root) == expect);
        CHECK(t.root.children[0].missing_end_boundary);
        CHECK_FALSE(t.root.missing_end_boundary);
        CHECK(slice(m, t.root, "1.2") == "B");
        CHECK(slice(m, t.root, "2") == "C");
    }
    SECTION("an outer boundary that is a prefix of the inner one") {
        std::string m =
            "Content-Type: multipart/mixed; boundary=abc\n\n"
            "--abc\nContent-Type: multipart/mixed; boundary=abcdef\n\n--abcdef\n\nA\n--abcdef--\n"
            "--abc\n\nB\n--abc--\n";
        auto t = parse_mime(m);
        check_tree(m, t);
        REQUIRE(t.root.children.size() == 2);
        REQUIRE(t.root.children[0].children.size() == 1);
        CHECK(slice(m, t.root, "1.1") == "A");
        CHECK(slice(m, t.root, "2") == "B");
    }
    SECTION("transport padding, a boundary inside a header, empty parts") {
        std::string m =
            "Content-Type: multipart/mixed; boundary=b\n\n"
            "--b  \t\nContent-Type: text/plain\n--b\n\nsecond\n--b\n--b\n\n\n--b--  \nepilogue";
        auto t = parse_mime(m);
        check_tree(m, t);
        REQUIRE(t.root.children.size() == 4);
        CHECK(t.root.children[0].header_range().in(m) == "Content-Type: text/plain");
        CHECK(t.root.children[0].body_size == 0);
        CHECK(slice(m, t.root, "2") == "second");
        CHECK(t.root.children[2].header_size == 0);
        CHECK(t.root.children[2].body_size == 0);
        CHECK(t.root.children[3].header_range().in(m) == "\n");  // the line break before "--b--" is the boundary's
        CHECK(t.root.children[3].body_size == 0);
        CHECK_FALSE(t.root.missing_end_boundary);
        CHECK(slice(m, t.root, "TEXT").size() == m.size() - t.root.header_size);
    }
    SECTION("an embedded message cut by the boundary") {
        std::string m =
            "Content-Type: multipart/mixed; boundary=b\n\n"
            "--b\nContent-Type: message/rfc822\n\nSubject: s\n\n--b\nContent-Type: message/rfc822\n\n--b--\n";
        auto t = parse_mime(m);
        check_tree(m, t);
        REQUIRE(t.root.children.size() == 2);
        const mime_part* e = t.root.children[0].embedded();
        REQUIRE(e);
        CHECK(e->header_range().in(m) == "Subject: s\n");
        CHECK(e->body_size == 0);
        CHECK(t.root.children[1].body_size == 0);
    }
    SECTION("a delimiter line directly followed by the parent's delimiter") {
        std::string m =
            "Content-Type: multipart/mixed; boundary=o\n\n--o\nContent-Type: multipart/mixed; boundary=i\n\n"
            "--i\n\nA\n--i\n--o\n\nB\n--o--\n";
        for (const std::string& msg : {m, crlf(m)}) {
            auto t = parse_mime(msg);
            check_tree(msg, t);
            const mime_part& inner = t.root.children[0];
            REQUIRE(inner.children.size() == 2);
            CHECK(inner.children[1].header_size == 0);
            CHECK(inner.children[1].body_size == 0);
            CHECK(inner.children[1].header_offset == inner.body_offset + inner.body_size);
            CHECK(slice(msg, t.root, "1.1") == "A");
            CHECK(slice(msg, t.root, "2") == "B");
        }
    }
    SECTION("8-bit bytes in part headers") {
        std::string m =
            "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain; name=\"caf\xE9\"\n"
            "Content-Description: \xC3\xA9t\xC3\xA9\n\nx\n--b--\n";
        auto t = parse_mime(m);
        check_tree(m, t);
        REQUIRE(t.root.children.size() == 1);
        CHECK(t.root.children[0].type.params.get("name") == "caf\xC3\xA9");
        CHECK(t.root.children[0].description == "\xC3\xA9t\xC3\xA9");
    }
}

TEST_CASE("MIME tree: limits", "[mime]") {
    // Deep multipart nesting.
    std::string deep;
    for (int i = 0; i < 200; ++i) deep += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" + std::to_string(i) + "\n";
    deep += "\ninnermost\n";
    auto t = parse_mime(deep);
    CHECK(t.truncated);
    check_tree(deep, t);
    std::vector<const mime_part*> all;
    collect(t.root, all);
    size_t max_depth = 0;
    for (auto p : all) max_depth = std::max(max_depth, p->depth);
    CHECK(max_depth <= 32);

    // Deep message/rfc822 nesting.
    std::string msgs;
    for (int i = 0; i < 5000; ++i) msgs += "Content-Type: message/rfc822\n\n";
    msgs += "Subject: bottom\n\nx\n";
    mime_limits lim;
    lim.max_depth = 10;
    auto m = parse_mime(msgs, lim);
    CHECK(m.truncated);
    check_tree(msgs, m);
    all.clear();
    collect(m.root, all);
    CHECK(all.size() == 11);

    // Many parts.
    std::string many = "Content-Type: multipart/mixed; boundary=b\n\n";
    for (int i = 0; i < 20000; ++i) many += "--b\n\nx\n";
    many += "--b--\n";
    lim = {};
    lim.max_parts = 100;
    auto p = parse_mime(many, lim);
    CHECK(p.truncated);
    CHECK(p.part_count == 100);
    CHECK(p.root.children.size() == 99);
    CHECK(p.root.body_offset + p.root.body_size == many.size());
    check_tree(many, p);
    auto full = parse_mime(many);
    CHECK(full.part_count == 5000);

    // Header fields over the whole tree.
    std::string fields = "Content-Type: multipart/mixed; boundary=b\n\n";
    for (int i = 0; i < 50; ++i) {
        fields += "--b\n";
        for (int k = 0; k < 100; ++k) fields += "X-F" + std::to_string(k) + ": v\n";
        fields += "\nbody\n";
    }
    fields += "--b--\n";
    lim = {};
    lim.max_total_fields = 1000;
    auto f = parse_mime(fields, lim);
    CHECK(f.truncated);
    size_t n = 0;
    all.clear();
    collect(f.root, all);
    for (auto q : all) n += q->header.fields.size();
    CHECK(n <= 1000);
    CHECK(f.root.children.size() == 50);
    for (const auto& c : f.root.children) CHECK(c.body_range().in(fields) == "body");
}

TEST_CASE("MIME tree cut at every byte boundary", "[mime]") {
    for (const std::string& msg : {big_message, crlf(big_message)}) {
        auto full = parse_mime(msg);
        for (size_t cut = 0; cut <= msg.size(); ++cut) {
            std::string part = msg.substr(0, cut);
            INFO("cut " << cut);
            auto t = parse_mime(part);
            check_tree(part, t);
            // A cut "--outer--" reads as "--outer": at most one more (empty) part.
            CHECK(t.part_count <= full.part_count + 1);
        }
    }
}

TEST_CASE("decoded text of every text part", "[mime]") {
    std::vector<std::pair<std::string, std::string>> seen;
    for_each_text_part(big_message, parse_mime(big_message).root,
                       [&](const mime_part& p, std::string_view text) {
                           CHECK(utf8_valid(text));
                           seen.emplace_back(p.part_number, std::string(text));
                       });
    std::vector<std::pair<std::string, std::string>> expect = {
        {"1", "caf\xC3\xA9 one"}, {"2.1", "plain alt"}, {"2.2", "html alt"}, {"3.1", "embedded text"},
        {"4.1", "simple body\nline 2"}};
    CHECK(seen == expect);

    text_limits lim;
    lim.max_total_bytes = 12;
    std::string all;
    for_each_text_part(big_message, parse_mime(big_message).root,
                       [&](const mime_part&, std::string_view text) { all += text; }, lim);
    CHECK(all == "caf\xC3\xA9 onepla");
    lim.max_total_bytes = 4;
    all.clear();
    for_each_text_part(big_message, parse_mime(big_message).root,
                       [&](const mime_part&, std::string_view text) { all += text; }, lim);
    CHECK(all == "caf");  // not cut inside the two bytes of U+00E9

    std::string m =
        "Content-Type: text/plain; charset=koi8-r\nContent-Transfer-Encoding: base64\n\n8NLJ18XU\n";
    auto t = parse_mime(m);
    CHECK(part_text(m, t.root) == "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82");
    text_limits small;
    small.max_part_bytes = 4;
    CHECK(part_text(m, t.root, small) == "\xD0\x9F\xD1\x80\xD0\xB8");
}
