// config_test.cpp - main.cf parsing, expansion, typed getters, validation.
#include <catch2/catch.hpp>

#include "lib/config.hpp"
#include "lib/strutil.hpp"

using namespace tern;

TEST_CASE("main.cf logical lines, comments and continuation") {
    config c;
    std::vector<config_error> errs;
    c.parse("# comment\nmyhostname = mail.example.test\n\nmydestination = a,\n   b\n  # inner comment\n   c\n"
            "relayhost=[10.0.0.1]:25\n",
            "main.cf", errs);
    REQUIRE(errs.empty());
    CHECK(c.get("myhostname") == "mail.example.test");
    CHECK(c.get("mydestination") == "a, b c");
    CHECK(c.get_list("mydestination") == std::vector<std::string>{"a", "b", "c"});
    CHECK(c.get("relayhost") == "[10.0.0.1]:25");
}

TEST_CASE("main.cf errors carry file and line") {
    config c;
    std::vector<config_error> errs;
    c.parse("good = 1\nthis line has no equals\n  \n bad-start = x\n", "/etc/tern/main.cf", errs);
    REQUIRE(errs.size() == 1);
    CHECK(errs[0].line == 2);
    CHECK(errs[0].str().find("/etc/tern/main.cf:2: ") == 0);

    std::vector<config_error> errs2;
    config c2;
    c2.parse("  leading = continuation\n", "m", errs2);
    REQUIRE(errs2.size() == 1);
    CHECK(errs2[0].line == 1);

    std::vector<config_error> errs3;
    config c3;
    c3.parse("bad-name = 1\n", "m", errs3);
    REQUIRE(errs3.size() == 1);
    CHECK(errs3[0].reason.find("bad parameter name") != std::string::npos);
}

TEST_CASE("$name expansion forms") {
    config c;
    std::vector<config_error> errs;
    c.parse("myhostname = mx.example.org\nmydomain = example.org\nempty =\n"
            "a = $myhostname\nb = ${mydomain}x\nc = $(mydomain)\nd = ${mydomain?set}\ne = ${empty?set}\n"
            "f = ${empty:fallback}\ng = ${mydomain:fallback}\nh = cost $$5\ni = $undefined.\n"
            "loop1 = $loop2\nloop2 = $loop1\n",
            "main.cf", errs);
    REQUIRE(errs.empty());
    CHECK(c.get("a") == "mx.example.org");
    CHECK(c.get("b") == "example.orgx");
    CHECK(c.get("c") == "example.org");
    CHECK(c.get("d") == "set");
    CHECK(c.get("e") == "");
    CHECK(c.get("f") == "fallback");
    CHECK(c.get("g") == "");
    CHECK(c.get("h") == "cost $5");
    CHECK(c.get("i") == ".");
    CHECK(c.get("loop1").empty());  // bounded, no hang
    // defaults refer to other parameters
    CHECK(c.get("myorigin") == "mx.example.org");
    CHECK(c.get_list("mydestination") ==
          std::vector<std::string>{"mx.example.org", "localhost.example.org", "localhost"});
}

TEST_CASE("typed values") {
    CHECK(parse_time("30") == 30);
    CHECK(parse_time("30", 'd') == 30 * 86400);
    CHECK(parse_time("5m") == 300);
    CHECK(parse_time("2h") == 7200);
    CHECK(parse_time("1d") == 86400);
    CHECK(parse_time("1w") == 7 * 86400);
    CHECK_FALSE(parse_time("5x"));
    CHECK_FALSE(parse_time("-5s"));
    CHECK_FALSE(parse_time(""));
    CHECK(parse_size("1024") == 1024u);
    CHECK(parse_size("10k") == 10240u);
    CHECK(parse_size("2M") == 2u * 1024 * 1024);
    CHECK_FALSE(parse_size("ten"));
    CHECK(parse_bool("yes") == true);
    CHECK(parse_bool("No") == false);
    CHECK_FALSE(parse_bool("maybe"));
}

TEST_CASE("typed getters and validation") {
    config c;
    std::vector<config_error> errs;
    c.parse("ipc_timeout = 2m\nmessage_size_limit = 1m\nmaster_restart_min_delay = soon\n"
            "default_process_limit = 0\nno_such_param = 1\nmy_own = x\nmyorigin = $my_own\n",
            "main.cf", errs);
    REQUIRE(errs.empty());
    CHECK(c.get_time("ipc_timeout") == 120);
    CHECK(c.get_size("message_size_limit") == 1048576u);
    c.validate(errs);
    REQUIRE(errs.size() == 2);
    CHECK(errs[0].line == 3);
    CHECK(errs[0].reason.find("master_restart_min_delay") != std::string::npos);
    CHECK(errs[1].line == 4);
    CHECK(errs[1].reason.find("out of range") != std::string::npos);
    auto unknown = c.unknown_names();
    REQUIRE(unknown.size() == 1);  // my_own is referenced, so allowed
    CHECK(unknown[0].reason.find("no_such_param") != std::string::npos);
    CHECK(unknown[0].line == 5);
}

TEST_CASE("-o overrides win over main.cf") {
    config c;
    std::vector<config_error> errs;
    c.parse("relayhost = a\n", "main.cf", errs);
    c.set("relayhost", "b");
    CHECK(c.get("relayhost") == "b");
    CHECK(c.is_set("relayhost"));
    CHECK_FALSE(c.is_set("mynetworks"));
}

TEST_CASE("every table row has a doc and a valid default") {
    config c;
    for (auto d : all_params()) {
        INFO(d->name);
        CHECK(std::string(d->doc).size() > 5);
        std::string v = c.get(d->name);
        switch (d->type) {
        case param_type::boolean: CHECK(parse_bool(v)); break;
        case param_type::integer: CHECK(parse_i64(v)); break;
        case param_type::time: CHECK(parse_time(v, d->time_unit)); break;
        case param_type::size: CHECK(parse_size(v)); break;
        default: break;
        }
    }
    // sorted and unique
    const auto& t = all_params();
    for (size_t i = 1; i < t.size(); ++i) CHECK(std::string(t[i - 1]->name) < std::string(t[i]->name));
}

TEST_CASE("parsing survives input cut at every byte") {
    std::string text = "a = 1\nb = two\n  three\n# c\nd = $a\n";
    for (size_t cut = 0; cut <= text.size(); ++cut) {
        config c;
        std::vector<config_error> errs;
        c.parse(text.substr(0, cut), "m", errs);
        // no crash; a prefix never produces more than one error
        CHECK(errs.size() <= 1);
    }
}
