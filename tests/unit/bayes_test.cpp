// bayes_test.cpp - lib/bayes: the tokeniser (header prefixes, transfer
// encodings, charsets, HTML, 8-bit headers, CJK, limits, every prefix of a
// message), the chi-square arithmetic against hand-computed values, the
// token databases (learn, relearn, unlearn, batches, per-user files,
// corrupt files recreated) and the classifier with its snapshot cache.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "lib/bayes.hpp"
#include "lib/db.hpp"
#include "lib/fd.hpp"
#include "lib/utf8.hpp"

using namespace tern;
using namespace tern::bayes;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tern-bayes-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::set<std::string> tokens_of(std::string_view msg, const tokenizer_limits& lim = {}) {
    token_set ts(lim.max_tokens, true);
    tokenize(msg, ts, lim);
    return {ts.texts().begin(), ts.texts().end()};
}

std::string crlf(std::string_view lf) {
    std::string out;
    for (char c : lf) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

settings test_settings(const std::string& dir) {
    settings s;
    s.directory = dir + "/bayes";
    return s;
}

std::string spam_message(int i) {
    return "From: Deals <deals" + std::to_string(i) + "@cheap-pills.example>\n"
           "To: victim@example.test\n"
           "Subject: Cheap pills, best prices " + std::to_string(i) + "\n"
           "Message-ID: <s" + std::to_string(i) + "@cheap-pills.example>\n"
           "Content-Type: text/html\n\n"
           "<html><body><p>Buy cheap viagra now! Limited offer, click "
           "<a href=\"http://cheap-pills.example/buy\">here</a> for discount pharmacy.</p></body></html>\n";
}

std::string ham_message(int i) {
    return "From: Alice <alice@example.test>\n"
           "To: bob@example.test\n"
           "Subject: Meeting notes " + std::to_string(i) + "\n"
           "Message-ID: <h" + std::to_string(i) + "@example.test>\n\n"
           "Hi Bob, the quarterly planning meeting moved to Thursday. Agenda: budget review,\n"
           "hiring plan and the release schedule. Regards, Alice\n";
}

}  // namespace

// ---------------------------------------------------------------------------
// Tokeniser

TEST_CASE("tokeniser: header fields carry their field-name prefixes", "[bayes]") {
    const std::string msg =
        "Received: from mail.sender.example (mail.sender.example [192.0.2.17])\n"
        "\tby mx.example.test (tern) with ESMTP id ABC; Mon, 1 Jan 2024 00:00:00 +0000\n"
        "From: \"Jane Doe\" <Jane@Mail.Sender.Example>\n"
        "To: bob@example.test, carol@example.test\n"
        "Subject: Quarterly Report ready\n"
        "Message-ID: <1234@host.sender.example>\n"
        "X-Mailer: Frobnicator Mail 2.1\n"
        "X-Spam-Status: Yes, score=1.0\n"
        "Status: RO\n"
        "\n"
        "Hello there, the report is attached.\n";
    auto t = tokens_of(msg);
    for (const char* want :
         {"subject:quarterly", "subject:report", "subject:ready", "from:domain:mail.sender.example",
          "from:domain:sender.example", "from:addr:jane@mail.sender.example", "from:name:jane", "from:name:doe",
          "to:domain:example.test", "to:count:few", "received:mail.sender.example", "received:sender.example",
          "received:ip:192.0.2", "received:ip:192.0", "received:mx.example.test", "received:count:1",
          "message-id:@host.sender.example", "x-mailer:=frobnicator mail 2.1", "x-mailer:frobnicator",
          "ct:text/plain", "cte:7bit", "hello", "there", "the", "report", "attached"}) {
        INFO(want);
        CHECK(t.count(want) == 1);
    }
    // our own verdict headers and local mailbox state are never tokens
    for (const auto& tok : t) {
        INFO(tok);
        CHECK(tok.find("score") == std::string::npos);
        CHECK(tok.rfind("status", 0) != 0);
    }
    CHECK(t.count("yes") == 0);
}

TEST_CASE("tokeniser: base64 and quoted-printable bodies are decoded", "[bayes]") {
    const std::string msg =
        "Subject: =?iso-8859-1?Q?caf=E9_cr=E8me?=\n"
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/alternative; boundary=b1\n"
        "\n"
        "--b1\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        // "Unclaimed lottery winnings await you"
        "VW5jbGFpbWVkIGxvdHRlcnkgd2lubmluZ3MgYXdhaXQgeW91\n"
        "--b1\n"
        "Content-Type: text/plain; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "soft=\n"
        "break joined, na=EFve r=E9sum=E9\n"
        "--b1--\n";
    for (const std::string& m : {msg, crlf(msg)}) {
        auto t = tokens_of(m);
        for (const char* want : {"unclaimed", "lottery", "winnings", "await", "you", "softbreak", "joined",
                                 "na\xC3\xAFve", "r\xC3\xA9sum\xC3\xA9", "subject:caf\xC3\xA9",
                                 "subject:cr\xC3\xA8me", "ct:multipart/alternative", "cte:base64",
                                 "cte:quoted-printable", "charset:iso-8859-1", "charset:utf-8"}) {
            INFO(want);
            CHECK(t.count(want) == 1);
        }
        CHECK(t.count("VW5jbGFpbWVkIGxvdHRlcnkgd2lubmluZ3MgYXdhaXQgeW91") == 0);
    }
}

TEST_CASE("tokeniser: 8-bit header bytes become UTF-8", "[bayes]") {
    // raw latin-1 (read as windows-1252) and raw UTF-8 in unencoded headers
    const std::string msg =
        "Subject: Gr\xFC\xDF" "e aus M\xFCnchen\n"
        "From: J\xC3\xBCrgen <juergen@example.test>\n"
        "\n"
        "body\n";
    auto t = tokens_of(msg);
    CHECK(t.count("subject:gr\xC3\xBC\xC3\x9F" "e") == 1);
    CHECK(t.count("subject:m\xC3\xBCnchen") == 1);
    CHECK(t.count("from:name:j\xC3\xBCrgen") == 1);
    for (const auto& tok : t) {
        INFO(tok);
        CHECK(utf8_valid(tok));
    }
}

TEST_CASE("tokeniser: HTML is reduced to text, links kept as URL tokens", "[bayes]") {
    const std::string msg =
        "Content-Type: text/html; charset=windows-1252\n"
        "\n"
        "<html><head><style>.hidden { color: white }</style>"
        "<script>var secretword = 1;</script></head>"
        "<body><p>Exclusive V<b></b>IAGRA &amp; friends &#8364;99</p>"
        "<a href=\"http://user@www.Shop.Example.COM:8080/buy/now?id=7\">Order</a>"
        "<img src=\"http://198.51.100.7/pixel.gif\">\x93quoted\x94</body></html>\n";
    auto t = tokens_of(msg);
    for (const char* want :
         {"exclusive", "viagra", "friends", "\xE2\x82\xAC" "99", "order", "proto:http", "url:userinfo", "url:port",
          "url:www.shop.example.com", "url:shop.example.com", "url:example.com", "url:buy", "url:now", "url:ip",
          "url:ip:198.51.100", "url:pixel", "url:gif", "quoted", "ct:text/html", "charset:windows-1252"}) {
        INFO(want);
        CHECK(t.count(want) == 1);
    }
    CHECK(t.count("secretword") == 0);
    CHECK(t.count("hidden") == 0);
    CHECK(t.count("<html>") == 0);
}

TEST_CASE("tokeniser: words, punctuation, addresses, long runs, CJK", "[bayes]") {
    const std::string msg =
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "FREE!!! \"Money\", (now) $500.00 ok to be spam spam SPAM\n"
        "mail sales@Offers.Example.NET or see www.offers.example.net/deal\n"
        "aGVsbG8gd29ybGQgdGhpcyBpcyBsb25nIGVub3VnaA\n"
        "\xE6\x9C\xAA\xE6\x89\xBF\xE8\xAB\xBE\xE5\xBA\x83\xE5\x91\x8A ok\n";
    token_set ts(5000, true);
    tokenize(msg, ts);
    std::set<std::string> t(ts.texts().begin(), ts.texts().end());
    CHECK(ts.texts().size() == t.size());  // distinct
    for (const char* want : {"free!!!", "money", "now", "$500.00", "spam", "email:offers.example.net",
                             "email:example.net", "email:name:sales", "url:www.offers.example.net", "url:deal",
                             "skip:a:40", "\xE6\x9C\xAA\xE6\x89\xBF", "\xE6\x89\xBF\xE8\xAB\xBE",
                             "\xE8\xAB\xBE\xE5\xBA\x83", "\xE5\xBA\x83\xE5\x91\x8A"}) {
        INFO(want);
        CHECK(t.count(want) == 1);
    }
    CHECK(t.count("ok") == 0);  // shorter than 3 characters
    CHECK(t.count("to") == 0);
    CHECK(t.count("SPAM") == 0);  // lower-cased
}

TEST_CASE("tokeniser: quoted links, mailto queries and software versions in Received", "[bayes]") {
    struct row {
        const char* what;
        std::string msg;
        std::vector<std::string> want, never;
    };
    const std::vector<row> rows = {
        {"a quoted or bracketed link in plain text",
         "\nsee href=\"http://www.Deals.Example/Win now, <http://other.example/x> or (https://third.example)\n",
         {"proto:http", "proto:https", "url:www.deals.example", "url:deals.example", "url:win",
          "url:other.example", "url:third.example"},
         {"proto:\"http", "proto:<http", "proto:(https"}},
        {"a mailto link with a query",
         "Content-Type: text/html\n\n<a href=\"mailto:remove@lists.example.org?subject=remove&x=1\">x</a>\n",
         {"email:lists.example.org", "email:example.org", "email:name:remove"},
         {"email:lists.example.org?subject=remove&x=1", "email:example.org?subject=remove&x=1"}},
        {"an address with a query written in text", "\nmail to sales@shop.example?subject=buy today\n",
         {"email:shop.example", "email:name:sales"},
         {"email:shop.example?subject=buy"}},
        {"software versions in Received are not host names",
         "Received: from pop.example.net [192.0.2.9]\n\tby localhost with POP3 (fetchmail-5.9.0)\n"
         "\tfor k@localhost (single-drop); Wed, 04 Dec 2002 02:24:29 +0100\n"
         "Received: from relay.example.org (8.11.6/8.11.6) by mx.example.com (v4.1.40); Wed, 4 Dec 2002\n\nhi\n",
         {"received:pop.example.net", "received:example.net", "received:ip:192.0.2", "received:relay.example.org",
          "received:mx.example.com", "received:count:2"},
         {"received:fetchmail-5.9.0", "received:9.0", "received:v4.1.40", "received:1.40", "received:8.11.6",
          "received:ip:8.11"}},
    };
    for (const auto& r : rows) {
        INFO(r.what);
        auto t = tokens_of(r.msg);
        for (const auto& w : r.want) {
            INFO(w);
            CHECK(t.count(w) == 1);
        }
        for (const auto& w : r.never) {
            INFO(w);
            CHECK(t.count(w) == 0);
        }
        // tokenising again gives the same set (no state kept between calls)
        CHECK(tokens_of(r.msg) == t);
    }
}

TEST_CASE("tokeniser: limits on bytes read, tokens and token length", "[bayes]") {
    std::string msg = "Subject: limits\n\n";
    for (int i = 0; i < 3000; i++) msg += "word" + std::to_string(i) + " ";
    msg += "\nfinalmarker\n";

    tokenizer_limits lim;
    lim.max_tokens = 100;
    token_set small(lim.max_tokens, true);
    tokenize(msg, small, lim);
    CHECK(small.size() == 100);
    CHECK(small.full());

    lim = {};
    lim.max_bytes = 1024;
    auto cut = tokens_of(msg, lim);
    CHECK(cut.count("word1") == 1);
    CHECK(cut.count("word2999") == 0);
    CHECK(cut.count("finalmarker") == 0);
    CHECK(tokens_of(msg).count("finalmarker") == 1);

    token_set ts(10, true);
    CHECK_FALSE(ts.add(""));
    CHECK_FALSE(ts.add(std::string(token_set::max_token_bytes + 1, 'x')));
    CHECK(ts.add(std::string(token_set::max_token_bytes, 'x')));
    CHECK_FALSE(ts.add("bad\x01token"));
    CHECK_FALSE(ts.add("tab\there"));
    CHECK(ts.add("good"));
    CHECK_FALSE(ts.add("good"));
    CHECK(ts.size() == 2);
}

TEST_CASE("tokeniser: every prefix of a message gives well-formed tokens", "[bayes]") {
    const std::string msg =
        "Received: from a.example (a.example [192.0.2.1]) by b.example; Mon, 1 Jan 2024 00:00:00 +0000\n"
        "From: =?utf-8?B?w4lsw6huZQ==?= <e@a.example>\n"
        "Subject: =?iso-8859-1?Q?Pr=E9sentation?= \xE9t\xE9\n"
        "Content-Type: multipart/mixed; boundary=\"zz\"\n"
        "\n"
        "--zz\n"
        "Content-Type: text/html; charset=iso-8859-1\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        "<p>Caf=E9 <a href=3D\"http://x.example/p\">lien</a> \xE6\x9C\xAA\xE6\x89\xBF</p>\n"
        "--zz\n"
        "Content-Type: text/plain\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "aGVsbG8gd29ybGQ=\n"
        "--zz--\n";
    for (size_t n = 0; n <= msg.size(); n++) {
        token_set ts(5000, true);
        tokenize(std::string_view(msg).substr(0, n), ts);
        std::set<std::string> seen;
        for (const auto& tok : ts.texts()) {
            INFO("prefix " << n << ": " << tok);
            REQUIRE(!tok.empty());
            REQUIRE(tok.size() <= token_set::max_token_bytes);
            REQUIRE(utf8_valid(tok));
            REQUIRE(std::none_of(tok.begin(), tok.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }));
            REQUIRE(seen.insert(tok).second);
        }
        REQUIRE(ts.hashes().size() == ts.texts().size());
    }
    auto full = tokens_of(msg);
    CHECK(full.count("hello") == 1);
    CHECK(full.count("caf\xC3\xA9") == 1);
    CHECK(full.count("subject:pr\xC3\xA9sentation") == 1);
    CHECK(full.count("from:name:\xC3\x89l\xC3\xA8ne") == 1);
    CHECK(full.count("url:x.example") == 1);
}

TEST_CASE("token_set: hashes follow the texts; without text only hashes", "[bayes]") {
    token_set a(50, true), b(50, false);
    for (const char* w : {"alpha", "beta", "alpha", "gamma"}) {
        a.add(w);
        b.add(w);
    }
    CHECK(a.size() == 3);
    CHECK(b.size() == 3);
    CHECK(b.texts().empty());
    CHECK(a.hashes() == b.hashes());
    CHECK(a.hashes()[1] == token_hash("beta"));
    CHECK(token_hash("alpha") != token_hash("Alpha"));
    a.clear();
    CHECK(a.size() == 0);
    CHECK(a.add("alpha"));
}

// ---------------------------------------------------------------------------
// Arithmetic

TEST_CASE("chi-square tail probability against hand-computed values", "[bayes]") {
    struct row {
        double x2;
        unsigned dof;
        double want;
    };
    // Q = exp(-m) * sum_{i<k} m^i/i!, m = x2/2, k = dof/2
    const row rows[] = {
        {2, 2, std::exp(-1.0)},                     // 0.3678794
        {4, 4, 3 * std::exp(-2.0)},                 // 0.4060058
        {6, 6, 8.5 * std::exp(-3.0)},               // 0.4231901
        {10, 4, 6 * std::exp(-5.0)},                // 0.0404277
        {1, 8, std::exp(-0.5) * (1 + 0.5 + 0.125 + 0.125 / 6)},
        {0, 10, 1.0},
    };
    for (const auto& r : rows) {
        INFO("x2=" << r.x2 << " dof=" << r.dof);
        CHECK(chi2_q(r.x2, r.dof) == Approx(r.want).epsilon(1e-12));
    }
    CHECK(chi2_q(2, 2) == Approx(0.3678794412).epsilon(1e-9));
    // far tails, and large degrees of freedom where exp(-m) alone underflows
    CHECK(chi2_q(2000, 2) == 0.0);
    CHECK(chi2_q(1e-9, 2000) == Approx(1.0));
    double mid = chi2_q(3000, 3000);  // chi-square median is just below its mean
    CHECK(mid > 0.49);
    CHECK(mid < 0.5);
    CHECK(chi2_q(2600, 3000) > 0.99999);
    CHECK(chi2_q(3400, 3000) < 0.0001);
}

TEST_CASE("Robinson's f(w) against hand-computed values", "[bayes]") {
    score_params p;
    p.robs = 0.45;
    p.robx = 0.5;
    // s=3 h=1 of 10 and 10: p(w) = 0.3/0.4 = 0.75; f = (0.225 + 4*0.75)/4.45
    CHECK(token_probability({3, 1}, 10, 10, p) == Approx(3.225 / 4.45).epsilon(1e-12));
    // unequal training: s=1 of 10, h=2 of 40: p(w) = 0.1/0.15; f = (0.225 + 3*2/3)/3.45
    CHECK(token_probability({1, 2}, 10, 40, p) == Approx(2.225 / 3.45).epsilon(1e-12));
    CHECK(token_probability({0, 0}, 10, 10, p) == 0.5);
    CHECK(token_probability({0, 5}, 10, 10, p) == Approx(0.225 / 5.45).epsilon(1e-12));
    p.robx = 0.52;
    CHECK(token_probability({0, 0}, 10, 10, p) == 0.52);
    // counts beyond the message totals (global + user mismatch) stay in range
    double f = token_probability({50, 0}, 10, 10, p);
    CHECK(f > 0.99);
    CHECK(f < 1.0);
}

TEST_CASE("Fisher combining against hand-computed values", "[bayes]") {
    CHECK(combine({}) == 0.5);
    // one token: S = 1 - (1-f), H = 1 - f, score = f
    CHECK(combine({0.9}) == Approx(0.9).epsilon(1e-12));
    CHECK(combine({0.2}) == Approx(0.2).epsilon(1e-12));
    // two tokens 0.9 and 0.8:
    //   S: m = -ln(0.1*0.2) = 3.912023, Q = 0.02*(1+m) = 0.0982405, S = 0.9017595
    //   H: m = -ln(0.9*0.8) = 0.3285041, Q = 0.72*(1+m) = 0.9565230, H = 0.0434770
    //   score = (1 + S - H) / 2 = 0.9291412
    double s = 1 - 0.02 * (1 - std::log(0.02));
    double h = 1 - 0.72 * (1 - std::log(0.72));
    CHECK(combine({0.9, 0.8}) == Approx((1 + s - h) / 2).epsilon(1e-12));
    CHECK(combine({0.9, 0.8}) == Approx(0.9291412).epsilon(1e-6));
    CHECK(combine({0.1, 0.9}) == Approx(0.5).epsilon(1e-12));  // symmetric evidence
    CHECK(combine({0.01, 0.02, 0.05}) < 0.01);
    CHECK(combine({0.99, 0.98, 0.95}) > 0.99);
    // extreme and many values stay finite
    std::vector<double> many(3000, 0.999);
    CHECK(combine(many) == Approx(1.0));
    many.assign(3000, 0.0);
    CHECK(combine(many) == Approx(0.0));
}

TEST_CASE("verdicts from the cutoffs", "[bayes]") {
    score_params p;
    p.ham_cutoff = 0.2;
    p.spam_cutoff = 0.9;
    CHECK(verdict_for(0.0, p) == verdict::ham);
    CHECK(verdict_for(0.1999, p) == verdict::ham);
    CHECK(verdict_for(0.2, p) == verdict::unsure);
    CHECK(verdict_for(0.8999, p) == verdict::unsure);
    CHECK(verdict_for(0.9, p) == verdict::spam);
    CHECK(std::string(verdict_name(verdict::spam)) == "spam");
    CHECK(std::string(verdict_name(verdict::ham)) == "ham");
    CHECK(std::string(verdict_name(verdict::unsure)) == "unsure");
}

TEST_CASE("settings from main.cf: defaults and bad values", "[bayes]") {
    config cfg;
    std::vector<config_error> errors;
    cfg.parse("data_directory = /var/lib/tern-test\n", "main.cf", errors);
    REQUIRE(errors.empty());
    settings s;
    std::string err;
    REQUIRE(settings::from_config(cfg, s, err));
    CHECK(s.directory == "/var/lib/tern-test/bayes");
    CHECK(s.score.robs == 0.45);
    CHECK(s.score.robx == 0.5);
    CHECK(s.score.min_dev == 0.1);
    CHECK(s.score.spam_cutoff == 0.80);
    CHECK(s.score.ham_cutoff == 0.20);
    CHECK(s.score.max_discriminators == 60);
    CHECK(s.limits.max_bytes == 512 * 1024);
    CHECK(s.limits.max_tokens == 5000);
    CHECK(s.cache_bytes == 64u << 20);

    for (const char* bad : {"bayes_robx = 1.5\n", "bayes_robs = abc\n", "bayes_min_dev = 0.5\n",
                            "bayes_spam_cutoff = 0.1\nbayes_ham_cutoff = 0.5\n", "bayes_ham_cutoff =\n"}) {
        config c2;
        c2.parse(bad, "main.cf", errors);
        settings s2;
        INFO(bad);
        CHECK_FALSE(settings::from_config(c2, s2, err));
        CHECK_FALSE(err.empty());
    }
}

// ---------------------------------------------------------------------------
// Databases

TEST_CASE("database paths: one safe file name per user", "[bayes]") {
    CHECK(database_path("/d", "") == "/d/global.db");
    CHECK(database_path("/d", "Alice@Example.COM") == "/d/user/alice@example.com.db");
    for (const char* u : {"../../etc/passwd", "..", ".", "a/b", "x\ny", "/abs"}) {
        std::string p = database_path("/d", u);
        INFO(p);
        REQUIRE(p.rfind("/d/user/", 0) == 0);
        std::string name = p.substr(8);
        CHECK(name.find('/') == std::string::npos);
        CHECK(name[0] != '.');
        CHECK(name.find('\n') == std::string::npos);
    }
    CHECK(database_path("/d", "a/b") != database_path("/d", "a%2Fb"));  // '%' itself is encoded
    std::string longname(1000, 'a');
    std::string p = database_path("/d", longname);
    CHECK(p.size() < 250);
    CHECK(p != database_path("/d", longname + "b"));
    CHECK(p == database_path("/d", std::string(1000, 'A')));  // case does not matter, long or short
}

TEST_CASE("message identity: trace fields and line ends do not matter", "[bayes]") {
    std::string m = ham_message(1);
    CHECK(message_id(m) == message_id(crlf(m)));
    CHECK(message_id(m) == message_id("Received: from x by y; Mon, 1 Jan 2024 00:00:00 +0000\n"
                                      "X-Spam-Status: No\n" + m));
    CHECK(message_id(m) != message_id(ham_message(2)));
    std::string no_id = "Subject: x\n\nbody one\n";
    CHECK(message_id(no_id) == message_id("Subject: other\n\nbody one\n"));
    CHECK(message_id(no_id) != message_id("Subject: x\n\nbody two\n"));
}

TEST_CASE("token database: learn, already, relearn, unlearn round trips", "[bayes]") {
    temp_dir d;
    token_db db(d.path + "/t/global.db");
    auto item_for = [](const std::string& msg, message_class c, bool unlearn = false) {
        token_set ts;
        tokenize(msg, ts);
        token_db::item it;
        it.id = message_id(msg);
        it.tokens = ts.texts();
        it.cls = c;
        it.unlearn = unlearn;
        return it;
    };
    std::string err;
    // a database that does not exist reads as empty
    auto snap = db.load(err);
    REQUIRE(snap);
    CHECK(snap->size() == 0);

    std::vector<learn_outcome> out;
    REQUIRE(db.apply({item_for(spam_message(1), message_class::spam)}, out, err));
    REQUIRE(out == std::vector<learn_outcome>{learn_outcome::learned});
    snap = db.load(err);
    REQUIRE(snap);
    CHECK(snap->nspam == 1);
    CHECK(snap->nham == 0);
    counts c = snap->lookup(token_hash("viagra"));
    CHECK(c.spam == 1);
    CHECK(c.ham == 0);
    size_t tokens_after_one = snap->size();
    CHECK(tokens_after_one > 10);

    out.clear();
    REQUIRE(db.apply({item_for(spam_message(1), message_class::spam)}, out, err));
    CHECK(out == std::vector<learn_outcome>{learn_outcome::already});
    CHECK(db.load(err)->nspam == 1);

    // the same message reclassified as ham: moved, not counted twice
    out.clear();
    REQUIRE(db.apply({item_for(spam_message(1), message_class::ham)}, out, err));
    CHECK(out == std::vector<learn_outcome>{learn_outcome::relearned});
    snap = db.load(err);
    CHECK(snap->nspam == 0);
    CHECK(snap->nham == 1);
    c = snap->lookup(token_hash("viagra"));
    CHECK(c.spam == 0);
    CHECK(c.ham == 1);

    out.clear();
    REQUIRE(db.apply({item_for(spam_message(1), message_class::ham, true)}, out, err));
    CHECK(out == std::vector<learn_outcome>{learn_outcome::unlearned});
    snap = db.load(err);
    CHECK(snap->nspam == 0);
    CHECK(snap->nham == 0);
    CHECK(snap->size() == 0);  // records with no counts left are deleted
    token_db::stats st;
    REQUIRE(db.read_stats(st, err));
    CHECK(st.messages == 0);

    out.clear();
    REQUIRE(db.apply({item_for(spam_message(1), message_class::ham, true)}, out, err));
    CHECK(out == std::vector<learn_outcome>{learn_outcome::not_learned});

    // one batch naming a message twice, and several messages
    out.clear();
    REQUIRE(db.apply({item_for(spam_message(2), message_class::spam), item_for(spam_message(2), message_class::spam),
                      item_for(ham_message(1), message_class::ham), item_for(spam_message(3), message_class::ham),
                      item_for(spam_message(3), message_class::spam)},
                     out, err));
    CHECK(out == std::vector<learn_outcome>{learn_outcome::learned, learn_outcome::already, learn_outcome::learned,
                                            learn_outcome::learned, learn_outcome::relearned});
    snap = db.load(err);
    CHECK(snap->nspam == 2);
    CHECK(snap->nham == 1);
    CHECK(snap->lookup(token_hash("viagra")).spam == 2);
    CHECK(snap->lookup(token_hash("viagra")).ham == 0);
    CHECK(snap->lookup(token_hash("agenda:")).ham == 0);
    CHECK(snap->lookup(token_hash("agenda")).ham == 1);
    REQUIRE(db.read_stats(st, err));
    CHECK(st.messages == 3);
    CHECK(st.nspam == 2);
}

TEST_CASE("token database: a corrupt file is moved aside and recreated empty", "[bayes]") {
    temp_dir d;
    std::string path = d.path + "/global.db";
    token_db db(path);
    std::string err;

    SECTION("not a database at all") { REQUIRE(write_file_atomic(path, std::string(8192, 'J'), 0600)); }
    SECTION("an empty file") { REQUIRE(write_file_atomic(path, "", 0600)); }
    SECTION("a hash table instead of a btree") {
        auto b = db::builder::start(path, db::db_type::hash, 0600, err);
        REQUIRE(b);
        REQUIRE(b->put("k", "v", err));
        REQUIRE(b->commit(err));
    }
    SECTION("a btree with foreign records") {
        auto b = db::builder::start(path, db::db_type::btree, 0600, err);
        REQUIRE(b);
        REQUIRE(b->put("some", "thing that is not a count", err));
        REQUIRE(b->commit(err));
    }
    SECTION("a btree without our version record") {
        auto b = db::builder::start(path, db::db_type::btree, 0600, err);
        REQUIRE(b);
        REQUIRE(b->put("token", std::string(8, '\0'), err));
        REQUIRE(b->commit(err));
    }

    err.clear();
    CHECK_FALSE(db.load(err));
    CHECK(err.find("corrupt") != std::string::npos);
    CHECK(::access((path + ".corrupt").c_str(), F_OK) == 0);
    // recreated empty: usable at once
    err.clear();
    auto snap = db.load(err);
    REQUIRE(snap);
    CHECK(snap->size() == 0);
    CHECK(snap->nspam == 0);

    token_set ts;
    tokenize(spam_message(1), ts);
    std::vector<learn_outcome> out;
    REQUIRE(db.apply({{message_id(spam_message(1)), ts.texts(), message_class::spam, false}}, out, err));
    CHECK(db.load(err)->nspam == 1);
}

TEST_CASE("token database: training into a corrupt file fails, then works", "[bayes]") {
    temp_dir d;
    std::string path = d.path + "/global.db";
    REQUIRE(write_file_atomic(path, std::string(4096, '\x7f'), 0600));
    token_db db(path);
    std::string err;
    std::vector<learn_outcome> out;
    token_db::item it{"id1", {"tok"}, message_class::ham, false};
    CHECK_FALSE(db.apply({it}, out, err));
    CHECK(err.find("recreated empty") != std::string::npos);
    err.clear();
    REQUIRE(db.apply({it}, out, err));
    CHECK(db.load(err)->lookup(token_hash("tok")).ham == 1);
}

// ---------------------------------------------------------------------------
// The classifier

TEST_CASE("classifier: trained mail scores by class, user databases add to the global one", "[bayes]") {
    temp_dir d;
    classifier cl(test_settings(d.path));
    std::string err;
    classification r;

    // nothing trained: unsure
    REQUIRE(cl.classify(spam_message(100), "", r, err));
    CHECK(r.score == 0.5);
    CHECK(r.result == verdict::unsure);
    CHECK(r.used == 0);
    CHECK(r.tokens > 10);

    learn_outcome o;
    for (int i = 0; i < 20; i++) {
        REQUIRE(cl.learn(spam_message(i), "", message_class::spam, o, err));
        REQUIRE(cl.learn(ham_message(i), "", message_class::ham, o, err));
    }
    REQUIRE(cl.classify(spam_message(100), "", r, err));
    CHECK(r.result == verdict::spam);
    CHECK(r.score > 0.95);
    CHECK(r.nspam == 20);
    CHECK(r.nham == 20);
    CHECK(r.used > 0);
    REQUIRE(cl.classify(ham_message(100), "", r, err));
    CHECK(r.result == verdict::ham);
    CHECK(r.score < 0.05);

    // a user's own training: the user's verdict changes, the global one not
    const std::string odd =
        "From: Newsletter <news@knitting.example>\nSubject: Knitting patterns weekly\n\n"
        "Twelve knitting patterns with yarn, needles and wool this week.\n";
    REQUIRE(cl.classify(odd, "bob@example.test", r, err));
    double before = r.score;
    for (int i = 0; i < 3; i++) {
        REQUIRE(cl.learn(odd + "issue " + std::to_string(i) + "\n", "bob@example.test", message_class::spam, o,
                         err));
        CHECK(o == learn_outcome::learned);
    }
    REQUIRE(cl.classify(odd, "bob@example.test", r, err));
    CHECK(r.score > before);
    CHECK(r.nspam == 23);
    CHECK(r.result == verdict::spam);
    REQUIRE(cl.classify(odd, "", r, err));
    CHECK(r.score == before);
    REQUIRE(cl.classify(odd, "carol@example.test", r, err));
    CHECK(r.score == before);
    CHECK(::access((d.path + "/bayes/user/bob@example.test.db").c_str(), F_OK) == 0);

    // moving it out of Junk again: relearned as ham
    REQUIRE(cl.learn(odd + "issue 0\n", "bob@example.test", message_class::ham, o, err));
    CHECK(o == learn_outcome::relearned);
    REQUIRE(cl.unlearn(odd + "issue 1\n", "bob@example.test", o, err));
    CHECK(o == learn_outcome::unlearned);
    REQUIRE(cl.classify(odd, "bob@example.test", r, err));
    CHECK(r.nspam == 21);
    CHECK(r.nham == 21);
}

TEST_CASE("classifier: another process's training is seen; a corrupt database fails open once", "[bayes]") {
    temp_dir d;
    classifier reader(test_settings(d.path));
    classifier writer(test_settings(d.path));  // stands for tern-spam or another spamd
    std::string err;
    classification r;
    learn_outcome o;
    REQUIRE(writer.learn(spam_message(1), "", message_class::spam, o, err));
    REQUIRE(reader.classify(spam_message(2), "", r, err));
    CHECK(r.nspam == 1);
    REQUIRE(writer.learn(ham_message(1), "", message_class::ham, o, err));
    ::usleep(300 * 1000);  // file time stamps are coarse: a change shows within 0.2 s
    REQUIRE(reader.classify(spam_message(2), "", r, err));
    CHECK(r.nham == 1);

    // damage the file behind the reader's back
    std::string path = d.path + "/bayes/global.db";
    REQUIRE(write_file_atomic(path, std::string(10000, 'x'), 0600));
    err.clear();
    CHECK_FALSE(reader.classify(spam_message(2), "", r, err));
    CHECK(err.find("corrupt") != std::string::npos);
    err.clear();
    REQUIRE(reader.classify(spam_message(2), "", r, err));
    CHECK(r.nspam == 0);
    CHECK(r.result == verdict::unsure);
}

TEST_CASE("classifier: the user cache stays within its budget", "[bayes]") {
    temp_dir d;
    settings s = test_settings(d.path);
    s.cache_bytes = 1;  // every user database is evicted when the next is loaded
    classifier cl(s);
    std::string err;
    learn_outcome o;
    classification r;
    for (const char* u : {"a@example.test", "b@example.test", "c@example.test"})
        REQUIRE(cl.learn(spam_message(1), u, message_class::spam, o, err));
    for (int round = 0; round < 2; round++)
        for (const char* u : {"a@example.test", "b@example.test", "c@example.test"}) {
            REQUIRE(cl.classify(spam_message(2), u, r, err));
            CHECK(r.nspam == 1);
        }
    cl.flush_cache();
    REQUIRE(cl.classify(spam_message(2), "a@example.test", r, err));
    CHECK(r.nspam == 1);
}

TEST_CASE("classifier: threads classifying and training at once keep the database whole", "[bayes]") {
    temp_dir d;
    classifier cl(test_settings(d.path));
    classifier other(test_settings(d.path));
    std::atomic<int> failures{0};
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int w = 0; w < 2; w++)
        threads.emplace_back([&, w] {
            std::string err;
            learn_outcome o;
            for (int i = 0; i < 15; i++) {
                classifier& c = (i % 2) ? cl : other;
                if (!c.learn(spam_message(w * 100 + i), "", message_class::spam, o, err)) ++failures;
                if (!c.learn(ham_message(w * 100 + i), "u@example.test", message_class::ham, o, err)) ++failures;
            }
        });
    for (int r = 0; r < 2; r++)
        threads.emplace_back([&] {
            std::string err;
            classification res;
            while (!done)
                if (!cl.classify(spam_message(999), "u@example.test", res, err)) ++failures;
        });
    threads[0].join();
    threads[1].join();
    done = true;
    threads[2].join();
    threads[3].join();
    CHECK(failures == 0);
    std::string err;
    auto g = token_db(d.path + "/bayes/global.db").load(err);
    auto u = token_db(database_path(d.path + "/bayes", "u@example.test")).load(err);
    REQUIRE(g);
    REQUIRE(u);
    CHECK(g->nspam == 30);
    CHECK(u->nham == 30);
    CHECK(g->lookup(token_hash("viagra")).spam == 30);
    CHECK(::access((d.path + "/bayes/global.db.corrupt").c_str(), F_OK) != 0);
}
