// aliases_test.cpp - aliases(5): value lists, the normalised form, the file
// parser (whole and split at every byte), errors with file:line, and the
// database that newaliases builds read back through a hash: table.
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include "lib/aliases.hpp"
#include "lib/fd.hpp"
#include "lib/maps.hpp"

using namespace tern;

namespace {

using K = alias_kind;

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tern-aliases-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
};

std::string show(const std::vector<alias_target>& v) {
    std::string s;
    for (const auto& t : v) s += std::string(alias_kind_name(t.kind)) + "[" + t.text + "] ";
    return s;
}

}  // namespace

TEST_CASE("alias value lists", "[maps][aliases]") {
    struct row {
        std::string in;
        std::vector<alias_target> want;
        std::string normalised;
    } rows[] = {
        {"joe", {{K::address, "joe"}}, "joe"},
        {" joe ,  ann@example.com,,", {{K::address, "joe"}, {K::address, "ann@example.com"}}, "joe, ann@example.com"},
        {"/var/mail/archive", {{K::file, "/var/mail/archive"}}, "/var/mail/archive"},
        {"\"/var/mail/with space\"", {{K::file, "/var/mail/with space"}}, "\"/var/mail/with space\""},
        {"|/usr/bin/vacation", {{K::command, "/usr/bin/vacation"}}, "|/usr/bin/vacation"},
        {"\"|/usr/bin/prog -a x,y\", joe",
         {{K::command, "/usr/bin/prog -a x,y"}, {K::address, "joe"}},
         "\"|/usr/bin/prog -a x,y\", joe"},
        {"|/usr/bin/prog arg", {{K::command, "/usr/bin/prog arg"}}, "\"|/usr/bin/prog arg\""},
        {"\"|echo \\\"hi\\\" \\\\ there\"", {{K::command, "echo \"hi\" \\ there"}}, "\"|echo \\\"hi\\\" \\\\ there\""},
        {":include:/etc/tern/staff", {{K::include, "/etc/tern/staff"}}, ":include:/etc/tern/staff"},
        {":INCLUDE: /etc/tern/staff", {{K::include, "/etc/tern/staff"}}, ":include:/etc/tern/staff"},
        {"\":include:/a b\"", {{K::include, "/a b"}}, "\":include:/a b\""},
        {"\"joe smith\"@example.com", {{K::address, "\"joe smith\"@example.com"}}, "\"joe smith\"@example.com"},
        {"\"joe, smith\"@example.com, x",
         {{K::address, "\"joe, smith\"@example.com"}, {K::address, "x"}},
         "\"joe, smith\"@example.com, x"},
        {"\"joe smith\"", {{K::address, "joe smith"}}, "\"joe smith\""},
        {"<ann@example.com>", {{K::address, "ann@example.com"}}, "ann@example.com"},
        {"\\root", {{K::address, "\\root"}}, "\\root"},
        {"", {}, ""},
    };
    for (const auto& r : rows) {
        INFO("in: " << r.in);
        std::string err = "unset";
        auto got = parse_alias_values(r.in, &err);
        CHECK(err.empty());
        CHECK(show(got) == show(r.want));
        auto norm = format_alias_values(got);
        CHECK(norm == r.normalised);
        // the normalised form reads back as the same targets
        CHECK(show(parse_alias_values(norm)) == show(r.want));
    }
    struct bad {
        const char* in;
        const char* reason;
    } bads[] = {
        {"\"unterminated", "unterminated quoted string"},
        {"joe, |", "empty command"},
        {":include:relative/path", "absolute path"},
        {":include:", "absolute path"},
        {"joe smith", "white space in address"},
        {"/path with space", "white space in a file name"},
        {"a\x01" "b", "control character"},
        {"<>", "empty address"},
        {"</>", "bad address in angle brackets"},  // found by fuzzing: must not read back as a file
        {"<|cmd>", "bad address in angle brackets"},
        {"<\"|cmd\">", "bad address in angle brackets"},
        {"<<a>>", "bad address in angle brackets"},
    };
    for (const auto& b : bads) {
        INFO(b.in);
        std::string err;
        CHECK(parse_alias_values(b.in, &err).empty());
        CHECK(err.find(b.reason) != std::string::npos);
    }
}

TEST_CASE("alias files: entries, continuation, quoting, errors", "[maps][aliases]") {
    std::string text =
        "# system aliases\n"
        "MAILER-DAEMON: postmaster\n"
        "postmaster:root\n"
        "staff: ann, bob,\n"
        "   carol@example.com\n"
        "\t, \"|/usr/bin/logger -t staff\"\n"
        "\"odd name\": :include:/etc/tern/odd\n"
        "no colon here\n"
        "empty:\n"
        "bad name: x\n"
        "cmd: |\n"
        "archive: /var/spool/archive\r\n";
    std::vector<config_error> errors;
    auto entries = parse_aliases(text, "/etc/tern/aliases", map_limits(), errors);
    REQUIRE(entries.size() == 5);
    CHECK(entries[0].name == "MAILER-DAEMON");
    CHECK(entries[0].key == "mailer-daemon");
    CHECK(entries[0].line == 2);
    CHECK(entries[1].key == "postmaster");
    CHECK(entries[1].value == "root");
    CHECK(entries[2].key == "staff");
    CHECK(entries[2].line == 4);
    CHECK(entries[2].value == "ann, bob, carol@example.com, \"|/usr/bin/logger -t staff\"");
    REQUIRE(entries[2].targets.size() == 4);
    CHECK(entries[2].targets[3] == alias_target{K::command, "/usr/bin/logger -t staff"});
    CHECK(entries[3].name == "odd name");
    CHECK(entries[3].targets == std::vector<alias_target>{{K::include, "/etc/tern/odd"}});
    CHECK(entries[4].key == "archive");
    CHECK(entries[4].targets == std::vector<alias_target>{{K::file, "/var/spool/archive"}});

    std::vector<std::string> got;
    for (const auto& e : errors) got.push_back(e.str());
    CHECK(got == std::vector<std::string>{
                     "/etc/tern/aliases:8: expected format: name: value, value, ...",
                     "/etc/tern/aliases:9: alias \"empty\" has no values",
                     "/etc/tern/aliases:10: bad alias name \"bad name\" (quote a name with white space)",
                     "/etc/tern/aliases:11: empty command in \"|\"",
                 });

    // the same entries and errors whatever the pieces the bytes arrive in
    auto summary = [](const std::vector<alias_entry>& es, const std::vector<config_error>& errs) {
        std::string s;
        for (const auto& e : es) s += std::to_string(e.line) + " " + e.key + " = " + e.value + "\n";
        for (const auto& e : errs) s += e.str() + "\n";
        return s;
    };
    std::string whole = summary(entries, errors);
    for (size_t cut = 0; cut <= text.size(); ++cut) {
        std::vector<config_error> e2;
        std::vector<alias_entry> got2;
        alias_parser p("/etc/tern/aliases", map_limits(), [&](alias_entry&& e) { got2.push_back(std::move(e)); }, e2);
        p.feed(std::string_view(text).substr(0, cut));
        p.feed(std::string_view(text).substr(cut));
        p.finish();
        INFO("cut at " << cut);
        CHECK(summary(got2, e2) == whole);
    }
    std::vector<config_error> e3;
    std::vector<alias_entry> got3;
    alias_parser p("/etc/tern/aliases", map_limits(), [&](alias_entry&& e) { got3.push_back(std::move(e)); }, e3);
    for (char c : text) p.feed(std::string_view(&c, 1));
    p.finish();
    CHECK(summary(got3, e3) == whole);
}

TEST_CASE("newaliases database: built, looked up, parsed back", "[maps][aliases]") {
    temp_dir dir;
    std::string src = dir.path + "/aliases";
    REQUIRE(write_file_atomic(src,
                              "Root: admin@example.com\n"
                              "lists: \"|/usr/lib/lists/deliver main\",\n"
                              "  :include:/etc/tern/lists\n"
                              "root: duplicate\n",
                              0640));
    std::vector<config_error> errors;
    build_report report;
    REQUIRE(build_alias_table("hash:" + src, "hash", map_limits(), errors, report));
    CHECK(errors.empty());
    CHECK(report.entries == 2);
    REQUIRE(report.warnings.size() == 1);
    CHECK(report.warnings[0].line == 4);
    CHECK(report.warnings[0].reason.find("duplicate") != std::string::npos);

    auto maps = map_list::parse("hash:" + src, map_options(), errors);
    REQUIRE(maps);
    auto r = maps->lookup("ROOT");
    REQUIRE(r.found());
    CHECK(r.value == "admin@example.com");
    r = maps->lookup("lists");
    REQUIRE(r.found());
    CHECK(r.value == "\"|/usr/lib/lists/deliver main\", :include:/etc/tern/lists");
    std::string err;
    auto targets = parse_alias_values(r.value, &err);
    CHECK(err.empty());
    CHECK(targets == std::vector<alias_target>{{K::command, "/usr/lib/lists/deliver main"},
                                               {K::include, "/etc/tern/lists"}});

    // a broken source leaves the old database in place
    REQUIRE(write_file_atomic(src, "root: other\nbroken line\n"));
    errors.clear();
    CHECK_FALSE(build_alias_table(src, "hash", map_limits(), errors, report));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].str() == src + ":2: expected format: name: value, value, ...");
    CHECK(maps->lookup("root").value == "admin@example.com");

    errors.clear();
    CHECK_FALSE(build_alias_table("texthash:" + src, "hash", map_limits(), errors, report));
    CHECK(errors[0].reason.find("only hash: and btree:") != std::string::npos);
}
