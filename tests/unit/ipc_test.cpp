// ipc_test.cpp - async and blocking attr requests against serve_attr_connection.
#include <catch2/catch.hpp>

#include <event2/event.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include "lib/ipc.hpp"
#include "lib/net.hpp"

using namespace tern;
using namespace std::chrono_literals;

namespace {

struct server_fixture {
    std::string dir, path;
    unique_fd listener;
    event_ptr ev;
    event_loop& loop;
    attr_handler handler;
    explicit server_fixture(event_loop& l, int backlog = 16, bool accepting = true) : loop(l) {
        char d[] = "/tmp/tern-ipc-XXXXXX";
        REQUIRE(::mkdtemp(d));
        dir = d;
        path = dir + "/sock";
        std::string err;
        listener = listen_unix(path, 0600, backlog, err);
        REQUIRE(listener);
        if (accepting) start_accepting();
    }
    void start_accepting() {
        ev.reset(event_new(loop.base(), listener.get(), EV_READ | EV_PERSIST, &server_fixture::accept_cb, this));
        event_add(ev.get(), nullptr);
    }
    // Connections that fill the listen queue until the kernel refuses more.
    std::vector<unique_fd> fill_backlog() {
        std::vector<unique_fd> fill;
        for (int i = 0; i < 64; ++i) {
            std::string err;
            bool again = false;
            auto fd = connect_unix_once(path, err, again);
            if (!fd) {
                REQUIRE(again);
                CHECK(err.find("listen queue is full") != std::string::npos);
                return fill;
            }
            fill.push_back(std::move(fd));
        }
        FAIL("the listen queue never filled");
        return fill;
    }
    ~server_fixture() {
        ev.reset();
        // let server connections whose clients have gone see the EOF and free
        // themselves (LeakSanitizer would report them), for at most a second
        if (attr_connections_open() > 0) {
            auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
            timer poll(loop, [&] {
                if (attr_connections_open() == 0 || std::chrono::steady_clock::now() > until) loop.exit();
            });
            poll.start(std::chrono::milliseconds(5), true);
            loop.run();
        }
        ::unlink(path.c_str());
        ::rmdir(dir.c_str());
    }
    static void accept_cb(int fd, short, void* arg) {
        auto self = static_cast<server_fixture*>(arg);
        unique_fd c(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
        if (c) serve_attr_connection(self->loop, std::move(c), self->handler, std::chrono::seconds(5));
    }
};

}  // namespace

TEST_CASE("async request, reply later, two in sequence") {
    event_loop loop;
    server_fixture srv(loop);
    std::vector<std::unique_ptr<timer>> timers;
    srv.handler = [&](const attr_list& req, attr_responder respond) {
        // answer after a short delay, from a timer callback
        attr_list r;
        r.add("status", "ok").add("echo", req.get("text"));
        timers.push_back(std::make_unique<timer>(loop, [respond, r] { respond(r); }));
        timers.back()->start(10ms);
    };
    std::vector<std::string> got;
    attr_list req;
    req.add("request", "echo").add("text", "hello\nworld");
    auto r1 = ipc_async(loop, srv.path, req, 2000ms, [&](std::optional<attr_list> rep, const std::string& err) {
        REQUIRE(rep);
        INFO(err);
        got.push_back(rep->get("echo"));
        if (got.size() == 2) loop.exit();
    });
    auto r2 = ipc_async(loop, srv.path, req, 2000ms, [&](std::optional<attr_list> rep, const std::string&) {
        REQUIRE(rep);
        got.push_back(rep->get("echo"));
        if (got.size() == 2) loop.exit();
    });
    timer limit(loop, [&] { loop.exit(); });
    limit.start(3000ms);
    loop.run();
    CHECK(got == std::vector<std::string>{"hello\nworld", "hello\nworld"});
}

TEST_CASE("async request to a missing socket fails asynchronously; cancel means no callback") {
    event_loop loop;
    bool called_sync = true, failed = false, cancelled_called = false;
    std::string why;
    auto r = ipc_async(loop, "/tmp/tern-no-such-socket", attr_list().add("a", "b"), 1000ms,
                       [&](std::optional<attr_list> rep, const std::string& err) {
                           failed = !rep;
                           why = err;
                           loop.exit();
                       });
    called_sync = failed;
    server_fixture srv(loop);
    srv.handler = [](const attr_list&, attr_responder) {};  // never answers
    {
        auto c = ipc_async(loop, srv.path, attr_list().add("a", "b"), 50ms,
                           [&](std::optional<attr_list>, const std::string&) { cancelled_called = true; });
        // destroyed here: cancelled
    }
    timer limit(loop, [&] { loop.exit(); });
    limit.start(2000ms);
    loop.run();
    timer more(loop, [&] { loop.exit(); });
    more.start(100ms);
    loop.run();
    CHECK_FALSE(called_sync);
    CHECK(failed);
    CHECK(why.find("tern-no-such-socket") != std::string::npos);
    CHECK_FALSE(cancelled_called);
}

TEST_CASE("timeout and malformed requests") {
    event_loop loop;
    server_fixture srv(loop);
    srv.handler = [](const attr_list&, attr_responder) {};  // never answers
    std::string why;
    auto r = ipc_async(loop, srv.path, attr_list().add("a", "b"), 100ms,
                       [&](std::optional<attr_list> rep, const std::string& err) {
                           CHECK_FALSE(rep);
                           why = err;
                           loop.exit();
                       });
    timer limit(loop, [&] { loop.exit(); });
    limit.start(2000ms);
    loop.run();
    CHECK(why == "timeout");

    // a malformed request gets status=error and the connection closes
    srv.handler = [](const attr_list&, attr_responder respond) { respond(attr_list().add("status", "ok")); };
    int sv_done = 0;
    std::string reply;
    std::thread client([&] {
        std::string err;
        auto fd = connect_unix(srv.path, 1000, err);
        REQUIRE(fd);
        std::string junk = "no equals sign\n\n";
        REQUIRE(::write(fd.get(), junk.data(), junk.size()) == static_cast<ssize_t>(junk.size()));
        char buf[512];
        ssize_t n;
        while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) reply.append(buf, static_cast<size_t>(n));
        sv_done = 1;
    });
    timer poll(loop, [&] {
        if (sv_done) loop.exit();
    });
    poll.start(10ms, true);
    timer limit2(loop, [&] { loop.exit(); });
    limit2.start(3000ms);
    loop.run();
    client.join();
    CHECK(reply.find("status=error") == 0);
    CHECK(reply.find("malformed") != std::string::npos);
}

// A burst larger than the service's backlog: the kernel refuses the connect
// with EAGAIN. The request must wait for a place (within its timeout), not
// take the never-connected socket for a connection (its read fails with
// EINVAL: smtpd's content check once reported "Invalid argument").
TEST_CASE("async request waits while the listen queue is full") {
    event_loop loop;
    server_fixture srv(loop, 1, false);
    srv.handler = [](const attr_list& req, attr_responder respond) {
        respond(attr_list().add("status", "ok").add("echo", req.get("text")));
    };
    auto fill = srv.fill_backlog();
    CHECK_FALSE(fill.empty());
    std::string got, why = "no callback";
    auto r = ipc_async(loop, srv.path, attr_list().add("text", "queued"), 3000ms,
                       [&](std::optional<attr_list> rep, const std::string& err) {
                           if (rep) got = rep->get("echo");
                           why = err;
                           loop.exit();
                       });
    // the service starts accepting 150 ms later; the fillers go away
    timer later(loop, [&] {
        srv.start_accepting();
        fill.clear();
    });
    later.start(150ms);
    timer limit(loop, [&] { loop.exit(); });
    limit.start(5000ms);
    auto t0 = std::chrono::steady_clock::now();
    loop.run();
    INFO(why);
    CHECK(got == "queued");
    CHECK(std::chrono::steady_clock::now() - t0 >= 150ms);
}

TEST_CASE("async request to a listen queue that stays full times out with the reason") {
    event_loop loop;
    server_fixture srv(loop, 1, false);  // never accepts
    auto fill = srv.fill_backlog();
    std::string why;
    bool answered = false;
    auto r = ipc_async(loop, srv.path, attr_list().add("a", "b"), 200ms,
                       [&](std::optional<attr_list> rep, const std::string& err) {
                           answered = rep.has_value();
                           why = err;
                           loop.exit();
                       });
    timer limit(loop, [&] { loop.exit(); });
    limit.start(3000ms);
    loop.run();
    CHECK_FALSE(answered);
    CHECK(why.find("timeout") == 0);
    CHECK(why.find("listen queue is full") != std::string::npos);
    CHECK(why.find("Invalid argument") == std::string::npos);
}

TEST_CASE("a notice to a service whose listen queue is full is dropped at once") {
    event_loop loop;
    server_fixture srv(loop, 1, false);
    auto fill = srv.fill_backlog();
    auto t0 = std::chrono::steady_clock::now();
    CHECK_FALSE(ipc_notify(srv.path, attr_list().add("request", "wakeup"), 1000));
    CHECK(std::chrono::steady_clock::now() - t0 < 500ms);
    // with a place in the queue it is written
    fill.clear();
    unique_fd accepted(::accept4(srv.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    while (accepted) accepted.reset(::accept4(srv.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    CHECK(ipc_notify(srv.path, attr_list().add("request", "wakeup"), 1000));
    unique_fd c(::accept4(srv.listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    REQUIRE(c);
    char buf[64] = {};
    ssize_t n = ::read(c.get(), buf, sizeof buf - 1);
    CHECK(std::string(buf, n > 0 ? size_t(n) : 0) == "request=wakeup\n\n");
}
