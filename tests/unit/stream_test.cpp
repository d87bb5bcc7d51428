// stream_test.cpp - buffered connections: plain echo, implicit TLS, and
// STARTTLS throwing away plaintext pipelined before the handshake.
#include <catch2/catch.hpp>

#include <event2/buffer.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/stream.hpp"
#include "lib/tls.hpp"

using namespace tern;
using namespace std::chrono_literals;

namespace {

struct line_peer : stream_handler {
    event_loop& loop;
    std::unique_ptr<stream> s;
    std::vector<std::string> lines;
    std::string closed_why;
    std::function<void(line_peer&, const std::string&)> on_line;
    bool tls_ready = false;
    line_peer(event_loop& l, unique_fd fd) : loop(l) { s = std::make_unique<stream>(l, std::move(fd), *this); }
    void on_readable() override {
        std::string line;
        while (s && !s->closed() && read_line(s->input(), 1000, line) == line_status::ok) {
            lines.push_back(line);
            if (on_line) on_line(*this, line);
        }
    }
    void on_closed(const std::string& why) override { closed_why = why; }
    void on_tls_ready() override { tls_ready = true; }
};

std::pair<unique_fd, unique_fd> pair() {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    return {unique_fd(sv[0]), unique_fd(sv[1])};
}

struct tls_files {
    std::string dir, cert, key;
    tls_files() {
        char d[] = "/tmp/tern-tls-XXXXXX";
        REQUIRE(::mkdtemp(d));
        dir = d;
        cert = dir + "/cert.pem";
        key = dir + "/key.pem";
        std::string err;
        REQUIRE(make_self_signed("mail.example.test", cert, key, 1, err));
    }
    ~tls_files() { std::system(("rm -rf " + dir).c_str()); }
};

}  // namespace

TEST_CASE("plain stream: lines both ways, close after flush") {
    event_loop loop;
    auto [a, b] = pair();
    line_peer server(loop, std::move(a)), client(loop, std::move(b));
    server.on_line = [](line_peer& p, const std::string& l) {
        p.s->write("echo " + l + "\r\n");
        if (l == "QUIT") p.s->close_after_flush();
    };
    client.s->write("HELLO\r\nQUIT\r\n");
    timer limit(loop, [&] { loop.exit(); });
    limit.start(2000ms);
    timer check(loop, [&] {
        if (!client.closed_why.empty()) loop.exit();
    });
    check.start(5ms, true);
    loop.run();
    CHECK(server.lines == std::vector<std::string>{"HELLO", "QUIT"});
    CHECK(client.lines == std::vector<std::string>{"echo HELLO", "echo QUIT"});
    CHECK(client.closed_why == "lost connection");
    CHECK(server.closed_why == "closed");
}

TEST_CASE("read timeout closes an idle peer") {
    event_loop loop;
    auto [a, b] = pair();
    line_peer server(loop, std::move(a));
    unique_fd keep = std::move(b);
    server.s->set_timeouts(std::chrono::seconds(1), std::chrono::seconds(1));
    timer limit(loop, [&] { loop.exit(); });
    limit.start(3000ms);
    timer check(loop, [&] {
        if (!server.closed_why.empty()) loop.exit();
    });
    check.start(10ms, true);
    loop.run();
    CHECK(server.closed_why == "timeout");
}

TEST_CASE("STARTTLS discards plaintext sent before the handshake") {
    tls_files files;
    std::string err;
    auto sctx = make_server_ctx(files.cert, files.key, "TLSv1.2", err);
    REQUIRE(sctx);
    auto cctx = make_client_ctx(tls_verify::none, "", "TLSv1.2", err);
    REQUIRE(cctx);
    event_loop loop;
    auto [a, b] = pair();
    line_peer server(loop, std::move(a)), client(loop, std::move(b));
    bool upgraded = false;
    server.on_line = [&, ctx = sctx.get()](line_peer& p, const std::string& l) {
        if (l == "STARTTLS" && !upgraded) {
            upgraded = true;
            // the reply still goes out in the clear; input queued after the
            // command ("INJECTED") is thrown away by the switch
            p.s->write("220 go ahead\r\n");
            REQUIRE(p.s->start_tls_server(ctx));
            return;
        }
        p.s->write("got " + l + "\r\n");
    };
    client.on_line = [&, ctx = cctx.get()](line_peer& p, const std::string& l) {
        if (l == "220 go ahead") p.s->start_tls_client(ctx, "mail.example.test");
    };
    client.s->write("STARTTLS\r\nINJECTED\r\n");
    timer after_tls(loop, [&] {
        if (client.tls_ready) {
            client.s->write("SECRET\r\n");
            after_tls.stop();
        }
    });
    after_tls.start(5ms, true);
    timer done(loop, [&] {
        if (!client.lines.empty() && client.lines.back() == "got SECRET") loop.exit();
    });
    done.start(5ms, true);
    timer limit(loop, [&] { loop.exit(); });
    limit.start(3000ms);
    loop.run();
    CHECK(server.tls_ready);
    CHECK(server.s->is_tls());
    CHECK(server.s->tls_description().find("TLSv1.") == 0);
    CHECK(server.lines == std::vector<std::string>{"STARTTLS", "SECRET"});
    REQUIRE_FALSE(client.lines.empty());
    CHECK(client.lines.back() == "got SECRET");
}

TEST_CASE("server context refuses a key that does not match") {
    tls_files f1, f2;
    std::string err;
    auto ctx = make_server_ctx(f1.cert, f2.key, "TLSv1.2", err);
    CHECK_FALSE(ctx);
    CHECK(err.find(f2.key) != std::string::npos);
    auto missing = make_server_ctx("/nonexistent.pem", f1.key, "TLSv1.2", err);
    CHECK_FALSE(missing);
    CHECK(err.find("/nonexistent.pem") != std::string::npos);
}
