// queue_test.cpp - the mail queue: IDs, directory tree, file format (round
// trips, truncation, garbage), updates in place, the writer and the group
// committer (ordering and error paths, ENOSPC through RLIMIT_FSIZE).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include "lib/event.hpp"
#include "lib/fd.hpp"
#include "lib/queue_commit.hpp"
#include "lib/queue_dir.hpp"
#include "lib/queue_file.hpp"
#include "lib/queue_id.hpp"
#include "lib/queue_writer.hpp"

using namespace tern;

namespace {

struct temp_queue {
    std::string root;
    queue_dir q;
    explicit temp_queue(int depth = 1) : root(make()), q(root + "/queue", depth) {
        std::string err;
        REQUIRE(create_queue_tree(q, {}, err));
    }
    ~temp_queue() { std::system(("rm -rf '" + root + "'").c_str()); }
    static std::string make() {
        char tmpl[] = "/tmp/tern-queue-XXXXXX";
        REQUIRE(::mkdtemp(tmpl));
        return tmpl;
    }
};

envelope full_envelope() {
    envelope e;
    e.sender = "sender@example.test";
    e.client_address = "192.0.2.7";
    e.client_name = "client.example.test";
    e.helo = "helo.example.test";
    e.auth_user = "alice@example.test";
    e.protocol = "ESMTPSA";
    e.body = body_type::eight_bit_mime;
    e.smtputf8 = true;
    e.envid = "QQ314159";
    e.ret = dsn_ret::hdrs;
    e.by = {1700000600, 600, 'R', true};
    e.attributes = {{"log_ident", "abc"}, {"tls.cipher", "TLS_AES_256_GCM_SHA384"}};
    recipient a;
    a.address = "one@example.net";
    a.orcpt = "rfc822;One@Example.NET";
    a.notify = dsn_notify::success | dsn_notify::failure;
    recipient b;
    b.address = "two@example.net";
    b.notify = dsn_notify::never;
    recipient c;
    c.address = "dr\xc3\xbc@example.net";  // UTF-8 local part
    c.orcpt = "utf-8;dr\xc3\xbc@example.net";
    c.notify = dsn_notify::delay;
    e.recipients = {a, b, c};
    return e;
}

const std::string message = "From: a@example.test\nSubject: hi\n\nline 1\n.\nline 3\n";

std::string write_message(const queue_dir& q, const envelope& env, const std::string& msg = message,
                          bool sync = false) {
    std::string err;
    auto w = queue_writer::create(q, err);
    REQUIRE(w);
    int64_t arrival = w->env().arrival_us;
    w->env() = env;
    w->env().arrival_us = arrival;
    // feed the message in uneven chunks
    for (size_t i = 0; i < msg.size(); i += 7) REQUIRE(w->write(std::string_view(msg).substr(i, 7)));
    std::string id = w->id();
    REQUIRE(w->commit(err, sync));
    return id;
}

std::string slurp(const std::string& path) {
    auto s = read_file(path, 64u << 20);
    REQUIRE(s);
    return *s;
}

bool parses(std::string_view data, std::string* why = nullptr) {
    queue_file_info info;
    std::string err;
    bool ok = parse_queue_file(data, info, err);
    if (why) *why = err;
    return ok;
}

uint64_t rchar() {
    std::ifstream in("/proc/self/io");
    std::string k;
    uint64_t v;
    while (in >> k >> v)
        if (k == "rchar:") return v;
    return 0;
}

}  // namespace

TEST_CASE("queue IDs: fixed width base 36, sorted by time", "[queue]") {
    CHECK(encode_queue_id(0) == "0000000000");
    CHECK(encode_queue_id(35) == "000000000Z");
    CHECK(encode_queue_id(36) == "0000000010");
    CHECK(encode_queue_id(UINT64_MAX) == "ZZZZZZZZZZ");  // clamped
    uint64_t now = now_micros();
    std::string id = encode_queue_id(now);
    CHECK(id.size() == queue_id_length);
    CHECK(decode_queue_id(id) == now);
    std::mt19937_64 rng(42);
    for (int i = 0; i < 1000; ++i) {
        uint64_t a = rng() % 3656158440062975ULL, b = rng() % 3656158440062975ULL;
        CHECK((encode_queue_id(a) < encode_queue_id(b)) == (a < b));
    }
    CHECK(valid_queue_id("0123456789"));
    CHECK(valid_queue_id("ABCDEFGHIJ"));
    for (const char* bad : {"", "012345678", "01234567890", "abcdefghij", "../../etc/", "01234 6789", "0123456789\n"})
        CHECK_FALSE(valid_queue_id(bad));
    CHECK_FALSE(decode_queue_id("abc"));
}

TEST_CASE("queue IDs are unique and increasing across forked processes", "[queue]") {
    temp_queue t;
    constexpr int children = 4, per_child = 3000;
    std::string before = t.q.ids().next();
    CHECK(t.q.ids().shared());
    std::vector<pid_t> pids;
    for (int c = 0; c < children; ++c) {
        pid_t pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            queue_dir q(t.q.root());  // a fresh mapping, as another daemon would have
            std::string out;
            std::string prev;
            for (int i = 0; i < per_child; ++i) {
                std::string id = q.ids().next();
                if (id <= prev) _exit(3);
                prev = id;
                out += id + "\n";
            }
            _exit(write_file_atomic(t.root + "/ids." + std::to_string(c), out, 0600) ? 0 : 2);
        }
        pids.push_back(pid);
    }
    for (pid_t p : pids) {
        int st = 0;
        REQUIRE(::waitpid(p, &st, 0) == p);
        CHECK(WIFEXITED(st));
        CHECK(WEXITSTATUS(st) == 0);
    }
    std::set<std::string> all;
    for (int c = 0; c < children; ++c) {
        std::istringstream in(slurp(t.root + "/ids." + std::to_string(c)));
        std::string id;
        while (in >> id) {
            CHECK(valid_queue_id(id));
            CHECK(id > before);
            all.insert(id);
        }
    }
    CHECK(all.size() == static_cast<size_t>(children * per_child));
    CHECK(t.q.ids().next() > *all.rbegin());

    // without the shared file: unique within the process, across threads
    queue_id_source local("");
    CHECK_FALSE(local.shared());
    std::mutex mu;
    std::set<std::string> seen;
    std::vector<std::thread> ts;
    for (int i = 0; i < 4; ++i)
        ts.emplace_back([&] {
            for (int k = 0; k < 2000; ++k) {
                auto id = local.next();
                std::lock_guard<std::mutex> lk(mu);
                seen.insert(id);
            }
        });
    for (auto& th : ts) th.join();
    CHECK(seen.size() == 8000u);
}

TEST_CASE("queue tree, hash paths, moves without replacing", "[queue]") {
    temp_queue t(2);
    struct stat st;
    REQUIRE(::stat(t.q.dir("maildrop").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);  // no setgid group: owner only
    REQUIRE(::stat(t.q.dir("incoming").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    REQUIRE(::stat(t.q.dir("public").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0755);
    REQUIRE(::stat((t.q.root() + "/id.seq").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    if (::geteuid() == 0) {
        // system mode: maildrop belongs to the setgid group, sticky and not listable
        queue_dir sys(t.root + "/sys");
        std::string e;
        REQUIRE(create_queue_tree(sys, {.uid = 1, .gid = 1, .setgid_group = 2}, e));
        REQUIRE(::stat(sys.dir("maildrop").c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 01730);
        CHECK(st.st_uid == 1);
        CHECK(st.st_gid == 2);
        REQUIRE(::stat(sys.dir("deferred").c_str(), &st) == 0);
        CHECK(st.st_uid == 1);
        CHECK((st.st_mode & 07777) == 0700);
    }
    // a tree without tmp/ (made by an older tern init) gets it on first use
    REQUIRE(::rmdir(t.q.dir("tmp").c_str()) == 0);
    write_message(t.q, full_envelope());
    REQUIRE(::stat(t.q.dir("tmp").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0700);
    std::string err;
    CHECK(check_queue_tree(t.q, err));

    CHECK(t.q.path("incoming", "0123456789") == t.q.root() + "/incoming/0123456789");
    CHECK(t.q.path("deferred", "0123456789") == t.q.root() + "/deferred/9/8/0123456789");
    CHECK(t.q.path("hold", "012345678A") == t.q.root() + "/hold/A/8/012345678A");
    CHECK(queue_dir("/", 1).path("deferred", "0123456789") == "/deferred/9/0123456789");

    std::string id = write_message(t.q, full_envelope());
    CHECK(t.q.locate("incoming", id));
    REQUIRE(t.q.move(id, "incoming", "deferred", err));
    CHECK_FALSE(t.q.locate("incoming", id));
    CHECK(t.q.locate("deferred", id) == t.q.path("deferred", id));
    REQUIRE(::stat(dirname_of(t.q.path("deferred", id)).c_str(), &st) == 0);  // made on demand
    CHECK((st.st_mode & 0777) == 0700);
    std::string where;
    CHECK(t.q.find(id, {"incoming", "active", "deferred"}, &where));
    CHECK(where == "deferred");
    // a depth change: the old place is still found, and moves still work
    queue_dir shallow(t.q.root(), 1);
    CHECK(shallow.locate("deferred", id) == t.q.path("deferred", id));
    REQUIRE(shallow.move(id, "deferred", "hold", err));
    CHECK(shallow.locate("hold", id) == shallow.path("hold", id));
    REQUIRE(shallow.move(id, "hold", "active", err));
    // never replace: a second file with the same name in the target stays
    REQUIRE(write_file_atomic(t.q.path("incoming", id), "other", 0600));
    CHECK_FALSE(t.q.move(id, "active", "incoming", err));
    CHECK(errno == EEXIST);
    CHECK(slurp(t.q.path("incoming", id)) == "other");
    CHECK(t.q.locate("active", id));
    CHECK_FALSE(t.q.move("0000000000", "active", "incoming", err));
    CHECK(errno == ENOENT);

    // listing is sorted and skips strays
    std::vector<std::string> ids;
    for (int i = 0; i < 5; ++i) ids.push_back(write_message(t.q, full_envelope()));
    REQUIRE(write_file_atomic(t.q.dir("incoming") + "/not-an-id", "x", 0600));
    auto listed = t.q.list("incoming");
    REQUIRE(listed.size() == 7);  // the tmp/ check, the 5 new ones and "other"; not-an-id is skipped
    CHECK(std::is_sorted(listed.begin(), listed.end()));
    for (auto& i : ids) t.q.move(i, "incoming", "deferred", err);
    auto deferred = t.q.list("deferred");
    CHECK(deferred.size() == 5);
    for (auto& e : deferred) CHECK(e.path == t.q.path("deferred", e.id));

    CHECK(queue_space_ok(t.root, 0));
    CHECK_FALSE(queue_space_ok(t.root, UINT64_MAX / 2, UINT64_MAX / 2 + 10));
    CHECK(queue_free_space(t.root).value_or(0) > 0);
}

TEST_CASE("queue file round trip of every envelope field", "[queue]") {
    temp_queue t;
    envelope env = full_envelope();
    std::string id = write_message(t.q, env, message, true);
    std::string path = t.q.path("incoming", id);

    for (int way = 0; way < 2; ++way) {
        queue_file_info info;
        std::string err;
        if (way == 0) {
            unique_fd fd(::open(path.c_str(), O_RDONLY));
            REQUIRE(read_queue_file(fd.get(), info, err));
        } else {
            REQUIRE(parse_queue_file(slurp(path), info, err));
        }
        const auto& e = info.env;
        CHECK(e.arrival_us == static_cast<int64_t>(*decode_queue_id(id)));
        CHECK(e.sender == env.sender);
        CHECK(e.client_address == env.client_address);
        CHECK(e.client_name == env.client_name);
        CHECK(e.helo == env.helo);
        CHECK(e.auth_user == env.auth_user);
        CHECK(e.protocol == env.protocol);
        CHECK(e.body == body_type::eight_bit_mime);
        CHECK(e.smtputf8);
        CHECK(e.envid == "QQ314159");
        CHECK(e.ret == dsn_ret::hdrs);
        CHECK(e.by.deadline == 1700000600);
        CHECK(e.by.seconds == 600);
        CHECK(e.by.mode == 'R');
        CHECK(e.by.trace);
        REQUIRE(e.attributes.size() == 2);
        CHECK(*e.attribute("tls.cipher") == "TLS_AES_256_GCM_SHA384");
        CHECK(e.attribute("nope") == nullptr);
        REQUIRE(e.recipients.size() == 3);
        for (size_t i = 0; i < 3; ++i) {
            CHECK(e.recipients[i].address == env.recipients[i].address);
            CHECK(e.recipients[i].orcpt == env.recipients[i].orcpt);
            CHECK(e.recipients[i].notify == env.recipients[i].notify);
            CHECK(e.recipients[i].status == rcpt_status::pending);
            CHECK_FALSE(e.recipients[i].last);
        }
        CHECK(info.message_length == message.size());
        CHECK(info.line_count == 6);
        CHECK(info.message_size() == message.size() + 6);
        CHECK(info.header_length == std::string("From: a@example.test\nSubject: hi\n\n").size());
        CHECK(info.sched.next_try == 0);
        CHECK(info.sched.attempts == 0);
        CHECK_FALSE(info.sched_damaged);
        CHECK(info.log_records == 0);
        std::string body;
        unique_fd fd(::open(path.c_str(), O_RDONLY));
        REQUIRE(read_file_range(fd.get(), info.message_offset, info.message_length, body, err));
        CHECK(body == message);
    }

    // the minimal envelope: null sender, one recipient, nothing else; no body separator
    envelope min;
    min.recipients.push_back({});
    min.recipients[0].address = "postmaster";
    std::string id2 = write_message(t.q, min, "Subject: only a header\n");
    queue_file_info info;
    std::string err;
    REQUIRE(parse_queue_file(slurp(t.q.path("incoming", id2)), info, err));
    CHECK(info.env.sender.empty());
    CHECK(info.env.body == body_type::unspecified);
    CHECK(info.env.ret == dsn_ret::unspecified);
    CHECK(info.env.by.mode == 0);
    CHECK_FALSE(info.env.smtputf8);
    CHECK(info.header_length == info.message_length);
    // an empty message is a message too
    // a caller that replaces the whole envelope still gets an arrival time
    auto w = queue_writer::create(t.q, err);
    std::string id4 = w->id();
    w->env() = min;
    REQUIRE(w->commit(err, false));
    REQUIRE(parse_queue_file(slurp(t.q.path("incoming", id4)), info, err));
    CHECK(info.env.arrival_us == static_cast<int64_t>(*decode_queue_id(id4)));
    std::string id3 = write_message(t.q, min, "");
    REQUIRE(parse_queue_file(slurp(t.q.path("incoming", id3)), info, err));
    CHECK(info.message_length == 0);
}

TEST_CASE("the writer refuses bad envelopes", "[queue]") {
    temp_queue t;
    auto attempt = [&](auto mutate) {
        std::string err;
        auto w = queue_writer::create(t.q, err);
        REQUIRE(w);
        w->env() = full_envelope();
        mutate(w->env());
        bool ok = w->write("x\n");
        if (ok) CHECK(w->commit(err, false));
        else CHECK(w->error_number() == EINVAL);
        return ok;
    };
    CHECK(attempt([](envelope&) {}));
    CHECK_FALSE(attempt([](envelope& e) { e.recipients.clear(); }));
    CHECK_FALSE(attempt([](envelope& e) { e.sender = "a\r\nb"; }));
    CHECK_FALSE(attempt([](envelope& e) { e.recipients[0].address = ""; }));
    CHECK_FALSE(attempt([](envelope& e) { e.recipients[1].address = std::string(5000, 'a'); }));
    CHECK_FALSE(attempt([](envelope& e) { e.recipients[0].notify = dsn_notify::never | dsn_notify::delay; }));
    CHECK_FALSE(attempt([](envelope& e) { e.helo = std::string("a\0b", 3); }));
    CHECK_FALSE(attempt([](envelope& e) { e.attributes.push_back({"Bad Name", "x"}); }));
    CHECK_FALSE(attempt([](envelope& e) { e.by.mode = 'X'; }));
    // nothing of the refused ones is left behind
    CHECK(t.q.list("incoming").size() == 1);
    CHECK(t.q.list("tmp").empty());
    CHECK(t.q.list("maildrop").empty());
}

TEST_CASE("truncated queue files are never believed complete", "[queue]") {
    temp_queue t;
    std::string id = write_message(t.q, full_envelope());
    std::string data = slurp(t.q.path("incoming", id));
    REQUIRE(parses(data));
    for (size_t k = 0; k < data.size(); ++k) {
        std::string why;
        INFO("cut at " << k << " of " << data.size());
        CHECK_FALSE(parses(std::string_view(data).substr(0, k), &why));
        CHECK_FALSE(why.empty());
        {
            // the same through the fd reader (memfd: no file system churn)
            unique_fd fd(::memfd_create("cut", MFD_CLOEXEC));
            REQUIRE(write_all(fd.get(), std::string_view(data).substr(0, k)));
            queue_file_info info;
            std::string err;
            CHECK_FALSE(read_queue_file(fd.get(), info, err));
        }
    }
    // a file still being written (header without length) is incomplete too
    std::string err;
    auto w = queue_writer::create(t.q, err);
    w->env() = full_envelope();
    REQUIRE(w->write(std::string(100000, 'x')));
    std::string partial = slurp(w->temp_path());
    CHECK(partial.size() > 65536);
    std::string why;
    CHECK_FALSE(parses(partial, &why));
    CHECK(why.find("incomplete") != std::string::npos);
}

TEST_CASE("damaged and garbage queue files are rejected without crashing", "[queue]") {
    temp_queue t;
    std::string id = write_message(t.q, full_envelope());
    std::string data = slurp(t.q.path("incoming", id));
    queue_file_info info;
    std::string err;
    REQUIRE(parse_queue_file(data, info, err));
    uint64_t env_end = info.message_offset;
    uint64_t end_off = info.message_offset + info.message_length;
    // every bit flip in header (immutable part), envelope or end record is detected
    for (size_t i = 0; i < data.size(); ++i) {
        bool covered = i < 40 || (i >= 64 + 3 && i < env_end) || (i >= end_off && i < end_off + 36);
        for (int bit : {0, 7}) {
            std::string d = data;
            d[i] = static_cast<char>(d[i] ^ (1 << bit));
            bool ok = parses(d);
            if (covered) {
                INFO("flip at " << i);
                CHECK_FALSE(ok);
            }
        }
    }
    // a damaged schedule block only loses the retry state
    std::string d = data;
    d[44] ^= 1;
    REQUIRE(parse_queue_file(d, info, err));
    CHECK(info.sched_damaged);
    // a bad status byte is refused
    d = data;
    d[65] = 9;
    CHECK_FALSE(parses(d));

    // random garbage and random mutations: never a crash, never "complete"
    // garbage (a valid file needs matching CRCs)
    std::mt19937 rng(7);
    for (int i = 0; i < 3000; ++i) {
        std::string g(rng() % 300, '\0');
        for (auto& c : g) c = static_cast<char>(rng());
        if (i % 2 && g.size() >= 8) std::memcpy(g.data(), queue_format::magic, 8);
        CHECK_FALSE(parses(g));
    }
    for (int i = 0; i < 3000; ++i) {
        std::string m = data;
        int n = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < n; ++k) m[rng() % m.size()] = static_cast<char>(rng());
        if (rng() % 3 == 0) m.resize(rng() % m.size());
        parses(m);  // must not crash (run under ASan in CI)
    }
    // huge counts in a correctly checksummed header are refused before allocating
    std::string h = queue_format::encode_header(queue_limits::max_recipients + 1, 10, 10, 0, {});
    CHECK_FALSE(parses(h + std::string(200, '\0')));
    h = queue_format::encode_header(3, queue_limits::max_envelope + 1, 10, 0, {});
    CHECK_FALSE(parses(h + std::string(200, '\0')));
    h = queue_format::encode_header(3, 1u << 20, 1u << 30, 0, {});
    CHECK_FALSE(parses(h));
}

TEST_CASE("recipient status and results are durable in place and survive reopening", "[queue]") {
    temp_queue t;
    std::string id = write_message(t.q, full_envelope(), message, true);
    std::string err;
    queue_file::open_status st;
    {
        auto f = queue_file::open(t.q, "incoming", id, false, st, err);
        REQUIRE(st == queue_file::open_status::ok);
        REQUIRE(f);
        // a second opener (even in this process) sees the lock
        queue_file::open_status st2;
        auto g = queue_file::open(t.q, "incoming", id, false, st2, err);
        CHECK_FALSE(g);
        CHECK(st2 == queue_file::open_status::locked);

        REQUIRE(f->set_status(1, rcpt_status::done, err));
        rcpt_result r;
        r.index = 0;
        r.time = 1700000000;
        r.action = rcpt_action::delayed;
        r.status = "4.4.1";
        r.reason = "connect to mx.example.net[192.0.2.1]:25: Connection refused";
        REQUIRE(f->add_result(r, err));
        r.index = 2;
        r.reason = "host mx.example.net[192.0.2.1] said: 451 4.3.0 try\r\nlater";
        r.remote_mta = "dns; mx.example.net";
        r.diagnostic = "smtp; 451 4.3.0 try later";
        REQUIRE(f->add_result(r, err));
        r.index = 0;
        r.reason = "host mx.example.net[192.0.2.1] said: 451 4.3.0 try later";
        REQUIRE(f->add_result(r, err));
        REQUIRE(f->set_schedule({1700000900, 3, sched_flags::delay_warned}, err));
        CHECK_FALSE(f->set_status(3, rcpt_status::done, err));
        r.index = 9;
        CHECK_FALSE(f->add_result(r, err));
    }
    auto check = [&](const queue_file_info& info) {
        const auto& rs = info.env.recipients;
        CHECK(rs[0].status == rcpt_status::pending);
        CHECK(rs[1].status == rcpt_status::done);
        CHECK(rs[2].status == rcpt_status::pending);
        REQUIRE(rs[0].last);
        CHECK(rs[0].last->reason == "host mx.example.net[192.0.2.1] said: 451 4.3.0 try later");
        CHECK(rs[0].last->status == "4.4.1");
        CHECK(rs[0].last->time == 1700000000);
        CHECK(rs[0].last->action == rcpt_action::delayed);
        CHECK_FALSE(rs[1].last);
        REQUIRE(rs[2].last);
        CHECK(rs[2].last->reason == "host mx.example.net[192.0.2.1] said: 451 4.3.0 try  later");  // one line
        CHECK(rs[2].last->remote_mta == "dns; mx.example.net");
        CHECK(rs[2].last->diagnostic == "smtp; 451 4.3.0 try later");
        CHECK(info.sched.next_try == 1700000900);
        CHECK(info.sched.attempts == 3);
        CHECK(info.sched.flags == sched_flags::delay_warned);
        CHECK(info.log_records == 3);
        CHECK(info.pending_count() == 2);
    };
    {
        unique_fd fd(::open(t.q.path("incoming", id).c_str(), O_RDONLY));
        queue_file_info info;
        REQUIRE(read_queue_file(fd.get(), info, err));
        check(info);
        CHECK_FALSE(info.log_truncated);
        // envelope-only reads skip the log
        REQUIRE(read_queue_file(fd.get(), info, err, {.log = false}));
        CHECK_FALSE(info.env.recipients[0].last);
    }
    // a torn record at the end (crash during an append) is ignored, and the
    // next append cuts it away so that new records are seen
    {
        unique_fd fd(::open(t.q.path("incoming", id).c_str(), O_WRONLY | O_APPEND));
        REQUIRE(write_all(fd.get(), std::string("L\x30\x00\x00\x00partial", 12)));
    }
    {
        auto f = queue_file::open(t.q, "incoming", id, false, st, err);
        REQUIRE(f);
        check(f->info());
        CHECK(f->info().log_truncated);
        rcpt_result r;
        r.index = 2;
        r.action = rcpt_action::failed;
        r.status = "5.1.1";
        r.reason = "host mx.example.net[192.0.2.1] said: 550 5.1.1 no such user";
        REQUIRE(f->add_result(r, err));
        REQUIRE(f->set_status(2, rcpt_status::failed, err));
        // the bounce text lives in the log: it may not be dropped yet
        CHECK_FALSE(f->reset_log(err));
        std::string body;
        REQUIRE(f->read_message(body, err));
        CHECK(body == message);
    }
    {
        auto f = queue_file::open(t.q, "incoming", id, false, st, err);
        REQUIRE(f);
        CHECK_FALSE(f->info().log_truncated);
        CHECK(f->info().log_records == 4);
        CHECK(f->info().env.recipients[2].last->status == "5.1.1");
        CHECK(f->info().env.recipients[2].status == rcpt_status::failed);
        REQUIRE(f->set_status(2, rcpt_status::done, err));
        REQUIRE(f->reset_log(err));
    }
    {
        auto f = queue_file::open(t.q, "incoming", id, false, st, err);
        REQUIRE(f);
        CHECK(f->info().log_records == 0);
        CHECK(f->info().file_size == f->info().log_offset);
        CHECK(f->info().env.recipients[2].status == rcpt_status::done);
    }
    // an envelope-only open still appends after the existing records
    for (uint32_t round = 0; round < 2; ++round) {
        auto f = queue_file::open(t.q, "incoming", id, false, st, err, {.log = false});
        REQUIRE(f);
        rcpt_result r;
        r.index = round;
        r.status = "4.4.7";
        r.reason = "appended after an envelope-only open";
        REQUIRE(f->add_result(r, err));
    }
    {
        auto f = queue_file::open(t.q, "incoming", id, false, st, err);
        REQUIRE(f);
        CHECK(f->info().log_records == 2);
        CHECK(f->info().env.recipients[0].last->status == "4.4.7");
        CHECK(f->info().env.recipients[1].last->status == "4.4.7");
    }
    // a file moved away between lookup and lock is reported as gone
    REQUIRE(t.q.move(id, "incoming", "deferred", err));
    CHECK_FALSE(queue_file::open(t.q, "incoming", id, false, st, err));
    CHECK(st == queue_file::open_status::not_found);
    // a corrupt file is reported as such
    std::string bad = t.q.path("incoming", "0000000001");
    REQUIRE(write_file_atomic(bad, "TERNQF\r\n garbage", 0600));
    CHECK_FALSE(queue_file::open(t.q, "incoming", "0000000001", false, st, err));
    CHECK(st == queue_file::open_status::corrupt);
}

TEST_CASE("listing reads the envelope, not the body", "[queue]") {
    temp_queue t;
    std::string big = "Subject: big\n\n";
    std::string line(99, 'x');
    line += '\n';
    while (big.size() < 10u << 20) big += line;
    std::string id = write_message(t.q, full_envelope(), big);
    unique_fd fd(::open(t.q.path("incoming", id).c_str(), O_RDONLY));
    queue_file_info info;
    std::string err;
    uint64_t before = rchar();
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 100; ++i) REQUIRE(read_queue_file(fd.get(), info, err));
    auto took = std::chrono::steady_clock::now() - start;
    uint64_t read_bytes = rchar() - before;
    CHECK(info.message_length == big.size());
    CHECK(read_bytes < 100 * 16384u);  // a few KB per read, never the 10 MB body
    CHECK(took < std::chrono::milliseconds(500));
}

TEST_CASE("maildrop files: hidden while written, readable when done", "[queue]") {
    temp_queue t;
    std::string err;
    auto w = queue_writer::create(t.q, err, queue_writer::target::maildrop);
    REQUIRE(w);
    CHECK(w->temp_path() == t.q.dir("maildrop") + "/." + w->id());
    w->env().recipients.push_back({});
    w->env().recipients[0].address = "root";
    REQUIRE(w->write("Subject: x\n\nbody\n"));
    CHECK(t.q.list("maildrop").empty());
    std::string id = w->id();
    REQUIRE(w->commit(err));
    auto l = t.q.list("maildrop");
    REQUIRE(l.size() == 1);
    CHECK(l[0].id == id);
    struct stat st;
    REQUIRE(::stat(l[0].path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0644);
}

TEST_CASE("abandoned temporary files are purged, live ones kept", "[queue]") {
    temp_queue t;
    std::string err;
    auto live = queue_writer::create(t.q, err);
    REQUIRE(live);
    live->env() = full_envelope();
    REQUIRE(live->write("x\n"));
    // a crashed writer: a file nobody holds locked
    std::string dead = t.q.dir("tmp") + "/0000000007";
    REQUIRE(write_file_atomic(dead, "half", 0600));
    std::string dead_drop = t.q.dir("maildrop") + "/.0000000008";
    REQUIRE(write_file_atomic(dead_drop, "half", 0600));
    CHECK(purge_queue_temp_files(t.q, 3600) == 0);  // too young
    std::vector<std::string> removed;
    CHECK(purge_queue_temp_files(t.q, 0, &removed) == 2);
    CHECK(::access(dead.c_str(), F_OK) != 0);
    CHECK(::access(dead_drop.c_str(), F_OK) != 0);
    CHECK(::access(live->temp_path().c_str(), F_OK) == 0);
    REQUIRE(live->commit(err, false));
    // a writer that is dropped without commit leaves nothing behind
    std::string path;
    {
        auto w = queue_writer::create(t.q, err);
        path = w->temp_path();
        w->env() = full_envelope();
        REQUIRE(w->write("x\n"));
        CHECK(::access(path.c_str(), F_OK) == 0);
    }
    CHECK(::access(path.c_str(), F_OK) != 0);
}

TEST_CASE("group commit: every commit completes, only after its fsync", "[queue]") {
    temp_queue t;
    event_loop loop;
    std::mutex mu;
    std::set<ino_t> synced;
    std::set<ino_t> fail_these;
    int unlocked_or_hidden = 0;  // files seen at fsync time outside incoming/ or not locked
    queue_committer::options opt;
    opt.threads = 4;
    opt.sync_fn = [&](int fd) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        struct stat st;
        ::fstat(fd, &st);
        // already renamed into incoming/, but still locked by its writer
        char path[4096];
        ssize_t len = ::readlink(("/proc/self/fd/" + std::to_string(fd)).c_str(), path, sizeof path - 1);
        std::string where = len > 0 ? std::string(path, static_cast<size_t>(len)) : "";
        tern::unique_fd other(::open(where.c_str(), O_RDWR | O_CLOEXEC));
        bool ok = where.find("/incoming/") != std::string::npos && other &&
                  tern::queue_lock(other.get(), false) == tern::queue_lock_result::busy;
        std::lock_guard<std::mutex> lk(mu);
        if (!ok) ++unlocked_or_hidden;
        if (fail_these.count(st.st_ino)) return EIO;
        if (::fsync(fd) != 0) return errno;
        synced.insert(st.st_ino);
        return 0;
    };
    queue_committer c(loop, opt);
    constexpr int n = 60;
    int done = 0, ok = 0, failed = 0;
    bool inside_commit = false;
    std::vector<std::string> ids;
    std::string eio_id;
    for (int i = 0; i < n; ++i) {
        std::string err;
        auto w = queue_writer::create(t.q, err);
        REQUIRE(w);
        w->env() = full_envelope();
        REQUIRE(w->write(message));
        if (i == 17) {
            struct stat st;
            ::fstat(w->fd(), &st);
            std::lock_guard<std::mutex> lk(mu);
            fail_these.insert(st.st_ino);
            eio_id = w->id();
        }
        ids.push_back(w->id());
        inside_commit = true;
        c.commit(std::move(w), [&](const commit_result& r) {
            CHECK_FALSE(inside_commit);
            ++done;
            std::string path = t.q.path("incoming", r.id);
            struct stat st;
            if (r.ok) {
                ++ok;
                // visible and synced before we hear of it
                CHECK(::stat(path.c_str(), &st) == 0);
                std::lock_guard<std::mutex> lk(mu);
                CHECK(synced.count(st.st_ino) == 1);
            } else {
                ++failed;
                CHECK(r.id == eio_id);
                CHECK(r.err == EIO);
                CHECK_FALSE(r.out_of_space);
                CHECK(r.error.find("fsync") != std::string::npos);
                CHECK(::stat(path.c_str(), &st) != 0);
            }
            if (done == n + 2) loop.exit();
        });
        inside_commit = false;
    }
    // a writer that cannot finish (no recipients) fails asynchronously
    std::string err;
    auto bad = queue_writer::create(t.q, err);
    c.commit(std::move(bad), [&](const commit_result& r) {
        CHECK_FALSE(r.ok);
        CHECK(r.err == EINVAL);
        ++done;
        ++failed;
        if (done == n + 2) loop.exit();
    });
    c.commit(nullptr, [&](const commit_result& r) {
        CHECK_FALSE(r.ok);
        ++done;
        ++failed;
        if (done == n + 2) loop.exit();
    });
    // a cancelled commit is still committed, its callback never runs
    auto w = queue_writer::create(t.q, err);
    w->env() = full_envelope();
    REQUIRE(w->write(message));
    std::string cancelled_id = w->id();
    auto ticket = c.commit(std::move(w), [&](const commit_result&) { FAIL("cancelled callback ran"); });
    c.cancel(ticket);

    timer guard_timer(loop, [&] { loop.exit(); });
    guard_timer.start(std::chrono::seconds(20));
    loop.run();
    CHECK(done == n + 2);
    CHECK(ok == n - 1);
    CHECK(failed == 3);
    CHECK(unlocked_or_hidden == 0);
    CHECK(c.batches() < static_cast<uint64_t>(n));  // fsyncs were grouped
    CHECK(c.in_flight() <= 1);
    CHECK(t.q.list("tmp").empty());
    // wait for the cancelled one to land (no callback tells us)
    for (int i = 0; i < 200 && !t.q.locate("incoming", cancelled_id); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    CHECK(t.q.locate("incoming", cancelled_id));
    CHECK(t.q.list("incoming").size() == static_cast<size_t>(n));
}

TEST_CASE("out of space: the file is removed and the caller told", "[queue]") {
    temp_queue t;
    // RLIMIT_FSIZE makes writes fail with EFBIG, as a full disk would with ENOSPC
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl{200000, 200000};
        ::setrlimit(RLIMIT_FSIZE, &rl);
        int code = 0;
        std::string err;
        // synchronous writer
        {
            auto w = queue_writer::create(t.q, err);
            if (!w) _exit(10);
            w->env() = full_envelope();
            std::string chunk(10000, 'y');
            bool ok = true;
            for (int i = 0; i < 100 && ok; ++i) ok = w->write(chunk);
            if (ok) ok = w->commit(err);
            if (ok) code |= 1;
            if (!w->out_of_space()) code |= 2;
            if (w->error_number() != EFBIG) code |= 4;
        }
        // through the committer: the failure comes back on the loop
        {
            event_loop loop;
            queue_committer c(loop);
            auto w = queue_writer::create(t.q, err);
            w->env() = full_envelope();
            std::string chunk(1000, 'z');
            for (int i = 0; i < 250; ++i) w->write(chunk);  // fails on a flush past the limit
            bool called = false;
            c.commit(std::move(w), [&](const commit_result& r) {
                called = true;
                if (r.ok || !r.out_of_space) code |= 8;
                loop.exit();
            });
            // and one that fits
            auto small = queue_writer::create(t.q, err);
            small->env() = full_envelope();
            small->write(message);
            c.commit(std::move(small), [&](const commit_result& r) {
                if (!r.ok) code |= 16;
            });
            timer limit(loop, [&] { loop.exit(); });
            limit.start(std::chrono::seconds(10));
            loop.run();
            if (!called) code |= 32;
        }
        _exit(code);
    }
    int st = 0;
    REQUIRE(::waitpid(pid, &st, 0) == pid);
    REQUIRE(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(t.q.list("tmp").empty());
    CHECK(t.q.list("incoming").size() == 1);  // only the small one
}
