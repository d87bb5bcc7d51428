// local_resolve_test.cpp - local-delivery's routing: virtual and system
// users, recipient_delimiter, aliases (users, files, commands, :include:),
// .forward, loops (alias to itself, alias cycles, Delivered-To, depth),
// duplicates and limits, and the header scan.
#include <catch2/catch.hpp>

#include <map>

#include "lib/domain_class.hpp"
#include "lib/strutil.hpp"
#include "local-delivery/headers.hpp"
#include "local-delivery/resolve.hpp"
#include "local-delivery/targets.hpp"

using namespace tern;
using namespace tern::local;

namespace {

struct fixture {
    std::map<std::string, std::string> aliases, vmailbox, valias;
    std::map<std::string, user_info> users;
    std::map<std::string, file_text> files;  // path -> content
    std::vector<std::pair<uid_t, std::string>> reads;  // who read what
    bool alias_broken = false;

    resolver_settings settings() const {
        resolver_settings s;
        s.domains = domain_classifier(domain_list({"mail.example.test", "localhost"}), domain_list({"example.test"}),
                                      domain_list({"alias.example"}));
        s.virtual_mailbox_base = "/srv/mail";
        s.virtual_owner = {"tern", 900, 900, "/", ""};
        s.default_privs = {"nobody", 65534, 65534, "/", ""};
        return s;
    }
    resolver_hooks hooks() {
        resolver_hooks h;
        h.alias = [this](const std::string& k) {
            if (alias_broken) return value_lookup{found::error, "", "hash:/etc/aliases: cannot open"};
            auto it = aliases.find(k);
            return it == aliases.end() ? value_lookup{} : value_lookup{found::yes, it->second, ""};
        };
        h.vmailbox = [this](const std::string& k) {
            auto it = vmailbox.find(k);
            return it == vmailbox.end() ? value_lookup{} : value_lookup{found::yes, it->second, ""};
        };
        h.valias = [this](const std::string& k) {
            auto it = valias.find(k);
            return it == valias.end() ? value_lookup{} : value_lookup{found::yes, it->second, ""};
        };
        h.user = [this](const std::string& n) -> std::optional<user_info> {
            auto it = users.find(n);
            if (it == users.end()) return std::nullopt;
            return it->second;
        };
        h.user_by_uid = [this](uid_t u) -> std::optional<user_info> {
            for (auto& [n, i] : users)
                if (i.uid == u) return i;
            return std::nullopt;
        };
        h.read_file = [this](const user_info& as, const std::string& path) {
            reads.emplace_back(as.uid, path);
            auto it = files.find(path);
            return it == files.end() ? file_text{} : it->second;
        };
        h.parse = parse_targets;  // the real one (lib/aliases underneath)
        return h;
    }
    resolution run(const std::string& rcpt, const std::set<std::string>& dt = {},
                   std::function<void(resolver_settings&)> tweak = nullptr) {
        auto s = settings();
        if (tweak) tweak(s);
        resolver r(s, hooks());
        return r.resolve(rcpt, dt);
    }
    fixture() {
        vmailbox["alice@example.test"] = "alice@example.test/";
        vmailbox["bob@example.test"] = "bob@example.test/";
        users["bob"] = {"bob", 1001, 1001, "/home/bob", "/bin/sh"};
        users["carol"] = {"carol", 1002, 1002, "/home/carol", "/bin/sh"};
        users["root"] = {"root", 0, 0, "/root", "/bin/sh"};
    }
};

const leaf* find_leaf(const resolution& r, leaf_kind k, const std::string& dest) {
    for (auto& l : r.leaves)
        if (l.kind == k && l.dest == dest) return &l;
    return nullptr;
}

}  // namespace

TEST_CASE("resolve: forward_path templates") {
    user_info u{"bob", 1001, 1001, "/home/bob", "/bin/sh"};
    CHECK(expand_forward_path("$home/.forward${recipient_delimiter}${extension}", u, "lists", "+-") ==
          "/home/bob/.forward+lists");
    CHECK(expand_forward_path("$home/.forward${recipient_delimiter}${extension}", u, "", "+").empty());
    CHECK(expand_forward_path("$home/.forward", u, "x", "+") == "/home/bob/.forward");
    CHECK(expand_forward_path("/var/forward/$user", u, "", "+") == "/var/forward/bob");
    CHECK(expand_forward_path("/var/forward/$(user)", u, "", "+") == "/var/forward/bob");
    CHECK(expand_forward_path("$nosuch/x", u, "", "+").empty());
    CHECK(expand_forward_path("${home", u, "", "+").empty());
}

TEST_CASE("resolve: split_extension") {
    struct row {
        const char* local;
        const char* delims;
        const char* user;
        const char* ext;
    } rows[] = {{"bob+tag", "+", "bob", "tag"},     {"bob", "+", "bob", ""},
                {"bob+a+b", "+", "bob", "a+b"},     {"+tag", "+", "+tag", ""},
                {"bob-x+y", "+-", "bob", "x+y"},    {"bob+tag", "", "bob+tag", ""},
                {"bob+", "+", "bob", ""},           {"", "+", "", ""}};
    for (auto r : rows) {
        auto [u, e] = split_extension(r.local, r.delims);
        CHECK(u == r.user);
        CHECK(e == r.ext);
    }
}

TEST_CASE("resolve: virtual users, +tag and unknown users") {
    fixture f;
    auto r = f.run("alice@example.test");
    REQUIRE(r.result == outcome::deliver);
    REQUIRE(r.leaves.size() == 1);
    CHECK(r.leaves[0].kind == leaf_kind::maildir);
    CHECK(r.leaves[0].dest == "/srv/mail/alice@example.test/");
    CHECK(r.leaves[0].as.uid == 900);
    CHECK(r.leaves[0].is_virtual);
    CHECK(r.leaves[0].address == "alice@example.test");

    auto t = f.run("Alice+News@Example.TEST");
    REQUIRE(t.result == outcome::deliver);
    REQUIRE(t.leaves.size() == 1);
    CHECK(t.leaves[0].dest == "/srv/mail/alice@example.test/");
    CHECK(t.leaves[0].extension == "News");
    CHECK(t.leaves[0].address == "alice+news@example.test");

    auto u = f.run("nobody@example.test");
    CHECK(u.result == outcome::bounce);
    CHECK(u.status == "5.1.1");
    CHECK(u.leaves.empty());

    // an mbox (no trailing slash) and a path that tries to climb out
    f.vmailbox["m@example.test"] = "boxes/m";
    auto m = f.run("m@example.test");
    REQUIRE(m.leaves.size() == 1);
    CHECK(m.leaves[0].kind == leaf_kind::mbox);
    CHECK(m.leaves[0].dest == "/srv/mail/boxes/m");
    f.vmailbox["evil@example.test"] = "../../etc/";
    auto e = f.run("evil@example.test");
    CHECK(e.result == outcome::defer);
    CHECK(e.status == "4.3.5");
}

TEST_CASE("resolve: system users, home_mailbox and the spool") {
    fixture f;
    auto r = f.run("bob@localhost");
    REQUIRE(r.leaves.size() == 1);
    CHECK(r.leaves[0].kind == leaf_kind::mbox);
    CHECK(r.leaves[0].dest == "/var/mail/bob");
    CHECK(r.leaves[0].as.uid == 1001);
    auto m = f.run("bob+x@mail.example.test", {}, [](resolver_settings& s) { s.home_mailbox = "Maildir/"; });
    REQUIRE(m.leaves.size() == 1);
    CHECK(m.leaves[0].kind == leaf_kind::maildir);
    CHECK(m.leaves[0].dest == "/home/bob/Maildir/");
    CHECK(m.leaves[0].extension == "x");
    // unqualified is local
    auto q = f.run("carol");
    REQUIRE(q.leaves.size() == 1);
    CHECK(q.leaves[0].dest == "/var/mail/carol");
    CHECK(f.run("nosuchuser@localhost").status == "5.1.1");
    CHECK(f.run("../etc@localhost").status == "5.1.1");
    // .forward was looked for, as the user
    bool read_as_bob = false;
    for (auto& [uid, p] : f.reads)
        if (p == "/home/bob/.forward" && uid == 1001) read_as_bob = true;
    CHECK(read_as_bob);
}

TEST_CASE("resolve: aliases to users, files, commands and remote addresses") {
    fixture f;
    f.aliases["team"] = "alice@example.test, bob, someone@remote.example, \"|/usr/bin/logger -t team\", /tmp/team.log";
    auto r = f.run("team@localhost");
    REQUIRE(r.result == outcome::deliver);
    REQUIRE(r.leaves.size() == 5);
    auto a = find_leaf(r, leaf_kind::maildir, "/srv/mail/alice@example.test/");
    REQUIRE(a);
    CHECK(a->address == "alice@example.test");
    CHECK(find_leaf(r, leaf_kind::mbox, "/var/mail/bob"));
    auto fw = find_leaf(r, leaf_kind::forward, "someone@remote.example");
    REQUIRE(fw);
    CHECK(fw->address == "team@localhost");
    auto c = find_leaf(r, leaf_kind::command, "/usr/bin/logger -t team");
    REQUIRE(c);
    CHECK(c->as.uid == 65534);  // default_privs
    CHECK(c->user == "team");
    auto fl = find_leaf(r, leaf_kind::file, "/tmp/team.log");
    REQUIRE(fl);
    CHECK(fl->as.uid == 65534);

    // postmaster of a virtual domain falls back to alias_maps
    f.aliases["postmaster"] = "alice@example.test";
    auto p = f.run("postmaster@example.test");
    REQUIRE(p.leaves.size() == 1);
    CHECK(p.leaves[0].dest == "/srv/mail/alice@example.test/");
    auto nofb = f.run("postmaster@example.test", {}, [](resolver_settings& s) { s.virtual_alias_fallback = false; });
    CHECK(nofb.status == "5.1.1");
}

TEST_CASE("resolve: alias to itself, cycles, duplicates and depth") {
    fixture f;
    f.aliases["bob"] = "bob, alice@example.test";
    auto r = f.run("bob@localhost");
    REQUIRE(r.result == outcome::deliver);
    CHECK(r.leaves.size() == 2);
    CHECK(find_leaf(r, leaf_kind::mbox, "/var/mail/bob"));

    // a -> b -> a: a is then a plain user, and there is no such user
    f.aliases["a"] = "b";
    f.aliases["b"] = "a";
    auto c = f.run("a@localhost");
    CHECK(c.result == outcome::bounce);
    CHECK(c.status == "5.1.1");
    // a cycle through real users ends in their mailboxes
    f.aliases["carol"] = "bob@localhost";
    f.aliases["bob"] = "carol@localhost";
    auto cu = f.run("carol@localhost");
    REQUIRE(cu.result == outcome::deliver);
    REQUIRE(cu.leaves.size() == 1);
    CHECK(cu.leaves[0].dest == "/var/mail/carol");

    // the same target twice is delivered once
    f.aliases["twice"] = "alice@example.test, Alice@Example.test, alice@example.test";
    auto d = f.run("twice@localhost");
    CHECK(d.leaves.size() == 1);

    // a long chain is cut off
    for (int i = 0; i < 40; ++i) f.aliases["chain" + std::to_string(i)] = "chain" + std::to_string(i + 1);
    auto ch = f.run("chain0@localhost");
    CHECK(ch.result == outcome::bounce);
    CHECK(ch.status == "5.4.6");
    // the limit on leaves
    std::string many;
    for (int i = 0; i < 30; ++i) many += (i ? ", " : "") + std::string("x") + std::to_string(i) + "@remote.example";
    f.aliases["many"] = many;
    auto lim = f.run("many@localhost", {}, [](resolver_settings& s) { s.leaf_limit = 10; });
    CHECK(lim.result == outcome::bounce);
    CHECK(lim.status == "5.2.4");
    CHECK(lim.leaves.empty());
    auto ok = f.run("many@localhost");
    CHECK(ok.leaves.size() == 30);
}

TEST_CASE("resolve: virtual aliases") {
    fixture f;
    f.valias["sales@alias.example"] = "alice@example.test bob@example.test, far@remote.example";
    f.valias["@catch.example.test"] = "alice@example.test";
    f.valias["info@example.test"] = "info@example.test, alice@example.test";
    f.vmailbox["info@example.test"] = "info/";
    auto r = f.run("sales@alias.example");
    REQUIRE(r.result == outcome::deliver);
    CHECK(r.leaves.size() == 3);
    CHECK(find_leaf(r, leaf_kind::forward, "far@remote.example"));
    // +tag: the entry without the extension matches, the tag propagates
    auto t = f.run("sales+x@alias.example");
    REQUIRE(t.leaves.size() == 3);
    auto a = find_leaf(t, leaf_kind::maildir, "/srv/mail/alice@example.test/");
    REQUIRE(a);
    CHECK(a->extension == "x");
    // a catch-all of any domain
    auto c = f.run("whoever@catch.example.test");
    REQUIRE(c.leaves.size() == 1);
    CHECK(c.leaves[0].dest == "/srv/mail/alice@example.test/");
    // a virtual alias domain without an entry: unknown user
    CHECK(f.run("nobody@alias.example").status == "5.1.1");
    // an address aliased to itself is delivered as is, plus the others
    auto self = f.run("info@example.test");
    REQUIRE(self.leaves.size() == 2);
    CHECK(find_leaf(self, leaf_kind::maildir, "/srv/mail/info/"));
}

TEST_CASE("resolve: Delivered-To loops") {
    fixture f;
    f.aliases["list"] = "someone@remote.example";
    auto r = f.run("list@localhost", {"list@localhost"});
    CHECK(r.result == outcome::bounce);
    CHECK(r.status == "5.4.6");
    CHECK(r.text.find("loop") != std::string::npos);
    // found below the top as well
    auto v = f.run("list@localhost", {"someone@remote.example"});
    CHECK(v.result == outcome::bounce);
    CHECK(f.run("list@localhost", {"other@localhost"}).result == outcome::deliver);
}

TEST_CASE("resolve: +tag with aliases") {
    fixture f;
    f.aliases["team"] = "alice@example.test, bob";
    auto r = f.run("team+urgent@localhost");
    REQUIRE(r.result == outcome::deliver);
    REQUIRE(r.leaves.size() == 2);
    auto a = find_leaf(r, leaf_kind::maildir, "/srv/mail/alice@example.test/");
    REQUIRE(a);
    CHECK(a->extension == "urgent");  // propagated
    CHECK(a->address == "alice+urgent@example.test");
    // an alias for the full local part wins and keeps nothing to propagate
    f.aliases["team+urgent"] = "carol";
    auto u = f.run("team+urgent@localhost");
    REQUIRE(u.leaves.size() == 1);
    CHECK(u.leaves[0].dest == "/var/mail/carol");
    CHECK(u.leaves[0].extension.empty());
}

TEST_CASE("resolve: .forward") {
    fixture f;
    f.files["/home/bob/.forward"] = {found::yes, "\\bob, carol@remote.example, \"|/home/bob/bin/filter\"\n", "", 1001};
    auto r = f.run("bob@localhost");
    REQUIRE(r.result == outcome::deliver);
    REQUIRE(r.leaves.size() == 3);
    CHECK(find_leaf(r, leaf_kind::mbox, "/var/mail/bob"));
    CHECK(find_leaf(r, leaf_kind::forward, "carol@remote.example"));
    auto c = find_leaf(r, leaf_kind::command, "/home/bob/bin/filter");
    REQUIRE(c);
    CHECK(c->as.uid == 1001);  // runs as bob
    CHECK(c->origin == "~bob/.forward");
    // .forward+ext is preferred for user+ext
    f.files["/home/bob/.forward+lists"] = {found::yes, "/home/bob/lists.mbox\n", "", 1001};
    auto l = f.run("bob+lists@localhost");
    REQUIRE(l.leaves.size() == 1);
    CHECK(l.leaves[0].kind == leaf_kind::file);
    CHECK(l.leaves[0].dest == "/home/bob/lists.mbox");
    // a .forward owned by someone else is ignored
    f.files["/home/bob/.forward+lists"] = {found::yes, "/tmp/stolen.mbox\n", "", 1002};
    auto o = f.run("bob+lists@localhost");
    REQUIRE(o.leaves.size() == 3);  // the plain .forward applies instead
    CHECK_FALSE(find_leaf(o, leaf_kind::file, "/tmp/stolen.mbox"));
    // an unreadable .forward defers
    f.files["/home/carol/.forward"] = {found::error, "", "Permission denied", 0};
    auto e = f.run("carol@localhost");
    CHECK(e.result == outcome::defer);
    CHECK(e.status == "4.3.0");
    // with forward disabled, the mailbox
    auto n = f.run("bob@localhost", {}, [](resolver_settings& s) { s.forward_path.clear(); });
    REQUIRE(n.leaves.size() == 1);
    CHECK(n.leaves[0].dest == "/var/mail/bob");
}

TEST_CASE("resolve: :include: and the allow_mail_to_* rules") {
    fixture f;
    f.aliases["staff"] = ":include:/etc/tern/staff.list";
    f.files["/etc/tern/staff.list"] = {found::yes, "alice@example.test\nbob\n", "", 0};
    auto r = f.run("staff@localhost");
    REQUIRE(r.result == outcome::deliver);
    CHECK(r.leaves.size() == 2);
    // read as root (uid 0) because it came from aliases
    bool as_root = false;
    for (auto& [uid, p] : f.reads)
        if (p == "/etc/tern/staff.list" && uid == 0) as_root = true;
    CHECK(as_root);
    // commands in include files are refused by default
    f.files["/etc/tern/staff.list"] = {found::yes, "\"|/bin/cat\"\n", "", 1002};
    auto c = f.run("staff@localhost");
    CHECK(c.result == outcome::bounce);
    CHECK(c.status == "5.7.1");
    // allowed: runs as the include file's owner
    auto a = f.run("staff@localhost", {}, [](resolver_settings& s) { s.allow_commands = 7; });
    REQUIRE(a.leaves.size() == 1);
    CHECK(a.leaves[0].as.name == "carol");
    // files from aliases can be switched off
    f.aliases["log"] = "/tmp/x.log";
    auto fl = f.run("log@localhost", {}, [](resolver_settings& s) { s.allow_files = 2; });
    CHECK(fl.status == "5.7.1");
    // a missing include file bounces, a relative one too
    f.aliases["gone"] = ":include:/nonexistent";
    CHECK(f.run("gone@localhost").status == "5.3.5");
}

TEST_CASE("resolve: table errors defer") {
    fixture f;
    f.alias_broken = true;
    auto r = f.run("bob@localhost");
    CHECK(r.result == outcome::defer);
    CHECK(r.status == "4.3.0");
    // a broken alias value defers too (administrator's problem, not the sender's)
    fixture g;
    g.aliases["bad"] = "\"unterminated";
    auto b = g.run("bad@localhost");
    CHECK(b.result == outcome::defer);
}

TEST_CASE("headers: Delivered-To and X-Spam-Flag") {
    std::string h =
        "Received: from x\n"
        "\tby y\n"
        "Delivered-To: <Alice@Example.Test>\r\n"
        "delivered-to: bob@localhost\n"
        "X-Spam-Flag: YES\n"
        "Subject: Delivered-To: not a field\n"
        "\n"
        "Delivered-To: body@example.test\n";
    auto f = scan_headers(h);
    CHECK(f.delivered_to == std::set<std::string>{"alice@example.test", "bob@localhost"});
    CHECK(f.spam);
    CHECK_FALSE(f.truncated);
    CHECK_FALSE(scan_headers("X-Spam-Flag: NO\n\n").spam);
    CHECK(scan_headers("X-Spam-Flag:\n yes\n\n").spam);  // folded
    auto lim = scan_headers("Delivered-To: a\nDelivered-To: b\nDelivered-To: c\n", 2);
    CHECK(lim.delivered_to.size() == 2);
    CHECK(lim.truncated);
    // every split point of a header block gives the same answer (the block is whole here,
    // so cut it instead: a prefix never reports more than the whole)
    for (size_t i = 0; i <= h.size(); ++i) {
        auto p = scan_headers(std::string_view(h).substr(0, i));
        CHECK(p.delivered_to.size() <= 2);
    }
    CHECK(trace_headers("carol@example.org", "alice@example.test") ==
          "Return-Path: <carol@example.org>\nDelivered-To: alice@example.test\n");
    CHECK(trace_headers("", "x\ny") == "Return-Path: <>\nDelivered-To: x y\n");
}
