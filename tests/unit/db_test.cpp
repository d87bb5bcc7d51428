// db_test.cpp - Berkeley DB layer: read-only handles, atomic builds (seen by
// readers in this and another process), shared read-write sessions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/db.hpp"
#include "lib/fd.hpp"

using namespace tern;
using namespace tern::db;

namespace {

struct temp_dir {
    std::string path;
    temp_dir() {
        char tmpl[] = "/tmp/tern-db-test-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string operator/(const std::string& name) const { return path + "/" + name; }
};

std::map<std::string, std::string> dump(const handle& h) {
    std::map<std::string, std::string> out;
    std::string err;
    REQUIRE(h.for_each(
        [&](std::string_view k, std::string_view v) {
            out.emplace(k, v);
            return true;
        },
        err));
    return out;
}

void build(const std::string& path, db_type type, const std::map<std::string, std::string>& pairs,
           mode_t mode = 0644) {
    std::string err;
    auto b = builder::start(path, type, mode, err);
    REQUIRE(b);
    for (const auto& [k, v] : pairs) REQUIRE(b->put(k, v, err));
    REQUIRE(b->commit(err));
}

// Wait for a child with a time limit; its exit status, or -1.
int wait_child(pid_t pid, int seconds) {
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    for (;;) {
        int st = 0;
        pid_t r = ::waitpid(pid, &st, WNOHANG);
        if (r == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (std::chrono::steady_clock::now() > end) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &st, 0);
            return -1;
        }
        ::usleep(2000);
    }
}

}  // namespace

TEST_CASE("db types by name", "[db]") {
    CHECK(parse_db_type("hash") == db_type::hash);
    CHECK(parse_db_type("btree") == db_type::btree);
    CHECK_FALSE(parse_db_type("HASH"));
    CHECK_FALSE(parse_db_type("dbm"));
    CHECK(std::string(db_type_name(db_type::btree)) == "btree");
}

TEST_CASE("build and read hash and btree tables", "[db]") {
    temp_dir dir;
    for (auto type : {db_type::hash, db_type::btree}) {
        std::string path = dir / (std::string(db_type_name(type)) + ".db");
        std::map<std::string, std::string> pairs = {
            {"alpha", "1"}, {"beta", "two words"}, {"", "empty key"}, {std::string("nul\0key", 7), "binary"},
            {"long", std::string(100000, 'x')}};
        build(path, type, pairs, 0640);

        struct stat st;
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0640);

        std::string err;
        file_stamp stamp;
        auto h = open_read(path, type, err, &stamp);
        REQUIRE(h);
        CHECK(stamp.ino == st.st_ino);
        for (const auto& [k, v] : pairs) {
            std::string value;
            CHECK(h.get(k, value, err) == status::found);
            CHECK(value == v);
        }
        std::string value = "untouched";
        CHECK(h.get("gamma", value, err) == status::not_found);
        CHECK(value == "untouched");
        CHECK(dump(h) == pairs);
        // no temporary file left behind
        size_t files = 0;
        for (auto& e : std::filesystem::directory_iterator(dir.path)) {
            (void)e;
            ++files;
        }
        CHECK(files == (type == db_type::hash ? 1u : 2u));
    }
}

TEST_CASE("builder keeps the first value of a duplicate key", "[db]") {
    temp_dir dir;
    std::string err;
    auto b = builder::start(dir / "t.db", db_type::hash, 0644, err);
    REQUIRE(b);
    bool dup = true;
    REQUIRE(b->put("k", "first", err, &dup));
    CHECK_FALSE(dup);
    REQUIRE(b->put("k", "second", err, &dup));
    CHECK(dup);
    REQUIRE(b->commit(err));
    auto h = open_read(dir / "t.db", db_type::hash, err);
    std::string v;
    REQUIRE(h.get("k", v, err) == status::found);
    CHECK(v == "first");
}

TEST_CASE("an abandoned build leaves the old table and no temporary file", "[db]") {
    temp_dir dir;
    std::string path = dir / "t.db";
    build(path, db_type::hash, {{"old", "1"}});
    std::string temp;
    {
        std::string err;
        auto b = builder::start(path, db_type::hash, 0644, err);
        REQUIRE(b);
        temp = b->temp_path();
        REQUIRE(b->put("new", "2", err));
        CHECK(::access(temp.c_str(), F_OK) == 0);
        // while the build runs, readers see the complete old table
        auto h = open_read(path, db_type::hash, err);
        REQUIRE(h);
        CHECK(dump(h) == std::map<std::string, std::string>{{"old", "1"}});
        // a moved builder still owns its file
        auto moved = std::move(*b);
        b.reset();
        CHECK(::access(temp.c_str(), F_OK) == 0);
    }
    CHECK(::access(temp.c_str(), F_OK) != 0);
    std::string err;
    auto h = open_read(path, db_type::hash, err);
    REQUIRE(h);
    CHECK(dump(h) == std::map<std::string, std::string>{{"old", "1"}});
}

TEST_CASE("an open reader keeps its table; a rebuild is seen on reopen", "[db]") {
    temp_dir dir;
    std::string path = dir / "t.db";
    build(path, db_type::hash, {{"k", "v1"}, {"only-old", "x"}});
    std::string err;
    file_stamp s1, s2;
    auto old_reader = open_read(path, db_type::hash, err, &s1);
    REQUIRE(old_reader);
    build(path, db_type::hash, {{"k", "v2"}, {"only-new", "y"}});
    // the old handle still reads the old, complete file (renamed away, not changed)
    CHECK(dump(old_reader) == std::map<std::string, std::string>{{"k", "v1"}, {"only-old", "x"}});
    auto new_reader = open_read(path, db_type::hash, err, &s2);
    REQUIRE(new_reader);
    CHECK(dump(new_reader) == std::map<std::string, std::string>{{"k", "v2"}, {"only-new", "y"}});
    CHECK_FALSE(s1 == s2);
    CHECK(stamp_of_path(path) == s2);
}

TEST_CASE("readers in one process never see a partial table built by another", "[db]") {
    temp_dir dir;
    std::string path = dir / "t.db";
    const int entries = 300;
    auto generation = [&](int g) {
        std::map<std::string, std::string> m;
        for (int i = 0; i < entries; ++i) m["key" + std::to_string(i)] = "gen" + std::to_string(g);
        return m;
    };
    build(path, db_type::hash, generation(0));
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        // the writer: rebuild with a new generation as fast as it can
        for (int g = 1; g <= 40; ++g) {
            std::string err;
            auto b = builder::start(path, db_type::hash, 0644, err);
            if (!b) ::_exit(2);
            for (const auto& [k, v] : generation(g))
                if (!b->put(k, v, err)) ::_exit(3);
            if (!b->commit(err)) ::_exit(4);
        }
        ::_exit(0);
    }
    int checked = 0;
    std::set<std::string> generations_seen;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < end) {
        std::string err;
        auto h = open_read(path, db_type::hash, err);
        REQUIRE(h);  // the name always refers to a complete table
        auto m = dump(h);
        REQUIRE(m.size() == static_cast<size_t>(entries));
        std::string gen = m.begin()->second;
        bool one_generation = std::all_of(m.begin(), m.end(), [&](const auto& kv) { return kv.second == gen; });
        REQUIRE(one_generation);
        generations_seen.insert(gen);
        ++checked;
        int st;
        if (::waitpid(pid, &st, WNOHANG) == pid) {
            REQUIRE(WIFEXITED(st));
            CHECK(WEXITSTATUS(st) == 0);
            pid = -1;
            break;
        }
    }
    if (pid > 0) CHECK(wait_child(pid, 10) == 0);
    CHECK(checked > 0);
    INFO("generations seen by the reader: " << generations_seen.size());
    CHECK(generations_seen.size() >= 1);
    std::string err;
    auto h = open_read(path, db_type::hash, err);
    CHECK(dump(h) == generation(40));
}

TEST_CASE("open errors say why", "[db]") {
    temp_dir dir;
    std::string err;
    auto h = open_read(dir / "missing.db", db_type::hash, err);
    CHECK_FALSE(h);
    CHECK(err.find("missing.db") != std::string::npos);
    CHECK(err.find("No such file") != std::string::npos);

    REQUIRE(write_file_atomic(dir / "junk.db", "this is not a database\n"));
    err.clear();
    CHECK_FALSE(open_read(dir / "junk.db", db_type::hash, err));
    CHECK(err.find("junk.db") != std::string::npos);

    build(dir / "b.db", db_type::btree, {{"a", "1"}});
    err.clear();
    CHECK_FALSE(open_read(dir / "b.db", db_type::hash, err));  // wrong type
    CHECK_FALSE(err.empty());

    err.clear();
    CHECK_FALSE(builder::start(dir / "no/such/dir/t.db", db_type::hash, 0644, err));
    CHECK(err.find("no/such/dir") != std::string::npos);
}

TEST_CASE("shared_db sessions: get, put, del, scan", "[db]") {
    temp_dir dir;
    shared_db db(dir / "grey.db", db_type::hash, 0600);
    std::string err, v;
    {
        // a reader before anything was written sees an empty database
        auto r = db.open(lock_mode::shared, true, err);
        REQUIRE(r);
        CHECK_FALSE(r->writable());
        CHECK(r->get("a", v, err) == status::not_found);
        CHECK_FALSE(r->put("a", "1", err));  // readers cannot write
    }
    CHECK(::access((dir / "grey.db").c_str(), F_OK) != 0);
    {
        auto w = db.open(lock_mode::exclusive, true, err);
        REQUIRE(w);
        for (int i = 0; i < 10; ++i) REQUIRE(w->put("k" + std::to_string(i), std::to_string(i), err));
        REQUIRE(w->put("k0", "replaced", err));
        CHECK(w->del("k9", err) == status::found);
        CHECK(w->del("k9", err) == status::not_found);
        REQUIRE(w->commit(err));
    }
    struct stat st;
    REQUIRE(::stat((dir / "grey.db").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    {
        auto r = db.open(lock_mode::shared, true, err);
        REQUIRE(r);
        REQUIRE(r->get("k0", v, err) == status::found);
        CHECK(v == "replaced");
        CHECK(r->get("k9", v, err) == status::not_found);
        bool refused = !r->scan([](std::string_view, std::string_view) { return handle::step::erase; }, err);
        CHECK(refused);
    }
    {
        // expire entries the way a greylist sweep would
        auto w = db.open(lock_mode::exclusive, true, err);
        REQUIRE(w);
        REQUIRE(w->scan(
            [](std::string_view k, std::string_view) {
                return (k.back() - '0') % 2 == 1 ? handle::step::erase : handle::step::keep;
            },
            err));
    }
    auto r = db.open(lock_mode::shared, true, err);
    REQUIRE(r);
    std::vector<std::string> keys;
    REQUIRE(r->scan(
        [&](std::string_view k, std::string_view) {
            keys.emplace_back(k);
            return handle::step::keep;
        },
        err));
    std::sort(keys.begin(), keys.end());
    CHECK(keys == std::vector<std::string>{"k0", "k2", "k4", "k6", "k8"});
}

TEST_CASE("shared_db: one writer at a time across processes", "[db]") {
    temp_dir dir;
    shared_db db(dir / "count.db", db_type::btree);
    std::string err;
    {
        // a held exclusive lock makes a non-blocking open in another process fail
        auto w = db.open(lock_mode::exclusive, true, err);
        REQUIRE(w);
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            std::string e;
            auto s = db.open(lock_mode::shared, false, e);
            ::_exit(s ? 1 : 0);
        }
        CHECK(wait_child(pid, 10) == 0);
    }
    // two processes increment one counter; no update may be lost
    const int rounds = 150;
    auto worker = [&] {
        for (int i = 0; i < rounds; ++i) {
            std::string e, v;
            auto s = db.open(lock_mode::exclusive, true, e);
            if (!s) ::_exit(2);
            auto st = s->get("n", v, e);
            if (st == status::error) ::_exit(3);
            long n = st == status::found ? std::atol(v.c_str()) : 0;
            if (!s->put("n", std::to_string(n + 1), e)) ::_exit(4);
            if (!s->commit(e)) ::_exit(5);
        }
        ::_exit(0);
    };
    pid_t a = ::fork();
    REQUIRE(a >= 0);
    if (a == 0) worker();
    pid_t b = ::fork();
    REQUIRE(b >= 0);
    if (b == 0) worker();
    CHECK(wait_child(a, 60) == 0);
    CHECK(wait_child(b, 60) == 0);
    auto r = db.open(lock_mode::shared, true, err);
    REQUIRE(r);
    std::string v;
    REQUIRE(r->get("n", v, err) == status::found);
    CHECK(v == std::to_string(2 * rounds));
}
