// maps_test.cpp - lookup tables: source reader (whole and split at every
// byte), every table type, case folding, file:line errors, limits, reopen
// after a rebuild, map_list order and errors, cidr parsing, net_list.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <filesystem>
#include <thread>
#include <unistd.h>

#include "lib/cidr.hpp"
#include "lib/fd.hpp"
#include "lib/maps.hpp"
#include "lib/net_list.hpp"

using namespace tern;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tern-maps-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name, std::string_view content) const {
        std::string p = path + "/" + name;
        REQUIRE(write_file_atomic(p, content));
        return p;
    }
};

// Options that check a table's file on every lookup (tests change files quickly).
map_options eager() {
    map_options o;
    o.check_interval = std::chrono::milliseconds(0);
    return o;
}

struct line_out {
    int line;
    std::string text;
    bool operator==(const line_out&) const = default;
};

std::vector<line_out> read_lines(const std::vector<std::string_view>& pieces, size_t max,
                                 std::vector<config_error>& errors) {
    std::vector<line_out> out;
    line_reader r("f", max, [&](int n, std::string_view t) { out.push_back({n, std::string(t)}); }, errors);
    for (auto p : pieces) r.feed(p);
    r.finish();
    return out;
}

std::string errors_text(const std::vector<config_error>& errors) {
    std::string s;
    for (const auto& e : errors) s += e.str() + "\n";
    return s;
}

}  // namespace

TEST_CASE("logical lines: comments, continuation, CRLF, errors", "[maps]") {
    struct row {
        std::string input;
        std::vector<line_out> lines;
        std::vector<int> error_lines;
    } rows[] = {
        {"", {}, {}},
        {"a b\n", {{1, "a b"}}, {}},
        {"a b", {{1, "a b"}}, {}},  // no final newline
        {"# c\n\na 1\n  # inner comment\n  2\n\t3\nb 4\r\n", {{3, "a 1 2 3"}, {7, "b 4"}}, {}},
        {"  cont first\nx y\n", {{2, "x y"}}, {1}},
        {"k v\r\n\r\n  more \r\n", {{1, "k v more"}}, {}},
        {std::string("a\0b c\nd e\n", 10), {{2, "d e"}}, {1}},
        {"a " + std::string(40, 'x') + "\nb c\n", {{2, "b c"}}, {1}},       // physical line too long
        {"a " + std::string(20, 'x') + "\n " + std::string(20, 'y') + "\n  z\nq r\n", {{4, "q r"}}, {1}},  // logical
        {"   \n\t\n#\n", {}, {}},
    };
    for (const auto& r : rows) {
        INFO("input: " << r.input);
        std::vector<config_error> errors;
        auto whole = read_lines({r.input}, 30, errors);
        CHECK(whole == r.lines);
        std::vector<int> got_lines;
        for (const auto& e : errors) {
            CHECK(e.file == "f");
            got_lines.push_back(e.line);
        }
        CHECK(got_lines == r.error_lines);
        // the same result for every split into two pieces, and byte by byte
        for (size_t cut = 0; cut <= r.input.size(); ++cut) {
            std::vector<config_error> e2;
            std::string_view in = r.input;
            auto split = read_lines({in.substr(0, cut), in.substr(cut)}, 30, e2);
            CHECK(split == r.lines);
            CHECK(errors_text(e2) == errors_text(errors));
        }
        std::vector<std::string_view> bytes;
        for (size_t i = 0; i < r.input.size(); ++i) bytes.push_back(std::string_view(r.input).substr(i, 1));
        std::vector<config_error> e3;
        CHECK(read_lines(bytes, 30, e3) == r.lines);
        CHECK(errors_text(e3) == errors_text(errors));
    }
}

TEST_CASE("postmap source format: key folding and value as the rest", "[maps]") {
    std::string src = "# aliases for access\nUser@Example.COM   OK  with spaces \nbare\nKey2\tline\n  continued\n";
    map_limits limits;
    std::vector<config_error> errors;
    std::vector<std::tuple<int, std::string, std::string>> got;
    table_source_parser p(
        "src", limits, true, [&](int l, const std::string& k, const std::string& v) { got.emplace_back(l, k, v); },
        errors);
    for (size_t i = 0; i < src.size(); i += 3) p.feed(std::string_view(src).substr(i, 3));
    p.finish();
    REQUIRE(got.size() == 2);
    CHECK(got[0] == std::make_tuple(2, std::string("user@example.com"), std::string("OK  with spaces")));
    CHECK(got[1] == std::make_tuple(4, std::string("key2"), std::string("line continued")));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].str().rfind("src:3: expected format: key whitespace value", 0) == 0);

    // without folding the key is kept as written
    std::vector<config_error> e2;
    std::string key;
    table_source_parser q("src", limits, false, [&](int, const std::string& k, const std::string&) { key = k; }, e2);
    q.feed("MiXeD v\n");
    q.finish();
    CHECK(key == "MiXeD");
}

TEST_CASE("table specs and list splitting", "[maps]") {
    auto s = parse_table_spec("hash:/etc/tern/aliases");
    REQUIRE(s);
    CHECK(s->type == "hash");
    CHECK(s->name == "/etc/tern/aliases");
    CHECK_FALSE(parse_table_spec("/etc/tern/aliases"));
    CHECK_FALSE(parse_table_spec("hash:"));
    CHECK_FALSE(parse_table_spec(":x"));
    CHECK_FALSE(parse_table_spec("2001:db8::/32"));
    CHECK_FALSE(parse_table_spec("Hash:x"));
    CHECK(split_table_list("hash:/a, texthash:/b\tcidr:/c,,") ==
          std::vector<std::string>{"hash:/a", "texthash:/b", "cidr:/c"});
    CHECK(split_table_list("inline:{ a=1, { b = two words } }, static:{x y}") ==
          std::vector<std::string>{"inline:{ a=1, { b = two words } }", "static:{x y}"});
    CHECK(split_table_list("  ").empty());
}

TEST_CASE("every table type answers lookups", "[maps]") {
    temp_dir dir;
    std::string text = "Joe joe@example.com\nROOT  admin, backup\n# comment\nmulti first\n  second\n";
    std::string th = dir.file("text", text);
    std::string hs = dir.file("hashed", text);
    std::string bt = dir.file("bt", text);
    std::string cd = dir.file("nets", "# trusted\n192.0.2.0/24 v4net\n192.0.2.7 never-first-match-wins\n"
                                      "2001:db8::/32 v6net\n[2001:db9::1] bracketed\n!10.0.0.0/8 not-ten\n");
    std::string re = dir.file("re", "/^(.*)@example\\.com$/ local $1\n/^CASE$/i exact-case\n/^x$/x dollar$1\n"
                                    "# other delimiters, escaped inside the pattern\n%(a\\%b)% c${1}d\n"
                                    "!/\\.test$/ not-test\n");
    map_options opts;
    for (auto [type, path] : {std::pair{"hash", hs}, std::pair{"btree", bt}}) {
        std::vector<config_error> errors;
        build_report report;
        REQUIRE(build_table(std::string(type) + ":" + path, "hash", opts, errors, report));
        CHECK(errors.empty());
        CHECK(report.entries == 3);
    }
    struct row {
        std::string spec, key;
        lookup_status status;
        std::string value;
    } rows[] = {
        {"hash:" + hs, "joe", lookup_status::found, "joe@example.com"},
        {"hash:" + hs, "JOE", lookup_status::found, "joe@example.com"},
        {"hash:" + hs, "root", lookup_status::found, "admin, backup"},
        {"hash:" + hs, "multi", lookup_status::found, "first second"},
        {"hash:" + hs, "nobody", lookup_status::not_found, ""},
        {"hash:" + hs, "", lookup_status::not_found, ""},
        {"btree:" + bt, "Root", lookup_status::found, "admin, backup"},
        {"btree:" + bt, "nobody", lookup_status::not_found, ""},
        {"texthash:" + th, "jOe", lookup_status::found, "joe@example.com"},
        {"texthash:" + th, "multi", lookup_status::found, "first second"},
        {"texthash:" + th, "joe@example.com", lookup_status::not_found, ""},
        {"cidr:" + cd, "192.0.2.7", lookup_status::found, "v4net"},
        {"cidr:" + cd, "[192.0.2.255]", lookup_status::found, "v4net"},
        {"cidr:" + cd, "::ffff:192.0.2.1", lookup_status::found, "v4net"},
        {"cidr:" + cd, "2001:db8:1::5", lookup_status::found, "v6net"},
        {"cidr:" + cd, "IPv6:2001:DB8::1", lookup_status::found, "v6net"},
        {"cidr:" + cd, "2001:db9::1", lookup_status::found, "bracketed"},
        {"cidr:" + cd, "2001:db9::2", lookup_status::not_found, ""},  // negated v4 rule skips v6
        {"cidr:" + cd, "10.1.2.3", lookup_status::not_found, ""},
        {"cidr:" + cd, "198.51.100.1", lookup_status::found, "not-ten"},
        {"cidr:" + cd, "not-an-address", lookup_status::not_found, ""},
        {"regexp:" + re, "Joe@Example.COM", lookup_status::found, "local Joe"},
        {"regexp:" + re, "host.example.org", lookup_status::found, "not-test"},
        {"regexp:" + re, "host.test", lookup_status::not_found, ""},
        {"regexp:" + re, "CASE.test", lookup_status::not_found, ""},
        {"inline:{ a=1, B=2 , { c = three, four } }", "A", lookup_status::found, "1"},
        {"inline:{ a=1, B=2 , { c = three, four } }", "b", lookup_status::found, "2"},
        {"inline:{ a=1, B=2 , { c = three, four } }", "c", lookup_status::found, "three, four"},
        {"inline:{ a=1, B=2 , { c = three, four } }", "d", lookup_status::not_found, ""},
        {"static:OK", "anything", lookup_status::found, "OK"},
        {"static:{ text with spaces }", "", lookup_status::found, "text with spaces"},
        {"fail:down", "x", lookup_status::error, ""},
    };
    for (const auto& r : rows) {
        INFO(r.spec << " key=" << r.key);
        std::vector<config_error> errors;
        auto t = open_table(r.spec, opts, errors);
        REQUIRE(t);
        CHECK(errors_text(errors) == "");
        auto res = t->lookup(r.key);
        CHECK(res.status == r.status);
        CHECK(res.value == r.value);
        if (res.failed()) CHECK(res.error.find(t->spec()) != std::string::npos);
    }
    // regexp case sensitivity: the i flag toggles Postfix's default (insensitive)
    std::vector<config_error> errors;
    auto rt = open_table("regexp:" + re, opts, errors);
    REQUIRE(rt);
    CHECK(rt->lookup("CASE").value == "exact-case");
    CHECK(rt->lookup("case").value == "not-test");  // /^CASE$/i is case-sensitive
    CHECK(rt->lookup("x").value == "dollar$1");     // x: no substitution
    CHECK(rt->lookup("A%B").value == "cA%Bd");
}

TEST_CASE("tables list their entries", "[maps]") {
    temp_dir dir;
    std::string src = dir.file("t", "b 2\nA 1\nc 3\n");
    map_options opts;
    std::vector<config_error> errors;
    build_report report;
    REQUIRE(build_table("btree:" + src, "hash", opts, errors, report));
    auto collect = [&](const std::string& spec) {
        std::vector<config_error> errs;
        auto t = open_table(spec, opts, errs);
        REQUIRE(t);
        std::vector<std::string> out;
        std::string err;
        bool ok = t->for_each(
            [&](std::string_view k, std::string_view v) {
                out.push_back(std::string(k) + "=" + std::string(v));
                return true;
            },
            err);
        if (!ok) out.push_back("error: " + err);
        return out;
    };
    CHECK(collect("btree:" + src) == std::vector<std::string>{"a=1", "b=2", "c=3"});
    CHECK(collect("texthash:" + src) == std::vector<std::string>{"b=2", "a=1", "c=3"});
    CHECK(collect("inline:{x=1,y=2}") == std::vector<std::string>{"x=1", "y=2"});
    std::string nets = dir.file("nets", "10.0.0.0/8 ten\n!::/0 v4\n");
    CHECK(collect("cidr:" + nets) == std::vector<std::string>{"10.0.0.0/8=ten", "!::/0=v4"});
    auto st = collect("static:x");
    REQUIRE(st.size() == 1);
    CHECK(st[0].find("cannot be listed") != std::string::npos);
}

TEST_CASE("table file errors name file:line and the table answers errors", "[maps]") {
    temp_dir dir;
    struct row {
        std::string type, content;
        int line;
        std::string reason;
    } rows[] = {
        {"texthash", "good 1\nlonely\n", 2, "expected format: key whitespace value"},
        {"cidr", "10.0.0.0/8 ok\n10.0.0.1/8 bad\n", 2, "non-zero host bits"},
        {"cidr", "10.0.0.0/33 x\n", 1, "bad prefix length"},
        {"cidr", "10.0.0.0/8\n", 1, "expected format"},
        {"cidr", "example.com ok\n", 1, "bad network address"},
        {"cidr", "[10.0.0.0]/8 x\n", 1, "bad network address"},
        {"cidr", "if 10.0.0.0/8\n", 1, "not supported"},
        {"regexp", "/a/ ok\n/(/ bad\n", 2, "bad regular expression"},
        {"regexp", "/a( b)/ $2\n", 1, "$2 out of range"},
        {"regexp", "!/a(b)/ $1\n", 1, "negated"},
        {"regexp", "/a/q x\n", 1, "unknown flag 'q'"},
        {"regexp", "/abc x\n", 1, "missing closing '/'"},
        {"regexp", "/abc/\n", 1, "expected a result"},
        {"regexp", "/a/ cost $\n", 1, "'$' at the end"},
        {"regexp", "/(a)/ ${1\n", 1, "missing '}'"},
    };
    for (const auto& r : rows) {
        INFO(r.type << ": " << r.content);
        std::string path = dir.file("bad-" + r.type, r.content);
        std::vector<config_error> errors;
        auto t = open_table(r.type + ":" + path, map_options(), errors);
        REQUIRE(t);
        REQUIRE_FALSE(errors.empty());
        CHECK(errors[0].file == path);
        CHECK(errors[0].line == r.line);
        CHECK(errors[0].reason.find(r.reason) != std::string::npos);
        CHECK(errors[0].str().rfind(path + ":" + std::to_string(r.line) + ": ", 0) == 0);
        auto res = t->lookup("10.0.0.1");
        CHECK(res.failed());
        CHECK(res.error.find(path + ":" + std::to_string(r.line)) != std::string::npos);
        CHECK(t->load_error() == res.error);
    }
    // malformed specs and unknown types fail at open
    std::vector<config_error> errors;
    CHECK_FALSE(open_table("nosuch:/x", map_options(), errors));
    CHECK(errors.back().reason.find("unsupported table type \"nosuch\"") != std::string::npos);
    CHECK_FALSE(open_table("/no/type", map_options(), errors));
    CHECK_FALSE(open_table("inline:a=1", map_options(), errors));
    CHECK_FALSE(open_table("inline:{a}", map_options(), errors));
    CHECK(errors.back().reason.find("missing '='") != std::string::npos);
    CHECK_FALSE(open_table("inline:{=1}", map_options(), errors));
    CHECK_FALSE(open_table("inline:{ a = 1 }", map_options(), errors));  // spaces need { a = 1 }
    CHECK(errors.back().reason.find("{ key = value }") != std::string::npos);
    // a missing file is a table that answers errors, distinct from not found
    errors.clear();
    auto missing = open_table("hash:" + dir.path + "/none", map_options(), errors);
    REQUIRE(missing);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].reason.find("No such file") != std::string::npos);
    CHECK(missing->lookup("x").failed());
    // build: nothing is written when the source has errors
    std::string src = dir.file("src", "a 1\nbroken\n");
    build_report report;
    errors.clear();
    CHECK_FALSE(build_table(src, "hash", map_options(), errors, report));
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].str() == src + ":2: expected format: key whitespace value, got \"broken\"");
    CHECK(::access((src + ".db").c_str(), F_OK) != 0);
    errors.clear();
    CHECK_FALSE(build_table("inline:{a=1}", "hash", map_options(), errors, report));
    CHECK_FALSE(build_table("hash:" + dir.path + "/absent", "hash", map_options(), errors, report));
}

TEST_CASE("limits on lines, entries and patterns", "[maps]") {
    temp_dir dir;
    map_options opts;
    opts.entries = 3;
    opts.regexps = 2;
    opts.line_length = 256;
    std::vector<config_error> errors;
    auto t = open_table("texthash:" + dir.file("t", "a 1\nb 2\nc 3\nd 4\ne 5\n"), opts, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 4);
    CHECK(errors[0].reason.find("table_entry_limit") != std::string::npos);
    errors.clear();
    open_table("cidr:" + dir.file("c", "10.0.0.0/8 a\n10.0.0.0/9 b\n10.0.0.0/10 c\n10.0.0.0/11 d\n"), opts, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == 4);
    errors.clear();
    open_table("regexp:" + dir.file("r", "/a/ 1\n/b/ 2\n/c/ 3\n"), opts, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].reason.find("regexp_table_limit") != std::string::npos);
    errors.clear();
    CHECK_FALSE(open_table("inline:{a=1,b=2,c=3,d=4}", opts, errors));
    errors.clear();
    open_table("texthash:" + dir.file("long", "k " + std::string(300, 'v') + "\n"), opts, errors);
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].reason.find("table_line_length_limit") != std::string::npos);
    // the limits come from main.cf
    config cfg;
    std::vector<config_error> cerr;
    cfg.parse("table_entry_limit = 7\nregexp_table_limit = 9\ntable_line_length_limit = 2k\n", "main.cf", cerr);
    auto o = map_options::from_config(cfg);
    CHECK(o.entries == 7);
    CHECK(o.regexps == 9);
    CHECK(o.line_length == 2048);
}

TEST_CASE("a rebuilt or edited table is reopened", "[maps]") {
    temp_dir dir;
    std::string src = dir.file("t", "k v1\n");
    std::vector<config_error> errors;
    build_report report;
    REQUIRE(build_table("hash:" + src, "hash", map_options(), errors, report));
    auto h = open_table("hash:" + src, eager(), errors);
    auto tx = open_table("texthash:" + src, eager(), errors);
    REQUIRE(errors.empty());
    CHECK(h->lookup("k").value == "v1");
    CHECK(tx->lookup("k").value == "v1");

    dir.file("t", "k v2\nnew yes\n");
    REQUIRE(build_table("hash:" + src, "hash", map_options(), errors, report));
    CHECK(h->lookup("k").value == "v2");
    CHECK(h->lookup("new").value == "yes");
    CHECK(tx->lookup("k").value == "v2");

    // a broken edit makes the text table answer errors, not stale data ...
    dir.file("t", "k v3\nbroken\n");
    CHECK(tx->lookup("k").failed());
    CHECK_FALSE(build_table("hash:" + src, "hash", map_options(), errors, report));
    CHECK(h->lookup("k").value == "v2");  // the failed build left the old db
    // ... until it is fixed
    dir.file("t", "k v4\n");
    CHECK(tx->lookup("k").value == "v4");
    // a removed database is an error; a rebuilt one recovers
    REQUIRE(::unlink((src + ".db").c_str()) == 0);
    CHECK(h->lookup("k").failed());
    errors.clear();
    REQUIRE(build_table("hash:" + src, "hash", map_options(), errors, report));
    CHECK(h->lookup("k").value == "v4");

    // with the default interval a change is noticed only after a second
    auto slow = open_table("texthash:" + src, map_options(), errors);
    REQUIRE(slow);
    CHECK(slow->lookup("k").value == "v4");
    dir.file("t", "k v5\n");
    CHECK(slow->lookup("k").value == "v4");
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    CHECK(slow->lookup("k").value == "v5");
}

TEST_CASE("map_list: first hit wins, an error before a hit is an error", "[maps]") {
    temp_dir dir;
    std::vector<config_error> errors;
    auto l = map_list::parse("inline:{a=first}, inline:{ a=second, b=second }", map_options(), errors);
    REQUIRE(l);
    CHECK(l->size() == 2);
    CHECK(l->lookup("a").value == "first");
    CHECK(l->lookup("B").value == "second");
    CHECK(l->lookup("c").missing());

    auto e = map_list::parse("inline:{a=1} fail:broken, inline:{b=2}", map_options(), errors);
    REQUIRE(e);
    CHECK(e->lookup("a").value == "1");
    auto r = e->lookup("b");
    CHECK(r.failed());
    CHECK(r.error.find("fail:broken") != std::string::npos);
    CHECK(e->lookup("c").failed());

    errors.clear();
    auto m = map_list::parse("hash:" + dir.path + "/missing, static:fallback", map_options(), errors);
    REQUIRE(m);
    CHECK(errors.size() == 1);  // reported, but the list exists
    CHECK(m->lookup("x").failed());

    CHECK_FALSE(map_list::parse("inline:{a=1}, bogus:x", map_options(), errors));
    auto empty = map_list::parse("", map_options(), errors);
    REQUIRE(empty);
    CHECK(empty->empty());
    CHECK(empty->lookup("x").missing());
}

TEST_CASE("other modules can add table types", "[maps]") {
    class upper_table : public lookup_table {
    public:
        upper_table(const std::string& n, const map_options& o) : lookup_table("upper", n, o) {}

    protected:
        lookup_result find(std::string_view key) override {
            std::string s(key);
            for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
            return lookup_result::hit(s + "@" + name());
        }
    };
    register_table_type("upper", [](const std::string& n, const map_options& o, std::vector<config_error>&) {
        return std::unique_ptr<lookup_table>(std::make_unique<upper_table>(n, o));
    });
    std::vector<config_error> errors;
    auto l = map_list::parse("upper:x", map_options(), errors);
    REQUIRE(l);
    CHECK(l->lookup("abc").value == "ABC@x");
}

TEST_CASE("IP networks: parsing and matching", "[maps]") {
    struct row {
        const char* text;
        const char* canonical;  // nullptr: error expected
    } rows[] = {
        {"127.0.0.0/8", "127.0.0.0/8"},
        {"192.0.2.1", "192.0.2.1/32"},
        {"0.0.0.0/0", "0.0.0.0/0"},
        {"[::1]/128", "::1/128"},
        {"[::1]", "::1/128"},
        {"2001:DB8::/32", "2001:db8::/32"},
        {"[2001:db8::]/32", "2001:db8::/32"},
        {"::/0", "::/0"},
        {"192.0.2.1/24", nullptr},
        {"192.0.2.0/-1", nullptr},
        {"192.0.2.0/", nullptr},
        {"192.0.2.0/0x8", nullptr},
        {"2001:db8::/129", nullptr},
        {"[192.0.2.0]/24", nullptr},
        {"2001:db8::1/32", nullptr},
        {"example.com", nullptr},
        {"", nullptr},
        {"[::1", nullptr},
    };
    for (const auto& r : rows) {
        INFO(r.text);
        std::string err;
        auto n = parse_ip_net(r.text, err);
        if (r.canonical) {
            REQUIRE(n);
            CHECK(n->str() == r.canonical);
        } else {
            CHECK_FALSE(n);
            CHECK_FALSE(err.empty());
        }
    }
    std::string err;
    auto net = parse_ip_net("10.128.0.0/9", err);
    REQUIRE(net);
    CHECK(net->contains(*parse_ip_addr("10.200.1.1")));
    CHECK_FALSE(net->contains(*parse_ip_addr("10.127.255.255")));
    CHECK_FALSE(net->contains(*parse_ip_addr("::ffff:10.1.1.1")));
    CHECK(net->contains(*parse_ip_addr("::ffff:10.200.1.1")));  // mapped addresses are IPv4
    auto v6 = parse_ip_net("2001:db8:8000::/33", err);
    REQUIRE(v6);
    CHECK(v6->contains(*parse_ip_addr("2001:db8:8000::1")));
    CHECK_FALSE(v6->contains(*parse_ip_addr("2001:db8:7fff::1")));
    CHECK(parse_ip_addr("[2001:db8::1]")->str() == "2001:db8::1");
    CHECK_FALSE(parse_ip_addr("1.2.3"));
    CHECK_FALSE(parse_ip_addr(std::string(100, '1')));
}

TEST_CASE("net_list: literals, negation, tables, first match wins", "[maps]") {
    temp_dir dir;
    std::string cidr = dir.file("nets", "198.51.100.0/24 ok\n2001:db8:1::/48 ok\n");
    std::string hashsrc = dir.file("hosts", "203.0.113.9 trusted\n");
    std::vector<config_error> errors;
    build_report report;
    REQUIRE(build_table("hash:" + hashsrc, "hash", map_options(), errors, report));
    std::string err;
    auto l = net_list::parse("!127.0.0.2, 127.0.0.0/8 [::1]/128, !cidr:" + dir.path + "/none-yet-negated-later," +
                                 " 2001:db8::/32",
                             err);
    // a missing table does not fail the parse but makes matching an error when reached
    REQUIRE(l);
    CHECK(l->match("127.0.0.1") == match_result::yes);
    CHECK(l->match("127.0.0.2") == match_result::no);
    CHECK(l->match("::1") == match_result::yes);
    CHECK(l->match("192.0.2.1") == match_result::error);
    CHECK(l->last_error().find("none-yet-negated-later") != std::string::npos);

    auto m = net_list::parse("!198.51.100.66 cidr:" + cidr + " hash:" + hashsrc + " !2001:db8:1::5 2001:db8::/32",
                             err);
    REQUIRE(m);
    struct row {
        const char* addr;
        match_result want;
    } rows[] = {
        {"198.51.100.1", match_result::yes},   // via the cidr table
        {"198.51.100.66", match_result::no},   // negated literal first
        {"203.0.113.9", match_result::yes},    // hash table keyed by address
        {"203.0.113.10", match_result::no},
        {"2001:db8:1::5", match_result::yes},  // the cidr table matches before the negation
        {"2001:db8:2::5", match_result::yes},
        {"2001:db9::1", match_result::no},
        {"[198.51.100.7]", match_result::yes},
        {"::ffff:198.51.100.7", match_result::yes},
        {"not an address", match_result::no},
    };
    for (const auto& r : rows) {
        INFO(r.addr);
        CHECK(m->match(r.addr) == r.want);
    }
    auto sa = parse_ip("198.51.100.200", 25);
    REQUIRE(sa);
    CHECK(m->match(*sa) == match_result::yes);
    sock_addr unix_addr;
    unix_addr.ss.ss_family = AF_UNIX;
    CHECK(m->match(unix_addr) == match_result::no);

    auto inl = net_list::parse("!inline:{192.0.2.1=x}, 192.0.2.0/24", err);
    REQUIRE(inl);
    CHECK(inl->match("192.0.2.1") == match_result::no);
    CHECK(inl->match("192.0.2.2") == match_result::yes);

    struct bad {
        const char* list;
        const char* reason;
    } bads[] = {
        {"127.0.0.1/8", "non-zero host bits"},
        {"example.com", "host names are not supported"},
        {"10.0.0.0/8x", "bad prefix length"},
        {"!", "'!' without"},
        {"nosuch:/x", "unsupported table type"},
        {"10.0.0.0/8, [10.0.0.1]", "bad network address"},
    };
    for (const auto& b : bads) {
        INFO(b.list);
        std::string e;
        CHECK_FALSE(net_list::parse(b.list, e));
        CHECK(e.find(b.reason) != std::string::npos);
    }
    auto defaults = net_list::parse("127.0.0.0/8 [::1]/128", err);  // the mynetworks default
    REQUIRE(defaults);
    CHECK(defaults->match("127.1.2.3") == match_result::yes);
    CHECK(defaults->match("::2") == match_result::no);
}

TEST_CASE("a table says when its file was replaced or rewritten (for chrooted daemons)", "[maps]") {
    temp_dir dir;
    std::string p = dir.file("t", "a 1\n");
    std::vector<config_error> errors;
    auto t = open_table("texthash:" + p, map_options{}, errors);
    REQUIRE(t);
    REQUIRE(errors.empty());
    CHECK_FALSE(t->changed_behind_jail());
    // replaced by a rename (as newaliases and tern-map write): the old file is unlinked
    dir.file("t", "a 2\n");
    CHECK(t->changed_behind_jail());
    // a table loaded again is current; a rewrite in place (new size) counts too
    auto t2 = open_table("texthash:" + p, map_options{}, errors);
    REQUIRE(t2);
    CHECK_FALSE(t2->changed_behind_jail());
    {
        unique_fd fd(::open(p.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC));
        REQUIRE(fd);
        REQUIRE(::write(fd.get(), "b 3\n", 4) == 4);
    }
    CHECK(t2->changed_behind_jail());
    // outside a chroot nobody needs the report: daemons reopen by path there
    CHECK(table_changed_behind_jail().empty());
    // tables that are not files never change behind anyone
    auto s = open_table("static:x", map_options{}, errors);
    REQUIRE(s);
    CHECK_FALSE(s->changed_behind_jail());
}
