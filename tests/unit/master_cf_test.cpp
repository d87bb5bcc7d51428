// master_cf_test.cpp - master.cf columns, -o overrides and errors.
#include <catch2/catch.hpp>

#include "lib/master_cf.hpp"

using namespace tern;

TEST_CASE("master.cf services") {
    std::vector<config_error> errs;
    auto s = parse_master_cf("# service type private unpriv chroot wakeup maxproc command\n"
                             "smtp      inet  n  -  n  -  -  smtpd\n"
                             "127.0.0.1:20587 inet n - n - 4 smtpd\n"
                             "  -o smtpd_tls_security_level=encrypt\n"
                             "  -o smtpd_sasl_auth_enable=yes -v\n"
                             "qmgr      unix  n  -  n  300? 1  qmgr\n"
                             "local     unix  -  n  n  -  -  local-delivery\n",
                             "master.cf", errs);
    REQUIRE(errs.empty());
    REQUIRE(s.size() == 4);
    CHECK(s[0].name == "smtp");
    CHECK(s[0].port() == "smtp");
    CHECK(s[0].host().empty());
    CHECK_FALSE(s[0].private_);
    CHECK(s[0].unpriv);
    CHECK(s[1].host() == "127.0.0.1");
    CHECK(s[1].port() == "20587");
    CHECK(s[1].maxproc == 4);
    CHECK(s[1].line == 3);
    REQUIRE(s[1].overrides.size() == 2);
    CHECK(s[1].overrides[0] == std::make_pair(std::string("smtpd_tls_security_level"), std::string("encrypt")));
    CHECK(s[1].args == std::vector<std::string>{"-v"});
    CHECK(s[2].wakeup == 300);
    CHECK(s[2].maxproc == 1);
    CHECK_FALSE(s[3].unpriv);
    CHECK(s[3].command == "local-delivery");
}

TEST_CASE("master.cf errors name the line") {
    struct row {
        const char* text;
        const char* why;
    } rows[] = {
        {"smtp inet n - n - - \n", "expected 8"},
        {"smtp tcp n - n - - smtpd\n", "unsupported type"},
        {"99999 inet n - n - - smtpd\n", "bad port"},
        {"smtp inet x - n - - smtpd\n", "private"},
        {"smtp inet n - n soon - smtpd\n", "wakeup"},
        {"smtp inet n - n - many smtpd\n", "maxproc"},
        {"smtp inet n - n - - /usr/bin/smtpd\n", "command"},
        {"smtp inet n - n - - smtpd -o\n", "-o without"},
        {"smtp inet n - n - - smtpd -o novalue\n", "name=value"},
        {"smtp inet n - n - - smtpd\nsmtp inet n - n - - smtpd\n", "duplicate"},
        {"  -o x=y\n", "continuation"},
    };
    for (const auto& r : rows) {
        INFO(r.text);
        std::vector<config_error> errs;
        parse_master_cf(r.text, "master.cf", errs);
        REQUIRE(errs.size() == 1);
        CHECK(errs[0].str().find("master.cf:") == 0);
        CHECK(errs[0].reason.find(r.why) != std::string::npos);
    }
}
