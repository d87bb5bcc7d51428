// smtp_client_test.cpp - the smtp-client's pure parts: reply parser and
// EHLO capabilities, the DATA encoder (CRLF, dot-stuffing, long lines), the
// protocol engine driven reply by reply, and MX selection.
#include <catch2/catch.hpp>

#include <map>

#include "lib/mime.hpp"
#include "lib/strutil.hpp"
#include "smtp-client/data.hpp"
#include "smtp-client/downgrade.hpp"
#include "smtp-client/protocol.hpp"
#include "smtp-client/reply.hpp"
#include "smtp-client/route.hpp"

using namespace tern::smtp_client;

namespace {

// Parse one complete reply from text (must be exactly one reply).
smtp_reply R(const std::string& text) {
    reply_parser p;
    size_t used = 0;
    auto st = p.feed(text, used);
    REQUIRE(st == reply_parser::status::done);
    REQUIRE(used == text.size());
    return p.take();
}

}  // namespace

// ------------------------------------------------------------------ replies

TEST_CASE("reply parser: single and multi-line replies", "[smtp_client]") {
    struct row {
        const char* in;
        int code;
        const char* enhanced;
        size_t lines;
        const char* text;
    } rows[] = {
        {"250 ok\r\n", 250, "", 1, "250 ok"},
        {"250\r\n", 250, "", 1, "250"},
        {"220 mx.example.net ESMTP\n", 220, "", 1, "220 mx.example.net ESMTP"},
        {"250 2.1.5 Ok\r\n", 250, "2.1.5", 1, "250 2.1.5 Ok"},
        {"550-5.1.1 no such\r\n550 5.1.1 user\r\n", 550, "5.1.1", 2, "550-5.1.1 no such 550 5.1.1 user"},
        {"451 4.3.0 try later\r\n", 451, "4.3.0", 1, "451 4.3.0 try later"},
        {"550 4.1.1 class mismatch\r\n", 550, "", 1, "550 4.1.1 class mismatch"},
        {"250-a\r\n250-b\r\n250 c\r\n", 250, "", 3, "250-a 250-b 250 c"},
        {"421 4.4.2\r\n", 421, "4.4.2", 1, "421 4.4.2"},
        {"554 5.7.1 bad\x01\r\n", 554, "5.7.1", 1, "554 5.7.1 bad?"},
    };
    for (const auto& r : rows) {
        std::string in = r.in;
        // whole, and cut at every byte boundary
        for (size_t cut = 0; cut <= in.size(); ++cut) {
            reply_parser p;
            size_t used1 = 0, used2 = 0;
            auto st = p.feed(std::string_view(in).substr(0, cut), used1);
            if (st != reply_parser::status::done) {
                REQUIRE(st == reply_parser::status::need_more);
                REQUIRE(used1 == cut);
                st = p.feed(std::string_view(in).substr(cut), used2);
            }
            INFO(r.in << " cut at " << cut);
            REQUIRE(st == reply_parser::status::done);
            CHECK(used1 + used2 == in.size());
            auto rep = p.take();
            CHECK(rep.code == r.code);
            CHECK(rep.enhanced == r.enhanced);
            CHECK(rep.lines.size() == r.lines);
            CHECK(rep.text() == r.text);
        }
    }
}

TEST_CASE("reply parser: stops after one reply, leaves the rest", "[smtp_client]") {
    reply_parser p;
    std::string in = "250 first\r\n354 go on\r\n";
    size_t used = 0;
    REQUIRE(p.feed(in, used) == reply_parser::status::done);
    CHECK(used == 11);
    CHECK(p.take().code == 250);
    REQUIRE(p.feed(std::string_view(in).substr(used), used) == reply_parser::status::done);
    CHECK(p.take().code == 354);
}

TEST_CASE("reply parser: errors", "[smtp_client]") {
    struct row {
        std::string in;
        const char* why;
    } rows[] = {
        {"25 x\r\n", "malformed"},
        {"abc\r\n", "malformed"},
        {"250x ok\r\n", "malformed"},
        {"150 x\r\n", "out of range"},
        {"650 x\r\n", "out of range"},
        {"250-a\r\n251 b\r\n", "changed"},
        {"250 " + std::string(5000, 'x') + "\r\n", "longer than"},
        {"250 " + std::string(5000, 'x'), "longer than"},
    };
    for (const auto& r : rows) {
        reply_parser p;
        size_t used = 0;
        INFO(r.in.substr(0, 20));
        CHECK(p.feed(r.in, used) == reply_parser::status::error);
        CHECK(p.error().find(r.why) != std::string::npos);
    }
    // line count limit
    reply_parser p(100, 3);
    size_t used = 0;
    CHECK(p.feed("250-a\r\n250-b\r\n250-c\r\n250 d\r\n", used) == reply_parser::status::error);
    // a line of exactly the limit is fine, with or without CR
    reply_parser q(10, 5);
    CHECK(q.feed("250 678901\r\n", used) == reply_parser::status::done);
    q.take();
    CHECK(q.feed("250 6789012\r\n", used) == reply_parser::status::error);
}

TEST_CASE("enhanced status codes", "[smtp_client]") {
    struct row {
        const char* text;
        int klass;
        const char* want;
    } rows[] = {
        {"5.1.1 no", 5, "5.1.1"},   {"5.1.1", 5, "5.1.1"},     {"4.7.0 later", 4, "4.7.0"},
        {"2.0.0 Ok", 2, "2.0.0"},   {"5.1.10 nullmx", 5, "5.1.10"}, {"5.123.999 x", 5, "5.123.999"},
        {"5.1.1 no", 4, ""},        {"3.0.0 x", 3, ""},        {"5.1 x", 5, ""},
        {"5.1.1x", 5, ""},          {"5..1 x", 5, ""},         {"5.1234.1 x", 5, ""},
        {"no code", 5, ""},         {"", 5, ""},
    };
    for (auto r : rows) {
        INFO(r.text);
        CHECK(enhanced_code_prefix(r.text, r.klass) == r.want);
    }
    CHECK(R("550 x\r\n").dsn() == "5.0.0");
    CHECK(R("451 x\r\n").dsn() == "4.0.0");
    CHECK(R("354 x\r\n").dsn() == "4.0.0");
    CHECK(R("250 x\r\n").dsn() == "2.0.0");
}

TEST_CASE("EHLO capabilities", "[smtp_client]") {
    auto c = parse_ehlo(R("250-mx.example.net hello\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-starttls\r\n"
                          "250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250-AUTH PLAIN login\r\n250-AUTH=CRAM-MD5\r\n"
                          "250-ENHANCEDSTATUSCODES\r\n250 CHUNKING\r\n"));
    CHECK(c.esmtp);
    CHECK(c.greeting_name == "mx.example.net");
    CHECK(c.pipelining);
    CHECK(c.size);
    CHECK(c.size_limit == 1000);
    CHECK(c.starttls);
    CHECK(c.eightbitmime);
    CHECK(c.dsn);
    CHECK(c.smtputf8);
    CHECK(c.chunking);
    CHECK(c.auth == std::vector<std::string>{"PLAIN", "LOGIN", "CRAM-MD5"});
    auto m = parse_ehlo(R("250-mx\r\n250 SIZE\r\n"));
    CHECK(m.size);
    CHECK(m.size_limit == 0);
    CHECK_FALSE(m.pipelining);
    CHECK_FALSE(m.dsn);
    auto one = parse_ehlo(R("250 mx.example.net\r\n"));
    CHECK(one.greeting_name == "mx.example.net");
    CHECK_FALSE(one.starttls);
}

// ------------------------------------------------------------------ DATA encoding

TEST_CASE("data encoder: CRLF, dot-stuffing, line breaking", "[smtp_client]") {
    struct row {
        std::string in;
        size_t limit;
        std::string out;
    } rows[] = {
        {"", 998, ".\r\n"},
        {"a\n", 998, "a\r\n.\r\n"},
        {"a", 998, "a\r\n.\r\n"},
        {"a\nb", 998, "a\r\nb\r\n.\r\n"},
        {"a\r\nb\r\n", 998, "a\r\nb\r\n.\r\n"},
        {".\n", 998, "..\r\n.\r\n"},
        {".a\n..b\nc.\n", 998, "..a\r\n...b\r\nc.\r\n.\r\n"},
        {"x\n.\n", 998, "x\r\n..\r\n.\r\n"},
        {"x\r.\r\n", 998, "x\r\n..\r\n.\r\n"},          // bare CR ends a line too
        {"x\n.\r\ny", 998, "x\r\n..\r\ny\r\n.\r\n"},
        {"a\r\rb", 998, "a\r\n\r\nb\r\n.\r\n"},
        {"\n\n", 998, "\r\n\r\n.\r\n"},
        {"\xc3\xa9t\xc3\xa9\n", 998, "\xc3\xa9t\xc3\xa9\r\n.\r\n"},
        {std::string(50, 'x') + "\n", 40, std::string(40, 'x') + "\r\n " + std::string(10, 'x') + "\r\n.\r\n"},
        {std::string(80, 'x'), 40, std::string(40, 'x') + "\r\n " + std::string(39, 'x') + "\r\n x\r\n.\r\n"},
        {std::string(40, 'x') + "\n", 40, std::string(40, 'x') + "\r\n.\r\n"},
        {"." + std::string(45, 'x') + "\n", 40, ".." + std::string(38, 'x') + "\r\n " + std::string(7, 'x') + "\r\n.\r\n"},
        {std::string(2000, 'y') + "\n", 0, std::string(2000, 'y') + "\r\n.\r\n"},
    };
    for (const auto& r : rows) {
        for (size_t cut = 0; cut <= r.in.size(); ++cut) {
            INFO("input " << tern::printable(r.in) << " cut at " << cut);
            data_encoder e(r.limit);
            std::string out;
            e.feed(std::string_view(r.in).substr(0, cut), out);
            e.feed(std::string_view(r.in).substr(cut), out);
            e.finish(out);
            CHECK(out == r.out);
        }
        // one byte at a time
        data_encoder e(r.limit);
        std::string out;
        for (char c : r.in) e.feed(std::string_view(&c, 1), out);
        e.finish(out);
        CHECK(out == r.out);
    }
    CHECK(has_8bit("caf\xc3\xa9"));
    CHECK_FALSE(has_8bit("plain ascii\r\n"));
}

TEST_CASE("data encoder: no line of the output can end the data early", "[smtp_client]") {
    // every combination of CR, LF and "." of length up to 6
    const char alphabet[] = {'\r', '\n', '.', 'x'};
    for (int len = 1; len <= 6; ++len) {
        int total = 1;
        for (int i = 0; i < len; ++i) total *= 4;
        for (int n = 0; n < total; ++n) {
            std::string in;
            for (int i = 0, v = n; i < len; ++i, v /= 4) in += alphabet[v % 4];
            data_encoder e;
            std::string out;
            e.feed(in, out);
            e.finish(out);
            INFO(tern::printable(in));
            // ends with exactly one terminator, nothing like it before
            REQUIRE(out.size() >= 3);
            CHECK(out.substr(out.size() - 3) == ".\r\n");
            std::string head = "\r\n" + out.substr(0, out.size() - 3);
            CHECK(head.find("\r\n.\r\n") == std::string::npos);
            // only CRLF pairs: no bare CR or LF
            for (size_t i = 0; i < out.size(); ++i) {
                if (out[i] == '\r') CHECK((i + 1 < out.size() && out[i + 1] == '\n'));
                if (out[i] == '\n') CHECK((i > 0 && out[i - 1] == '\r'));
            }
        }
    }
}

// ------------------------------------------------------------------ protocol engine

namespace {

// Records what the engine asks for; the test plays the server.
struct fake_io : protocol_io {
    std::vector<std::string> writes;  // each write() call
    std::chrono::seconds timer{0};
    int tls_started = 0, bodies = 0, ready = 0, done = 0, failed = 0;
    session_failure failure;
    protocol* p = nullptr;
    bool auto_body = true;  // call body_sent() at once

    void write(std::string_view d) override { writes.emplace_back(d); }
    void expect_reply(std::chrono::seconds t) override { timer = t; }
    void start_tls() override { ++tls_started; }
    void send_body() override {
        ++bodies;
        if (auto_body) p->body_sent();
    }
    void session_ready() override { ++ready; }
    void transaction_done() override { ++done; }
    void session_failed(const session_failure& f) override {
        ++failed;
        failure = f;
    }
    // everything written since the last call
    std::string take() {
        std::string all;
        for (auto& w : writes) all += w;
        writes.clear();
        return all;
    }
};

struct fixture {
    fake_io io;
    session_settings s;
    std::unique_ptr<protocol> p;
    std::vector<recipient> rcpts;
    transaction tx;

    explicit fixture(tls_level tls = tls_level::none) {
        s.helo_name = "mail.a.test";
        s.destination = "b.test";
        s.tls = tls;
        s.t.rcpt = std::chrono::seconds(301);
        s.t.mail = std::chrono::seconds(302);
        s.t.data_done = std::chrono::seconds(601);
    }
    void make() {
        p = std::make_unique<protocol>(io, s, "mx.b.test", "127.0.0.3");
        io.p = p.get();
    }
    void say(const std::string& reply) { p->reply(R(reply)); }
    // connect, greet, EHLO with the given capability lines
    void establish(const std::string& caps) {
        make();
        p->connected();
        CHECK(io.timer == s.t.helo);
        say("220 mx.b.test ESMTP\r\n");
        CHECK(io.take() == "EHLO mail.a.test\r\n");
        say("250-mx.b.test\r\n" + caps + "250 HELP\r\n");
    }
    void add(const std::string& addr, const std::string& notify = "", const std::string& orcpt = "") {
        recipient r;
        r.addr = addr;
        r.notify = notify;
        r.orcpt = orcpt;
        rcpts.push_back(r);
    }
    transaction& make_tx(const std::string& sender = "alice@a.test") {
        tx = transaction();
        tx.sender = sender;
        for (auto& r : rcpts) tx.rcpts.push_back(&r);
        return tx;
    }
};

}  // namespace

TEST_CASE("engine: pipelined transaction with per-recipient results", "[smtp_client]") {
    fixture f;
    f.establish("250-PIPELINING\r\n250-SIZE 100000\r\n250-8BITMIME\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n");
    CHECK(f.io.ready == 1);
    CHECK(f.p->idle());
    f.add("bob@b.test", "SUCCESS,FAILURE", "rfc822;Bob@B.test");
    f.add("nobody@b.test");
    f.add("later@b.test", "never");
    auto& tx = f.make_tx();
    tx.size = 1234;
    tx.body_8bitmime = true;
    tx.ret = "hdrs";
    tx.envid = "id+1 x";
    REQUIRE(f.p->begin(tx));
    // one group, DATA last, written at once
    REQUIRE(f.io.writes.size() == 1);
    CHECK(f.io.take() ==
          "MAIL FROM:<alice@a.test> SIZE=1234 BODY=8BITMIME RET=HDRS ENVID=id+2B1+20x\r\n"
          "RCPT TO:<bob@b.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob@B.test\r\n"
          "RCPT TO:<nobody@b.test>\r\n"
          "RCPT TO:<later@b.test> NOTIFY=NEVER\r\n"
          "DATA\r\n");
    CHECK(f.io.timer == f.s.t.mail);
    f.say("250 2.1.0 Ok\r\n");
    CHECK(f.io.timer == f.s.t.rcpt);
    CHECK(f.p->where() == stage::rcpt);
    f.say("250 2.1.5 Ok\r\n");
    f.say("550 5.1.1 <nobody@b.test>: Recipient address rejected\r\n");
    f.say("451 4.3.0 try later\r\n");
    CHECK(f.io.bodies == 0);
    f.say("354 End data with <CR><LF>.<CR><LF>\r\n");
    CHECK(f.io.bodies == 1);
    CHECK(f.io.timer == f.s.t.data_done);
    f.say("250 2.0.0 Ok: queued as ABC\r\n");
    CHECK(f.io.done == 1);
    CHECK(f.p->idle());
    auto& r = f.rcpts;
    CHECK(r[0].final);
    CHECK(r[0].res.dsn == "2.0.0");
    CHECK(r[0].res.action == "delivered");
    CHECK(r[0].res.text == "host mx.b.test[127.0.0.3] said: 250 2.0.0 Ok: queued as ABC (in reply to end of DATA command)");
    CHECK(r[1].final);
    CHECK(r[1].res.dsn == "5.1.1");
    CHECK(r[1].res.action == "failed");
    CHECK(r[1].res.text == "host mx.b.test[127.0.0.3] said: 550 5.1.1 <nobody@b.test>: Recipient address rejected "
                           "(in reply to RCPT TO command)");
    CHECK(r[1].res.mta == "mx.b.test");
    CHECK(r[1].res.diag == "smtp; 550 5.1.1 <nobody@b.test>: Recipient address rejected");
    CHECK_FALSE(r[2].final);
    CHECK(r[2].res.dsn == "4.3.0");
    CHECK(r[2].res.action == "deferred");
    CHECK(r[2].res.text == "host mx.b.test[127.0.0.3] said: 451 4.3.0 try later (in reply to RCPT TO command)");
    CHECK(f.p->transactions() == 1);
}

TEST_CASE("engine: without PIPELINING one command at a time", "[smtp_client]") {
    fixture f;
    f.establish("");
    f.add("a@b.test", "SUCCESS");
    f.add("b@b.test");
    auto& tx = f.make_tx("");
    tx.size = 10;
    tx.ret = "FULL";
    REQUIRE(f.p->begin(tx));
    // no SIZE, DSN or BODY without the extensions; the null sender is <>
    CHECK(f.io.take() == "MAIL FROM:<>\r\n");
    f.say("250 ok\r\n");
    CHECK(f.io.take() == "RCPT TO:<a@b.test>\r\n");
    CHECK(f.io.timer == f.s.t.rcpt);
    f.say("250 ok\r\n");
    CHECK(f.io.take() == "RCPT TO:<b@b.test>\r\n");
    f.say("250 ok\r\n");
    CHECK(f.io.take() == "DATA\r\n");
    CHECK(f.io.timer == f.s.t.data_init);
    f.say("354 go\r\n");
    CHECK(f.io.bodies == 1);
    f.say("250 queued\r\n");
    // NOTIFY=SUCCESS to a server without DSN: "relayed"
    CHECK(f.rcpts[0].res.action == "relayed");
    CHECK(f.rcpts[0].res.dsn == "2.0.0");
    CHECK(f.rcpts[1].res.action == "delivered");
    CHECK(f.io.done == 1);
}

TEST_CASE("engine: no recipient accepted", "[smtp_client]") {
    SECTION("pipelined: DATA refused, then RSET") {
        fixture f;
        f.establish("250-PIPELINING\r\n");
        f.add("x@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        f.io.take();
        f.say("250 ok\r\n");
        f.say("550 5.1.1 no\r\n");
        f.say("554 5.5.1 no valid recipients\r\n");
        CHECK(f.io.take() == "RSET\r\n");
        CHECK(f.io.done == 0);
        f.say("250 ok\r\n");
        CHECK(f.io.done == 1);
        CHECK(f.rcpts[0].res.dsn == "5.1.1");  // its own reply, not DATA's
        CHECK(f.p->idle());
    }
    SECTION("pipelined: 354 anyway, only the dot is sent") {
        fixture f;
        f.establish("250-PIPELINING\r\n");
        f.add("x@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        f.io.take();
        f.say("250 ok\r\n");
        f.say("550 5.1.1 no\r\n");
        f.say("354 go ahead\r\n");
        CHECK(f.io.bodies == 0);
        CHECK(f.io.take() == ".\r\n");
        f.say("554 no recipients\r\n");
        CHECK(f.io.take() == "RSET\r\n");
        f.say("250 ok\r\n");
        CHECK(f.io.done == 1);
        CHECK(f.rcpts[0].res.dsn == "5.1.1");
    }
    SECTION("not pipelined: no DATA, RSET") {
        fixture f;
        f.establish("");
        f.add("x@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        CHECK(f.io.take() == "MAIL FROM:<alice@a.test>\r\n");
        f.say("250 ok\r\n");
        f.io.take();
        f.say("450 4.2.0 mailbox busy\r\n");
        CHECK(f.io.take() == "RSET\r\n");
        f.say("250 ok\r\n");
        CHECK(f.io.done == 1);
        CHECK(f.rcpts[0].res.dsn == "4.2.0");
        CHECK_FALSE(f.rcpts[0].final);
    }
}

TEST_CASE("engine: MAIL FROM refused", "[smtp_client]") {
    for (bool pipelining : {true, false}) {
        fixture f;
        f.establish(pipelining ? "250-PIPELINING\r\n" : "");
        f.add("a@b.test");
        f.add("b@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        f.io.take();
        f.say("553 5.7.1 sender rejected\r\n");
        if (pipelining) {
            f.say("503 5.5.1 need MAIL\r\n");
            f.say("503 5.5.1 need MAIL\r\n");
            CHECK(f.io.done == 0);
            f.say("503 5.5.1 need RCPT\r\n");
        }
        CHECK(f.io.take() == "");  // no RSET: the server holds no transaction
        CHECK(f.io.done == 1);
        for (auto& r : f.rcpts) {
            CHECK(r.final);
            CHECK(r.res.dsn == "5.7.1");
            CHECK(r.res.text == "host mx.b.test[127.0.0.3] said: 553 5.7.1 sender rejected (in reply to MAIL FROM command)");
        }
    }
}

TEST_CASE("engine: DATA and end-of-data failures", "[smtp_client]") {
    SECTION("451 to DATA") {
        fixture f;
        f.establish("250-PIPELINING\r\n");
        f.add("a@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        f.say("250 ok\r\n");
        f.say("250 ok\r\n");
        f.io.take();
        f.say("451 4.3.0 not now\r\n");
        CHECK(f.io.take() == "RSET\r\n");
        f.say("250 ok\r\n");
        CHECK(f.rcpts[0].res.text == "host mx.b.test[127.0.0.3] said: 451 4.3.0 not now (in reply to DATA command)");
        CHECK_FALSE(f.rcpts[0].final);
    }
    SECTION("552 after the body") {
        fixture f;
        f.establish("");
        f.add("a@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        f.say("250 ok\r\n");
        f.say("250 ok\r\n");
        f.say("354 go\r\n");
        f.say("552-5.3.4 message\r\n552 5.3.4 too big\r\n");
        CHECK(f.rcpts[0].final);
        CHECK(f.rcpts[0].res.dsn == "5.3.4");
        CHECK(f.rcpts[0].res.text ==
              "host mx.b.test[127.0.0.3] said: 552-5.3.4 message 552 5.3.4 too big (in reply to end of DATA command)");
        CHECK(f.io.done == 1);
    }
}

TEST_CASE("engine: EHLO refused falls back to HELO", "[smtp_client]") {
    fixture f;
    f.make();
    f.p->connected();
    f.say("220 old.b.test SMTP\r\n");
    CHECK(f.io.take() == "EHLO mail.a.test\r\n");
    f.say("502 5.5.2 what?\r\n");
    CHECK(f.io.take() == "HELO mail.a.test\r\n");
    f.say("250 old.b.test\r\n");
    CHECK(f.io.ready == 1);
    CHECK_FALSE(f.p->caps().esmtp);
    f.add("a@b.test", "SUCCESS");
    auto& tx = f.make_tx();
    tx.body_8bitmime = true;
    tx.size = 5;
    REQUIRE(f.p->begin(tx));
    CHECK(f.io.take() == "MAIL FROM:<alice@a.test>\r\n");
}

TEST_CASE("engine: greeting and handshake failures", "[smtp_client]") {
    struct row {
        const char* greeting;
        bool skip_5xx;
        const char* dsn;
        const char* text;
    } rows[] = {
        {"421 4.3.2 busy\r\n", true, "4.3.2", "host mx.b.test[127.0.0.3] refused to talk to me: 421 4.3.2 busy"},
        {"554 5.7.1 go away\r\n", true, "4.7.1", "host mx.b.test[127.0.0.3] refused to talk to me: 554 5.7.1 go away"},
        {"554 go away\r\n", false, "5.0.0", "host mx.b.test[127.0.0.3] refused to talk to me: 554 go away"},
    };
    for (auto r : rows) {
        fixture f;
        f.s.skip_5xx_greeting = r.skip_5xx;
        f.make();
        f.p->connected();
        f.say(r.greeting);
        CHECK(f.io.failed == 1);
        CHECK(f.io.failure.res.dsn == r.dsn);
        CHECK(f.io.failure.res.text == r.text);
        CHECK(f.p->dead());
        CHECK(f.io.take() == "");
    }
    // 4xx to EHLO: no HELO, the session fails softly
    fixture f;
    f.make();
    f.p->connected();
    f.say("220 x\r\n");
    f.io.take();
    f.say("421 4.7.0 bye\r\n");
    CHECK(f.io.failed == 1);
    CHECK(f.io.failure.res.soft());
    CHECK(f.io.failure.res.text == "host mx.b.test[127.0.0.3] said: 421 4.7.0 bye (in reply to EHLO command)");
}

TEST_CASE("engine: mail that would loop back", "[smtp_client]") {
    fixture f;
    f.make();
    f.p->connected();
    f.say("220 mail.a.test ESMTP\r\n");
    f.io.take();
    f.say("250-MAIL.A.TEST\r\n250 PIPELINING\r\n");
    CHECK(f.io.failed == 1);
    CHECK(f.io.failure.res.dsn == "5.4.6");
    CHECK(f.io.failure.res.text == "mail for b.test loops back to myself");
}

TEST_CASE("engine: STARTTLS", "[smtp_client]") {
    SECTION("may: offered, handshake, EHLO again, capabilities from the second EHLO") {
        fixture f(tls_level::may);
        f.establish("250-STARTTLS\r\n");
        CHECK(f.io.ready == 0);
        CHECK(f.io.take() == "STARTTLS\r\n");
        CHECK(f.io.timer == f.s.t.starttls);
        f.say("220 2.0.0 go ahead\r\n");
        CHECK(f.io.tls_started == 1);
        CHECK(f.p->where() == stage::tls_handshake);
        f.p->tls_done(true, "");
        CHECK(f.p->tls_active());
        CHECK(f.io.take() == "EHLO mail.a.test\r\n");
        f.say("250-mx.b.test\r\n250 PIPELINING\r\n");
        CHECK(f.io.take() == "");  // no second STARTTLS
        CHECK(f.io.ready == 1);
        CHECK(f.p->caps().pipelining);
        CHECK_FALSE(f.p->caps().starttls);
    }
    SECTION("may: not offered, plaintext") {
        fixture f(tls_level::may);
        f.establish("");
        CHECK(f.io.ready == 1);
        CHECK(f.io.take() == "");
    }
    SECTION("may: refused, plaintext") {
        fixture f(tls_level::may);
        f.establish("250-STARTTLS\r\n");
        f.io.take();
        f.say("454 4.7.0 TLS not available\r\n");
        CHECK(f.io.ready == 1);
        CHECK_FALSE(f.p->tls_active());
    }
    SECTION("may: handshake fails, retry without TLS") {
        fixture f(tls_level::may);
        f.establish("250-STARTTLS\r\n");
        f.say("220 go\r\n");
        f.p->tls_done(false, "wrong version number");
        CHECK(f.io.failed == 1);
        CHECK(f.io.failure.retry_plaintext);
        CHECK(f.io.failure.res.soft());
        CHECK(f.io.failure.res.text == "TLS handshake with mx.b.test[127.0.0.3] failed: wrong version number");
    }
    SECTION("may, plaintext only: STARTTLS not tried") {
        fixture f(tls_level::may);
        f.s.plaintext_only = true;
        f.establish("250-STARTTLS\r\n");
        CHECK(f.io.take() == "");
        CHECK(f.io.ready == 1);
    }
    SECTION("none: STARTTLS ignored") {
        fixture f(tls_level::none);
        f.establish("250-STARTTLS\r\n");
        CHECK(f.io.take() == "");
        CHECK(f.io.ready == 1);
    }
    SECTION("encrypt: not offered") {
        fixture f(tls_level::encrypt);
        f.establish("250-PIPELINING\r\n");
        CHECK(f.io.failed == 1);
        CHECK(f.io.failure.res.dsn == "4.7.4");
        CHECK(f.io.failure.res.text == "TLS is required, but was not offered by host mx.b.test[127.0.0.3]");
        CHECK_FALSE(f.io.failure.retry_plaintext);
    }
    SECTION("encrypt: refused") {
        fixture f(tls_level::encrypt);
        f.establish("250-STARTTLS\r\n");
        f.say("454 4.7.0 no\r\n");
        CHECK(f.io.failed == 1);
        CHECK(f.io.failure.res.dsn == "4.7.4");
    }
    SECTION("verify: handshake fails, no plaintext retry") {
        fixture f(tls_level::verify);
        f.establish("250-STARTTLS\r\n");
        f.say("220 go\r\n");
        f.p->tls_done(false, "certificate verify failed");
        CHECK(f.io.failed == 1);
        CHECK_FALSE(f.io.failure.retry_plaintext);
        CHECK(f.io.failure.res.dsn == "4.7.5");
    }
    SECTION("encrypt without a TLS context") {
        fixture f(tls_level::encrypt);
        f.s.tls_available = false;
        f.establish("250-STARTTLS\r\n");
        CHECK(f.io.failed == 1);
        CHECK(f.io.failure.res.dsn == "4.7.5");
    }
}

TEST_CASE("engine: timeouts and lost connections", "[smtp_client]") {
    SECTION("timeout while sending RCPT TO") {
        fixture f;
        f.establish("250-PIPELINING\r\n");
        f.add("a@b.test");
        f.add("b@b.test");
        f.add("c@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        f.say("250 ok\r\n");
        f.say("550 5.1.1 no such user\r\n");
        f.say("250 ok\r\n");
        f.p->timed_out();
        CHECK(f.io.failed == 1);
        CHECK(f.rcpts[0].res.dsn == "5.1.1");  // keeps its own answer
        CHECK(f.rcpts[0].final);
        for (int i : {1, 2}) {
            CHECK_FALSE(f.rcpts[i].final);
            CHECK(f.rcpts[i].res.dsn == "4.4.2");
            CHECK(f.rcpts[i].res.text == "conversation with mx.b.test[127.0.0.3] timed out while sending RCPT TO");
        }
        CHECK_FALSE(f.io.failure.before_any_reply);
    }
    SECTION("greeting never comes") {
        fixture f;
        f.make();
        f.p->connected();
        f.p->timed_out();
        CHECK(f.io.failure.res.text ==
              "conversation with mx.b.test[127.0.0.3] timed out while receiving the initial server greeting");
        CHECK(f.io.failure.before_any_reply);
    }
    SECTION("lost after the body") {
        fixture f;
        f.establish("");
        f.add("a@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        f.say("250 ok\r\n");
        f.say("250 ok\r\n");
        f.say("354 go\r\n");
        f.p->lost("lost connection");
        CHECK(f.rcpts[0].res.text == "lost connection with mx.b.test[127.0.0.3] while sending end of data -- "
                                     "message may be sent more than once");
        CHECK(f.rcpts[0].res.dsn == "4.4.2");
    }
    SECTION("malformed reply") {
        fixture f;
        f.make();
        f.p->connected();
        f.p->bad_reply("malformed reply: \"hello\"");
        CHECK(f.io.failure.res.dsn == "4.5.0");
        CHECK(f.io.failure.res.text == "host mx.b.test[127.0.0.3] sent a malformed reply while receiving the "
                                       "initial server greeting: malformed reply: \"hello\"");
    }
    SECTION("an idle session closed by the server") {
        fixture f;
        f.establish("");
        f.say("421 4.4.2 idle timeout\r\n");
        CHECK(f.io.failed == 1);
        CHECK(f.io.failure.res.soft());
    }
}

TEST_CASE("engine: refusals before MAIL FROM", "[smtp_client]") {
    SECTION("SIZE limit") {
        fixture f;
        f.establish("250-SIZE 1000\r\n");
        f.add("a@b.test");
        auto& tx = f.make_tx();
        tx.size = 1001;
        CHECK_FALSE(f.p->begin(tx));
        CHECK(f.io.take() == "");
        CHECK(f.rcpts[0].final);
        CHECK(f.rcpts[0].res.dsn == "5.3.4");
        CHECK(f.rcpts[0].res.text == "message size 1001 exceeds size limit 1000 of server mx.b.test[127.0.0.3]");
        CHECK(f.p->idle());
    }
    SECTION("SMTPUTF8 needed, not offered") {
        fixture f;
        f.establish("250-8BITMIME\r\n");
        f.add("j\xc3\xb6rg@b.test");
        auto& tx = f.make_tx();
        tx.smtputf8 = true;
        tx.utf8_needed = true;
        CHECK_FALSE(f.p->begin(tx));
        CHECK(f.rcpts[0].res.dsn == "5.6.7");
        CHECK(f.rcpts[0].res.action == "failed");
    }
    SECTION("SMTPUTF8 asked for, offered") {
        fixture f;
        f.establish("250-SMTPUTF8\r\n");
        f.add("j\xc3\xb6rg@b.test");
        auto& tx = f.make_tx();
        tx.smtputf8 = true;
        tx.utf8_needed = true;
        CHECK(f.p->begin(tx));
        CHECK(f.io.take() == "MAIL FROM:<alice@a.test> SMTPUTF8\r\n");
    }
    SECTION("SMTPUTF8 asked for but not needed, not offered: sent without") {
        fixture f;
        f.establish("");
        f.add("a@b.test");
        auto& tx = f.make_tx();
        tx.smtputf8 = true;
        CHECK(f.p->begin(tx));
        CHECK(f.io.take() == "MAIL FROM:<alice@a.test>\r\n");
    }
    SECTION("addresses that could smuggle commands") {
        fixture f;
        f.establish("250-PIPELINING\r\n");
        f.add("a@b.test>\r\nRSET");
        f.add("good@b.test");
        REQUIRE(f.p->begin(f.make_tx()));
        CHECK(f.io.take() == "MAIL FROM:<alice@a.test>\r\nRCPT TO:<good@b.test>\r\nDATA\r\n");
        CHECK(f.rcpts[0].res.dsn == "5.1.3");
        fixture g;
        g.establish("");
        g.add("ok@b.test");
        CHECK_FALSE(g.p->begin(g.make_tx("x\r\nQUIT")));
        CHECK(g.rcpts[0].res.dsn == "5.1.7");
    }
}

TEST_CASE("engine: 452 too many recipients and a second transaction", "[smtp_client]") {
    fixture f;
    f.establish("250-PIPELINING\r\n");
    f.add("a@b.test");
    f.add("b@b.test");
    auto& tx = f.make_tx();
    REQUIRE(f.p->begin(tx));
    f.io.take();
    f.say("250 ok\r\n");
    f.say("250 ok\r\n");
    f.say("452 4.5.3 too many recipients\r\n");
    f.say("354 go\r\n");
    f.say("250 ok\r\n");
    CHECK(f.rcpts[0].final);
    CHECK_FALSE(f.rcpts[1].final);
    CHECK(f.rcpts[1].retry_now);
    // the same session carries the next transaction: only b is sent
    REQUIRE(f.p->begin(tx));
    CHECK(f.io.take() == "MAIL FROM:<alice@a.test>\r\nRCPT TO:<b@b.test>\r\nDATA\r\n");
    f.say("250 ok\r\n");
    f.say("250 ok\r\n");
    f.say("354 go\r\n");
    f.say("250 2.0.0 second\r\n");
    CHECK(f.rcpts[1].final);
    CHECK(f.rcpts[1].res.text.find("second") != std::string::npos);
    CHECK(f.p->transactions() == 2);
    CHECK(f.io.done == 2);
}

TEST_CASE("engine: a cached session is checked with RSET", "[smtp_client]") {
    fixture f;
    f.establish("");
    CHECK(f.io.ready == 1);
    f.p->reset();
    CHECK(f.io.take() == "RSET\r\n");
    CHECK(f.io.timer == f.s.t.rset);
    f.say("250 2.0.0 ok\r\n");
    CHECK(f.io.ready == 2);
    f.p->reset();
    f.p->lost("lost connection");
    CHECK(f.io.failed == 1);
    CHECK(f.io.failure.before_any_reply);
    CHECK(f.io.failure.res.text == "lost connection with mx.b.test[127.0.0.3] while sending RSET");
}

TEST_CASE("engine: QUIT", "[smtp_client]") {
    fixture f;
    f.establish("");
    f.p->quit();
    CHECK(f.io.take() == "QUIT\r\n");
    CHECK(f.p->dead());
    f.p->lost("x");  // nothing more is reported
    CHECK(f.io.failed == 0);
}

// ------------------------------------------------------------------ routing

TEST_CASE("next hop syntax", "[smtp_client]") {
    struct row {
        const char* in;
        bool ok;
        const char* host;
        int port;
        bool no_mx;
        bool literal;
    } rows[] = {
        {"example.net", true, "example.net", 0, false, false},
        {"Example.NET.", true, "example.net", 0, false, false},
        {"example.net:2525", true, "example.net", 2525, false, false},
        {"[mx.example.net]", true, "mx.example.net", 0, true, false},
        {"[mx.example.net]:587", true, "mx.example.net", 587, true, false},
        {"[192.0.2.1]:25", true, "192.0.2.1", 25, true, true},
        {"[192.0.2.1]", true, "192.0.2.1", 0, true, true},
        {"192.0.2.1", true, "192.0.2.1", 0, true, true},
        {"127.0.0.3:2025", true, "127.0.0.3", 2025, true, true},
        {"[2001:db8::1]", true, "2001:db8::1", 0, true, true},
        {"[ipv6:2001:DB8:0::1]:25", true, "2001:db8::1", 25, true, true},
        {"[::1]:2525", true, "::1", 2525, true, true},
        {"2001:db8::1", false, "", 0, false, false},
        {"[mx.example.net", false, "", 0, false, false},
        {"[mx.example.net]x", false, "", 0, false, false},
        {"example.net:", false, "", 0, false, false},
        {"example.net:0", false, "", 0, false, false},
        {"example.net:65536", false, "", 0, false, false},
        {"example.net:2x", false, "", 0, false, false},
        {"", false, "", 0, false, false},
        {"bad host", false, "", 0, false, false},
        {"bad\r\nhost", false, "", 0, false, false},
        {"[]", false, "", 0, false, false},
    };
    for (auto r : rows) {
        std::string err;
        auto n = parse_nexthop(r.in, err);
        INFO(r.in);
        REQUIRE(n.has_value() == r.ok);
        if (!r.ok) {
            CHECK_FALSE(err.empty());
            continue;
        }
        CHECK(n->host == r.host);
        CHECK(n->port == r.port);
        CHECK(n->no_mx == r.no_mx);
        CHECK(n->ip_literal == r.literal);
    }
}

TEST_CASE("MX order: preference first, equal preferences shuffled", "[smtp_client]") {
    std::mt19937 rng(12345);
    std::map<std::string, int> first;
    for (int round = 0; round < 400; ++round) {
        std::vector<mx_entry> mx = {{20, "c"}, {10, "a1"}, {10, "a2"}, {30, "d"}, {10, "a3"}, {20, "b"}};
        order_mx(mx, rng);
        REQUIRE(mx.size() == 6);
        for (size_t i = 1; i < mx.size(); ++i) REQUIRE(mx[i - 1].preference <= mx[i].preference);
        CHECK(mx[5].host == "d");
        first[mx[0].host]++;
    }
    // each of the three best hosts comes first about a third of the time
    REQUIRE(first.size() == 3);
    for (auto& [h, n] : first) {
        INFO(h);
        CHECK(n > 80);
        CHECK(n < 190);
    }
}

TEST_CASE("address order and families", "[smtp_client]") {
    std::mt19937 rng(7);
    std::vector<std::string> both = {"192.0.2.1", "2001:db8::1", "192.0.2.2", "2001:db8::2"};
    auto v4 = order_addresses(both, addr_pref::any, families{true, false}, rng);
    CHECK(v4.size() == 2);
    for (auto& a : v4) CHECK_FALSE(is_ipv6(a));
    auto v6 = order_addresses(both, addr_pref::any, families{false, true}, rng);
    CHECK(v6.size() == 2);
    for (auto& a : v6) CHECK(is_ipv6(a));
    for (int i = 0; i < 20; ++i) {
        auto p6 = order_addresses(both, addr_pref::ipv6, families{}, rng);
        REQUIRE(p6.size() == 4);
        CHECK(is_ipv6(p6[0]));
        CHECK(is_ipv6(p6[1]));
        CHECK_FALSE(is_ipv6(p6[2]));
        auto p4 = order_addresses(both, addr_pref::ipv4, families{}, rng);
        CHECK_FALSE(is_ipv6(p4[0]));
        CHECK_FALSE(is_ipv6(p4[1]));
    }
    CHECK(parse_families({"all"}).v4);
    CHECK(parse_families({"all"}).v6);
    CHECK_FALSE(parse_families({"ipv4"}).v6);
    CHECK_FALSE(parse_families({"ipv6"}).v4);
    auto f = parse_families({"ipv4", "ipv6"});
    CHECK((f.v4 && f.v6));
    addr_pref ap;
    CHECK(parse_addr_pref("IPv6", ap));
    CHECK(ap == addr_pref::ipv6);
    CHECK_FALSE(parse_addr_pref("both", ap));
}

TEST_CASE("candidate servers", "[smtp_client]") {
    std::vector<resolved_host> hosts = {
        {10, "mx1.b.test", {"127.0.0.3", "::1"}},
        {20, "mx2.b.test", {"127.0.0.4"}},
        {20, "mx3.b.test", {"127.0.0.3", "127.0.0.5"}},  // 127.0.0.3 again: tried once
        {30, "mx4.b.test", {}},
    };
    auto c = make_candidates(hosts, 0, {}, {});
    REQUIRE(c.servers.size() == 4);
    CHECK(c.servers[0].host == "mx1.b.test");
    CHECK(c.servers[0].addr == "127.0.0.3");
    CHECK(c.servers[1].addr == "::1");
    CHECK(c.servers[2].host == "mx2.b.test");
    CHECK(c.servers[3].addr == "127.0.0.5");
    CHECK_FALSE(c.found_self);
    // limit
    CHECK(make_candidates(hosts, 2, {}, {}).servers.size() == 2);
    // this system is mx2 (by name): mx2 and everything as bad or worse is dropped
    auto s = make_candidates(hosts, 0, {"MX2.b.test"}, {});
    CHECK(s.found_self);
    REQUIRE(s.servers.size() == 2);
    CHECK(s.servers[1].addr == "::1");
    // this system is the best MX (by address): nothing left, the mail would loop
    auto l = make_candidates(hosts, 0, {}, {"127.0.0.3"});
    CHECK(l.found_self);
    CHECK(l.servers.empty());
    // numeric addresses
    CHECK(numeric_address("[127.0.0.1]") == std::string("127.0.0.1"));
    CHECK(numeric_address("ipv6:0:0::1") == std::string("::1"));
    CHECK_FALSE(numeric_address("mx.b.test"));
    CHECK_FALSE(numeric_address("300.1.1.1"));
}

// ------------------------------------------------------------------ 8BITMIME downgrade

TEST_CASE("downgrade: a message without MIME headers", "[smtp_client]") {
    std::string in = "Subject: x\nFrom: a@b\n\ncaf\xc3\xa9 = ok \n.dot\n";
    std::string out = downgrade_8bit(in);
    CHECK(out ==
          "MIME-Version: 1.0\nSubject: x\nFrom: a@b\nContent-Transfer-Encoding: quoted-printable\n\n"
          "caf=C3=A9 =3D ok=20\n.dot\n");
}

TEST_CASE("downgrade: MIME leaves, multiparts and embedded messages", "[smtp_client]") {
    std::string body8 = "Gr\xc3\xbc\xc3\x9f" + std::string(100, 'e') + "\nzweite Zeile \xe2\x82\xac\n";
    std::string in =
        "MIME-Version: 1.0\n"
        "Content-Type: multipart/mixed; boundary=\"BB\"\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "preamble\n"
        "--BB\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n" + body8 +
        "--BB\n"
        "Content-Type: text/plain\n"
        "\n"
        "plain ascii\n"
        "--BB\n"
        "Content-Type: application/octet-stream\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "AAAA\xff\n"
        "--BB\n"
        "Content-Type: message/rfc822\n"
        "Content-Transfer-Encoding: 8bit\n"
        "\n"
        "Subject: inner\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "inner \xc3\xa9\n"
        "--BB--\n";
    std::string out = downgrade_8bit(in);
    INFO(out);
    // the outer multipart and the message/rfc822 part are relabelled 7bit
    CHECK(out.find("boundary=\"BB\"\nContent-Transfer-Encoding: 7bit\n") != std::string::npos);
    CHECK(out.find("Content-Type: message/rfc822\nContent-Transfer-Encoding: 7bit\n") != std::string::npos);
    // the 8-bit leaf is quoted-printable, with lines of at most 76
    auto tree = tern::parse_mime(out);
    REQUIRE(tree.root.children.size() == 4);
    const auto& leaf = tree.root.children[0];
    CHECK(leaf.encoding == "quoted-printable");
    std::string_view enc = leaf.body_range().in(out);
    CHECK_FALSE(has_8bit(enc));
    for (auto& line : tern::split_char(enc, '\n')) CHECK(line.size() <= 76);
    CHECK(tern::qp_decode(enc) + "\n" == body8);
    // the ASCII part is untouched, the broken base64 part left as it was
    CHECK(tree.root.children[1].body_range().in(out) == "plain ascii");
    CHECK(out.find("AAAA\xff\n") != std::string::npos);
    // the embedded message's body got its own header field
    const auto* inner = tree.root.children[3].embedded();
    REQUIRE(inner != nullptr);
    CHECK(inner->encoding == "quoted-printable");
    CHECK(inner->body_range().in(out) == "inner =C3=A9");
    // no MIME-Version added twice
    CHECK(out.find("MIME-Version") == out.rfind("MIME-Version"));
    // nothing 8-bit left outside the (deliberately untouched) base64 part
    std::string rest = out;
    rest.erase(rest.find("AAAA\xff"), 5);
    CHECK_FALSE(has_8bit(rest));
}
