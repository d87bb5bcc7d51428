// imap_search_test.cpp - SEARCH key parsing (every RFC 3501 key, MODSEQ,
// errors) and evaluation over index data and message text (headers with
// RFC 2047 words, decoded bodies, case folding, charsets).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>

#include "imapd/format.hpp"
#include "imapd/search.hpp"

using namespace tern;
using namespace tern::imap;

namespace {

struct fixture {
    std::vector<std::string> keywords{"$Label1", "Work"};
    search_env env;
    fixture() {
        env.messages = 10;
        env.max_uid = 100;
        env.keywords = &keywords;
    }
    bool parse(const std::string& keys, search_program& p, std::string& err, const std::string& charset = "UTF-8") {
        command c;
        parse_error e;
        if (!parse_command("a SEARCH " + keys + "\r\n", c, e)) {
            err = e.reason;
            return false;
        }
        _hold.push_back(std::move(c.raw));
        _args.push_back(std::move(c.args));
        env.charset = charset;
        return parse_search(_args.back(), 0, env, p, err);
    }
    std::vector<std::unique_ptr<std::string>> _hold;
    std::vector<std::vector<arg>> _args;
};

const std::string msg =
    "From: =?UTF-8?Q?J=C3=BCrgen?= <jurgen@example.org>\r\n"
    "To: team@example.net\r\n"
    "Subject: Quarterly REPORT\r\n"
    "Date: Tue, 1 Jul 2003 10:52:37 +0200\r\n"
    "X-Tag: blue\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=b\r\n"
    "\r\n"
    "--b\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Gr=FC=DFe, the numbers are up\r\n"
    "--b\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "c2VjcmV0IGF0dGFjaG1lbnQ=\r\n"
    "--b--\r\n";

search_item item() {
    search_item m;
    m.seq = 3;
    m.uid = 42;
    m.flags = 1 | 4;  // seen, flagged
    m.keywords = 2;   // Work
    m.recent = true;
    m.size = msg.size();
    m.modseq = 17;
    m.internal_date = days_from_civil(2003, 7, 2) * 86400 + 3600;
    return m;
}

bool eval(fixture& f, const std::string& keys, const std::string& charset = "UTF-8") {
    search_program p;
    std::string err;
    INFO(keys);
    REQUIRE(f.parse(keys, p, err, charset));
    message_text t([] { return &msg; });
    auto m = item();
    int quick = search_eval_index(p.root, m);
    bool full = search_eval(p.root, m, t);
    if (quick >= 0) CHECK(bool(quick) == full);  // the index shortcut never disagrees
    return full;
}

}  // namespace

TEST_CASE("imap SEARCH keys on index data", "[imap]") {
    setenv("TZ", "UTC", 1);
    tzset();
    fixture f;
    CHECK(eval(f, "ALL"));
    CHECK(eval(f, "SEEN FLAGGED"));
    CHECK_FALSE(eval(f, "UNSEEN"));
    CHECK(eval(f, "UNANSWERED UNDELETED UNDRAFT"));
    CHECK_FALSE(eval(f, "ANSWERED"));
    CHECK(eval(f, "RECENT"));
    CHECK_FALSE(eval(f, "NEW"));  // recent but seen
    CHECK_FALSE(eval(f, "OLD"));
    CHECK(eval(f, "KEYWORD work"));
    CHECK_FALSE(eval(f, "KEYWORD $Label1"));
    CHECK_FALSE(eval(f, "KEYWORD NoSuchKeyword"));
    CHECK(eval(f, "UNKEYWORD NoSuchKeyword"));
    CHECK(eval(f, "UNKEYWORD $label1"));
    CHECK(eval(f, "3"));
    CHECK(eval(f, "1:2,3"));
    CHECK_FALSE(eval(f, "4:*"));
    CHECK(eval(f, "UID 40:50"));
    CHECK_FALSE(eval(f, "UID 1:41"));
    CHECK(eval(f, "UID 42:*"));
    CHECK(eval(f, "LARGER 10"));
    CHECK_FALSE(eval(f, "SMALLER 10"));
    CHECK(eval(f, "ON 2-Jul-2003"));
    CHECK(eval(f, "SINCE 2-Jul-2003"));
    CHECK(eval(f, "BEFORE 3-Jul-2003"));
    CHECK_FALSE(eval(f, "BEFORE 2-Jul-2003"));
    CHECK(eval(f, "MODSEQ 17"));
    CHECK_FALSE(eval(f, "MODSEQ 18"));
    CHECK(eval(f, "MODSEQ \"/flags/\\\\Seen\" all 10"));
    CHECK(eval(f, "NOT DELETED"));
    CHECK(eval(f, "OR DELETED SEEN"));
    CHECK_FALSE(eval(f, "OR DELETED DRAFT"));
    CHECK(eval(f, "(SEEN (FLAGGED RECENT))"));
    CHECK_FALSE(eval(f, "NOT (SEEN FLAGGED)"));
}

TEST_CASE("imap SEARCH keys on message text", "[imap]") {
    setenv("TZ", "UTC", 1);
    tzset();
    fixture f;
    CHECK(eval(f, "FROM jürgen"));
    CHECK(eval(f, "FROM JÜRGEN"));
    CHECK(eval(f, "FROM jurgen@example"));
    CHECK(eval(f, "TO team"));
    CHECK_FALSE(eval(f, "CC team"));
    CHECK_FALSE(eval(f, "BCC x"));
    CHECK(eval(f, "SUBJECT \"quarterly report\""));
    CHECK(eval(f, "HEADER X-Tag BLUE"));
    CHECK(eval(f, "HEADER x-tag \"\""));
    CHECK_FALSE(eval(f, "HEADER X-Missing \"\""));
    CHECK(eval(f, "BODY grüße"));
    CHECK(eval(f, "BODY \"NUMBERS ARE\""));
    CHECK_FALSE(eval(f, "BODY quarterly"));  // the subject is not the body
    CHECK(eval(f, "TEXT quarterly"));
    CHECK(eval(f, "TEXT numbers"));
    CHECK_FALSE(eval(f, "BODY secret"));  // attachments are not searched
    CHECK(eval(f, "SENTON 1-Jul-2003"));
    CHECK(eval(f, "SENTBEFORE 2-Jul-2003"));
    CHECK_FALSE(eval(f, "SENTSINCE 2-Jul-2003"));
    CHECK(eval(f, "OR BODY nothing-like-this SUBJECT report"));
    CHECK(eval(f, "NOT BODY nothing-like-this"));
    // CHARSET: the needle is converted to UTF-8 first
    CHECK(eval(f, "BODY {5}\r\nGr\xfc\xdf" "e", "ISO-8859-1"));
    // a literal holding UTF-8
    CHECK(eval(f, "FROM {7}\r\nJ\xc3\xbcrgen"));
}

TEST_CASE("imap SEARCH syntax errors", "[imap]") {
    fixture f;
    for (const char* bad : {"", "NOSUCHKEY", "FROM", "HEADER X", "SINCE 1-1-2003", "LARGER x", "OR SEEN", "NOT",
                            "UID", "UID x", "(", "()", "KEYWORD", "MODSEQ", "MODSEQ \"/x\" bogus 1", "0", "1:0"}) {
        search_program p;
        std::string err;
        INFO(bad);
        CHECK_FALSE(f.parse(bad, p, err));
        CHECK_FALSE(err.empty());
    }
    std::string many;
    for (int i = 0; i < 100; i++) many += "NOT ";
    search_program p;
    std::string err;
    CHECK_FALSE(f.parse(many + "ALL", p, err));
    CHECK(err.find("deep") != std::string::npos);
    CHECK(search_charset_ok("utf-8"));
    CHECK(search_charset_ok("US-ASCII"));
    CHECK(search_charset_ok("iso-8859-1"));
    CHECK_FALSE(search_charset_ok("x-no-such-charset"));
}

TEST_CASE("imap search folding", "[imap]") {
    CHECK(search_fold("ÄÖÜ abc XYZ") == "äöü abc xyz");
    CHECK(search_fold("ΣΟΦΊΑ") == "σοφία");
    CHECK(search_fold("ПРИВЕТ Ёж") == "привет ёж");
    CHECK(search_fold("ŁÓDŹ") == "łódź");
    CHECK(search_fold(std::string("bad\xff byte")) == std::string("bad\xff byte"));
}
