// cleanup_test.cpp - lib/cleanup: the end of the header (also fed a growing
// buffer cut at every byte), header facts, the Received header with TLS and
// AUTH details, RFC 3848 protocol names, dates and Message-IDs.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <ctime>

#include "lib/cleanup.hpp"

using namespace tern;

TEST_CASE("find_header_end", "[cleanup]") {
    struct row {
        std::string_view msg;
        bool found;
        size_t body, header;
        bool sep;
    } rows[] = {
        {"Subject: x\nTo: y\n\nbody\n", true, 18, 17, true},
        {"Subject: x\n folded\n\nbody\n", true, 20, 19, true},
        {"\nbody only\n", true, 1, 0, true},
        {"Subject: x\nthis is not a header\nmore\n", true, 11, 11, false},
        {"From someone Mon Jan  1\nSubject: x\n\n", true, 0, 0, false},
        {"Subject : obsolete space\n\nb\n", true, 26, 25, true},
        {"Subject: x\nTo: y\n", false, 0, 0, false},
        {"Subject: no line end", false, 0, 0, false},
        {" leading continuation\n\n", true, 0, 0, false},
    };
    for (const auto& r : rows) {
        INFO(std::string(r.msg));
        size_t pos = 0;
        auto e = find_header_end(r.msg, &pos);
        REQUIRE(e.has_value() == r.found);
        if (!r.found) continue;
        CHECK(e->body_offset == r.body);
        CHECK(e->header_size == r.header);
        CHECK(e->separator == r.sep);
        // the same answer when the buffer grows a byte at a time
        size_t p2 = 0;
        std::optional<header_end> grown;
        for (size_t n = 0; n <= r.msg.size() && !grown; ++n) grown = find_header_end(r.msg.substr(0, n), &p2);
        REQUIRE(grown);
        CHECK(grown->body_offset == r.body);
        CHECK(grown->header_size == r.header);
    }
}

TEST_CASE("scan_header counts Received and finds Message-ID, Date, From", "[cleanup]") {
    std::string h = "Received: from a\n\tby b; Mon, 1 Jan 2024 00:00:00 +0000\nreceived: from c by d\n"
                    "Message-Id: <x@y>\nDATE: Mon, 1 Jan 2024\nSubject: s\nResent-From: r@x\n";
    auto f = scan_header(h, 100000);
    CHECK(f.received == 2);
    CHECK(f.message_id);
    CHECK(f.message_id_value == "<x@y>");
    CHECK(f.date);
    CHECK_FALSE(f.from);
    CHECK(f.resent);
    auto none = scan_header("Subject: only\n", 100000);
    CHECK_FALSE(none.message_id);
    CHECK_FALSE(none.date);
    CHECK(none.received == 0);
}

TEST_CASE("with-protocol names (RFC 3848, RFC 6531)", "[cleanup]") {
    CHECK(smtp_with_protocol(false, true, true, false) == "SMTP");
    CHECK(smtp_with_protocol(true, false, false, false) == "ESMTP");
    CHECK(smtp_with_protocol(true, true, false, false) == "ESMTPS");
    CHECK(smtp_with_protocol(true, false, true, false) == "ESMTPA");
    CHECK(smtp_with_protocol(true, true, true, false) == "ESMTPSA");
    CHECK(smtp_with_protocol(true, true, true, true) == "UTF8SMTPSA");
}

TEST_CASE("make_received", "[cleanup]") {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    received_info r;
    r.helo = "client.example";
    r.client_name = "mx.example";
    r.client_addr = "192.0.2.7";
    r.tls = "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)";
    r.auth_user = "alice@example.test";
    r.by_host = "mail.example.test";
    r.mail_name = "tern";
    r.protocol = "ESMTPSA";
    r.queue_id = "HOHQS1W689";
    r.for_rcpt = "bob@example.test";
    r.when = 1700000000;
    CHECK(make_received(r) ==
          "Received: from client.example (mx.example [192.0.2.7])\n"
          "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\n"
          "\t(Authenticated sender: alice@example.test)\n"
          "\tby mail.example.test (tern) with ESMTPSA id HOHQS1W689\n"
          "\tfor <bob@example.test>; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)\n");
    // IPv6, hostile HELO text, no TLS, no AUTH, several recipients
    received_info v;
    v.helo = "evil)\r\n(x";
    v.client_name = "unknown";
    v.client_addr = "2001:db8::1";
    v.by_host = "mail.example.test";
    v.mail_name = "tern";
    v.protocol = "SMTP";
    v.queue_id = "HOHQS1W68A";
    v.when = 1700000000;
    CHECK(make_received(v) ==
          "Received: from evil????x (unknown [IPv6:2001:db8::1])\n"
          "\tby mail.example.test (tern) with SMTP id HOHQS1W68A; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)\n");
    // pickup: local submission
    received_info p;
    p.uid = 1000;
    p.by_host = "mail.example.test";
    p.mail_name = "tern";
    p.queue_id = "HOHQS1W68B";
    p.when = 1700000000;
    CHECK(make_received(p) == "Received: by mail.example.test (tern, from userid 1000)\n"
                              "\tid HOHQS1W68B; Tue, 14 Nov 2023 22:13:20 +0000 (UTC)\n");
}

TEST_CASE("dates and Message-IDs", "[cleanup]") {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    CHECK(rfc5322_date(0) == "Thu, 1 Jan 1970 00:00:00 +0000 (UTC)");
    CHECK(make_message_id("HOHQS1W689", "mail.example.test", 1700000000) ==
          "<20231114221320.HOHQS1W689@mail.example.test>");
    ::setenv("TZ", "America/New_York", 1);
    ::tzset();
    std::string d = rfc5322_date(1700000000);
    CHECK(d.find("-0500") != std::string::npos);
    ::setenv("TZ", "UTC", 1);
    ::tzset();
}
