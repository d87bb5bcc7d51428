// qmgr_bounce_test.cpp - delivery status notifications: the RFC 3464
// structure, RET=FULL/HDRS, the size limit, SMTPUTF8 types, header folding,
// hostile result texts, and the NOTIFY rules.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "qmgr/bounce.hpp"

using namespace tern::qmgr;

namespace {

const char* kOriginal =
    "From: Carol <carol@example.org>\n"
    "To: nobody@example.net\n"
    "Subject: hello\n"
    "Message-ID: <m1@example.org>\n"
    "\n"
    "Body line one.\n"
    "From the start of a line.\n";

dsn_input base_input() {
    dsn_input in;
    in.kind = dsn_kind::failure;
    in.reporting_mta = "mail.example.test";
    in.from = "MAILER-DAEMON@mail.example.test";
    in.to = "carol@example.org";
    in.message_id = "20250101.ABCDEF@mail.example.test";
    in.queue_id = "0ABCDEFGHI";
    in.original_sender = "carol@example.org";
    in.envid = "env-123";
    in.arrival = 1700000000;
    in.now = 1700000100;
    in.return_full = true;
    std::string_view orig(kOriginal);
    in.original_message = orig;
    in.original_headers = orig.substr(0, orig.find("\n\n") + 2);
    in.boundary = "tern-b-1234";
    dsn_recipient r;
    r.address = "nobody@example.net";
    r.orcpt = "rfc822;Nobody@Example.NET";
    r.action = "failed";
    r.status = "5.1.1";
    r.reason = "host mx.example.net[192.0.2.1] said: 550 5.1.1 <nobody@example.net>: no such user";
    r.remote_mta = "mx.example.net";
    r.diagnostic = "smtp; 550 5.1.1 <nobody@example.net>: no such user";
    r.last_attempt = 1700000050;
    in.rcpts.push_back(r);
    return in;
}

size_t count(const std::string& hay, const std::string& needle) {
    size_t n = 0;
    for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

std::string header_of(const std::string& msg) { return msg.substr(0, msg.find("\n\n") + 1); }

}  // namespace

TEST_CASE("dsn: failure notice structure") {
    auto in = base_input();
    auto m = compose_dsn(in);
    const std::string& t = m.text;
    CHECK_FALSE(m.eight_bit);
    auto h = header_of(t);
    CHECK(h.find("To: <carol@example.org>\n") != std::string::npos);
    CHECK(h.find("Subject: Undelivered Mail Returned to Sender\n") != std::string::npos);
    CHECK(h.find("Auto-Submitted: auto-replied\n") != std::string::npos);
    CHECK(h.find("Message-ID: <20250101.ABCDEF@mail.example.test>\n") != std::string::npos);
    CHECK(h.find("Content-Type: multipart/report; report-type=delivery-status;\n\tboundary=\"tern-b-1234\"\n") !=
          std::string::npos);
    // three parts and the closing delimiter
    CHECK(count(t, "\n--tern-b-1234\n") == 3);
    CHECK(count(t, "\n--tern-b-1234--\n") == 1);
    CHECK(t.find("Content-Type: message/delivery-status\n") != std::string::npos);
    CHECK(t.find("Content-Type: message/rfc822\n") != std::string::npos);
    CHECK(t.find("Reporting-MTA: dns; mail.example.test\n") != std::string::npos);
    CHECK(t.find("Original-Envelope-Id: env-123\n") != std::string::npos);
    CHECK(t.find("Final-Recipient: rfc822; nobody@example.net\n") != std::string::npos);
    CHECK(t.find("Original-Recipient: rfc822; Nobody@Example.NET\n") != std::string::npos);
    CHECK(t.find("Action: failed\n") != std::string::npos);
    CHECK(t.find("Status: 5.1.1\n") != std::string::npos);
    CHECK(t.find("Remote-MTA: dns; mx.example.net\n") != std::string::npos);
    CHECK(t.find("Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: no such user\n") != std::string::npos);
    CHECK(t.find("Last-Attempt-Date: ") != std::string::npos);
    CHECK(t.find("Arrival-Date: ") != std::string::npos);
    // the human part names the recipient and the reason
    CHECK(t.find("<nobody@example.net> (originally <Nobody@Example.NET>): not delivered: host mx.example.net") !=
          std::string::npos);
    // the original is attached whole, body included
    CHECK(t.find("From the start of a line.\n") != std::string::npos);
    // the per-message block is separated from the recipient block by an empty line
    CHECK(t.find("Arrival-Date: ") < t.find("\n\nFinal-Recipient:"));
}

TEST_CASE("dsn: RET=HDRS and oversized messages return headers only") {
    auto in = base_input();
    in.return_full = false;
    auto t = compose_dsn(in).text;
    CHECK(t.find("Content-Type: text/rfc822-headers\n") != std::string::npos);
    CHECK(t.find("Subject: hello\n") != std::string::npos);
    CHECK(t.find("Body line one.") == std::string::npos);
    CHECK(t.find("Message-ID: <m1@example.org>\n\n--tern-b-1234--\n") != std::string::npos);

    auto big = base_input();
    big.too_large = true;
    auto tb = compose_dsn(big).text;
    CHECK(tb.find("Content-Type: text/rfc822-headers\n") != std::string::npos);
    CHECK(tb.find("Body line one.") == std::string::npos);
    CHECK(tb.find("too large to be returned in full") != std::string::npos);
}

TEST_CASE("dsn: delay, success and postmaster notices") {
    auto d = base_input();
    d.kind = dsn_kind::delay;
    d.rcpts[0].action = "delayed";
    d.rcpts[0].status = "4.4.1";
    d.rcpts[0].diagnostic.clear();
    d.rcpts[0].reason = "connect to mx.example.net[192.0.2.1]:25: Connection refused";
    d.will_retry_until = 1700432000;
    auto t = compose_dsn(d).text;
    CHECK(t.find("Subject: Delayed Mail") != std::string::npos);
    CHECK(t.find("Action: delayed\n") != std::string::npos);
    CHECK(t.find("Will-Retry-Until: ") != std::string::npos);
    std::string unfolded;
    for (size_t i = 0; i < t.size(); ++i) {
        if (t[i] == '\n' && i + 1 < t.size() && t[i + 1] == ' ') continue;
        unfolded += t[i];
    }
    CHECK(unfolded.find("Diagnostic-Code: X-Tern; connect to mx.example.net[192.0.2.1]:25: Connection refused\n") !=
          std::string::npos);
    CHECK(t.find("only a warning") != std::string::npos);

    auto s = base_input();
    s.kind = dsn_kind::success;
    s.rcpts[0].action = "relayed";
    s.rcpts[0].status = "2.0.0";
    auto ts = compose_dsn(s).text;
    CHECK(ts.find("Subject: Successful Mail Delivery Report") != std::string::npos);
    CHECK(ts.find("Action: relayed\n") != std::string::npos);
    CHECK(ts.find("does not send delivery reports") != std::string::npos);

    auto p = base_input();
    p.kind = dsn_kind::postmaster_copy;
    p.to = "postmaster";
    p.original_sender = "";
    auto tp = compose_dsn(p).text;
    CHECK(tp.find("Subject: Postmaster Copy: Undelivered Mail") != std::string::npos);
    CHECK(tp.find("To: <postmaster>\n") != std::string::npos);
}

TEST_CASE("dsn: SMTPUTF8 originals use the RFC 6533 types") {
    auto in = base_input();
    in.smtputf8 = true;
    in.rcpts[0].address = "j\xc3\xb8rn@example.net";
    in.rcpts[0].orcpt = "";
    auto m = compose_dsn(in);
    CHECK(m.eight_bit);
    CHECK(m.text.find("Content-Type: message/global-delivery-status\n") != std::string::npos);
    CHECK(m.text.find("Content-Type: message/global\n") != std::string::npos);
    CHECK(m.text.find("Final-Recipient: utf-8; j\xc3\xb8rn@example.net\n") != std::string::npos);
    CHECK(m.text.find("Content-Transfer-Encoding: 8bit\n") != std::string::npos);
}

TEST_CASE("dsn: hostile texts cannot add header fields") {
    auto in = base_input();
    in.rcpts[0].reason = "bad\r\nSubject: injected\n\nbody";
    in.rcpts[0].diagnostic = "smtp; 550 x\r\nX-Evil: 1";
    in.to = "carol@example.org>\nBcc: <victim@example.com";
    auto t = compose_dsn(in).text;
    CHECK(t.find("\nSubject: injected") == std::string::npos);
    CHECK(t.find("\nX-Evil:") == std::string::npos);
    CHECK(t.find("\nBcc:") == std::string::npos);
}

TEST_CASE("dsn: field folding") {
    CHECK(fold_field("Status", "5.1.1") == "Status: 5.1.1\n");
    std::string words;
    for (int i = 0; i < 40; ++i) words += "word" + std::to_string(i) + " ";
    auto f = fold_field("Diagnostic-Code", "smtp; " + words);
    size_t start = 0;
    while (start < f.size()) {
        size_t nl = f.find('\n', start);
        CHECK(nl - start <= 78);
        start = nl + 1;
    }
    CHECK(f.find("\n word") != std::string::npos);
    // unfolding gives back the words
    std::string unfolded;
    for (char c : f)
        if (c != '\n') unfolded += c;
    CHECK(unfolded == "Diagnostic-Code: smtp; " + words.substr(0, words.size() - 1));
    // one very long word is kept whole
    std::string longword(200, 'x');
    CHECK(fold_field("X", longword) == "X: " + longword + "\n");
    CHECK(fold_field("X", "a\r\nb") == "X: a b\n");
}

TEST_CASE("dsn: RFC 5322 dates") {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    CHECK(rfc5322_date(0) == "Thu, 1 Jan 1970 00:00:00 +0000");
    CHECK(rfc5322_date(1700000000) == "Tue, 14 Nov 2023 22:13:20 +0000");
    ::setenv("TZ", "CET-1", 1);
    ::tzset();
    CHECK(rfc5322_date(1700000000) == "Tue, 14 Nov 2023 23:13:20 +0100");
    ::unsetenv("TZ");
    ::tzset();
}

TEST_CASE("dsn: who gets which notice") {
    using namespace notify_bits;
    struct row {
        uint8_t notify;
        bool failure, delay_on, delay_off, success;
    } rows[] = {
        {0, true, true, false, false},
        {failure, true, false, false, false},
        {delay, false, true, true, false},
        {success, false, false, false, true},
        {uint8_t(success | failure | delay), true, true, true, true},
        {never, false, false, false, false},
    };
    for (auto r : rows) {
        INFO("notify=" << int(r.notify));
        CHECK(wants_failure_notice(r.notify) == r.failure);
        CHECK(wants_delay_notice(r.notify, true) == r.delay_on);
        CHECK(wants_delay_notice(r.notify, false) == r.delay_off);
        CHECK(wants_success_notice(r.notify) == r.success);
    }
}
