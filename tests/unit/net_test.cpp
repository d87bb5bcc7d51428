// net_test.cpp - addresses, listeners, connects with limits, line reader.
#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <event2/buffer.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <thread>
#include <vector>
#include <unistd.h>

#include "lib/net.hpp"

using namespace tern;

TEST_CASE("numeric addresses") {
    auto a = parse_ip("192.0.2.7", 25);
    REQUIRE(a);
    CHECK(a->host() == "192.0.2.7");
    CHECK(a->port() == 25);
    CHECK(a->str() == "192.0.2.7:25");
    auto b = parse_ip("[2001:db8::1]", 587);
    REQUIRE(b);
    CHECK(b->host() == "2001:db8::1");
    CHECK(b->str() == "[2001:db8::1]:587");
    CHECK(parse_ip("IPv6:::1"));
    CHECK_FALSE(parse_ip("example.org"));
    CHECK_FALSE(parse_ip("1.2.3.999"));
    CHECK(is_loopback(*parse_ip("127.1.2.3")));
    CHECK(is_loopback(*parse_ip("::1")));
    CHECK_FALSE(is_loopback(*parse_ip("192.0.2.1")));
}

TEST_CASE("interface lists") {
    CHECK(interface_addresses({"all"}) == std::vector<std::string>{""});
    CHECK(interface_addresses({"loopback-only"}) == std::vector<std::string>{"127.0.0.1", "::1"});
    CHECK(interface_addresses({"127.0.0.2", "127.0.0.3"}) == std::vector<std::string>{"127.0.0.2", "127.0.0.3"});
}

TEST_CASE("inet listener and blocking connect") {
    std::string err;
    auto fds = listen_inet("127.0.0.1", 0, 16, err);
    REQUIRE(fds.size() == 1);
    sock_addr local;
    local.len = sizeof local.ss;
    ::getsockname(fds[0].get(), reinterpret_cast<sockaddr*>(&local.ss), &local.len);
    auto c = connect_inet(local, 1000, err);
    REQUIRE(c);
    // a port nobody listens on: refused quickly, with a reason
    auto closed = parse_ip("127.0.0.1", 1);
    auto bad = connect_inet(*closed, 1000, err);
    CHECK_FALSE(bad);
    CHECK(err.find("127.0.0.1:1") != std::string::npos);
    // binding the same address twice fails with a reason
    auto again = listen_inet("127.0.0.1", local.port(), 16, err);
    CHECK(again.empty());
    CHECK(err.find("bind") != std::string::npos);
}

TEST_CASE("unix listener and connect") {
    char dir[] = "/tmp/tern-net-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    std::string path = std::string(dir) + "/sock";
    std::string err;
    auto l = listen_unix(path, 0600, 16, err);
    REQUIRE(l);
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    auto c = connect_unix(path, 1000, err);
    CHECK(c);
    auto none = connect_unix(std::string(dir) + "/missing", 1000, err);
    CHECK_FALSE(none);
    CHECK(err.find("missing") != std::string::npos);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST_CASE("unix connect to a full listen queue waits for a place, within its time limit") {
    char dir[] = "/tmp/tern-net-XXXXXX";
    REQUIRE(::mkdtemp(dir));
    std::string path = std::string(dir) + "/sock";
    std::string err;
    auto l = listen_unix(path, 0600, 1, err);
    REQUIRE(l);
    std::vector<unique_fd> fill;
    for (int i = 0; i < 64; ++i) {
        bool again = false;
        auto fd = connect_unix_once(path, err, again);
        if (!fd) {
            CHECK(again);
            break;
        }
        fill.push_back(std::move(fd));
    }
    REQUIRE(fill.size() < 64);
    // nobody accepts: a clear reason and errno EAGAIN after the time limit
    auto t0 = std::chrono::steady_clock::now();
    auto none = connect_unix(path, 100, err);
    int e = errno;
    CHECK_FALSE(none);
    CHECK(e == EAGAIN);
    CHECK(err.find("listen queue stayed full") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(100));
    // the listener accepts one 100 ms from now: the connect gets through
    std::thread acceptor([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        unique_fd c(::accept4(l.get(), nullptr, nullptr, SOCK_CLOEXEC));
        CHECK(c);
    });
    auto one = connect_unix(path, 2000, err);
    acceptor.join();
    INFO(err);
    CHECK(one);
    ::unlink(path.c_str());
    ::rmdir(dir);
}

TEST_CASE("bounded line reader") {
    evbuffer* b = evbuffer_new();
    std::string line;
    bool bare = false;
    evbuffer_add(b, "HELO x\r\nNOOP\nPART", 17);
    CHECK(read_line(b, 100, line, &bare) == line_status::ok);
    CHECK(line == "HELO x");
    CHECK_FALSE(bare);
    CHECK(read_line(b, 100, line, &bare) == line_status::ok);
    CHECK(line == "NOOP");
    CHECK(bare);
    CHECK(read_line(b, 100, line) == line_status::need_more);
    evbuffer_add(b, "IAL\r\n", 5);
    CHECK(read_line(b, 100, line) == line_status::ok);
    CHECK(line == "PARTIAL");
    // too long with and without a newline in sight
    std::string big(50, 'x');
    evbuffer_add(b, big.data(), big.size());
    CHECK(read_line(b, 10, line) == line_status::too_long);
    evbuffer_add(b, "\n", 1);
    CHECK(read_line(b, 10, line) == line_status::too_long);
    // exactly at the limit is fine (CR excluded)
    evbuffer_drain(b, evbuffer_get_length(b));
    evbuffer_add(b, "0123456789\r\n", 12);
    CHECK(read_line(b, 10, line) == line_status::ok);
    CHECK(line == "0123456789");
    evbuffer_free(b);
}

TEST_CASE("a datagram carries a descriptor across a socket pair", "[net]") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    unique_fd a(sv[0]), b(sv[1]);
    int pp[2];
    REQUIRE(::pipe(pp) == 0);
    unique_fd r(pp[0]), w(pp[1]);
    REQUIRE(send_with_fd(a.get(), "hello", r.get()));
    char buf[16];
    unique_fd got;
    bool truncated = true;
    REQUIRE(recv_with_fd(b.get(), buf, sizeof buf, got, truncated) == 5);
    CHECK(std::string(buf, 5) == "hello");
    CHECK_FALSE(truncated);
    REQUIRE(got);
    CHECK(got.get() != r.get());
    CHECK((::fcntl(got.get(), F_GETFD) & FD_CLOEXEC) != 0);
    REQUIRE(::write(w.get(), "x", 1) == 1);
    char c = 0;
    REQUIRE(::read(got.get(), &c, 1) == 1);  // the same pipe
    CHECK(c == 'x');
    // too long for the buffer: truncated, said so
    REQUIRE(send_with_fd(a.get(), "0123456789abcdefXYZ", r.get()));
    CHECK(recv_with_fd(b.get(), buf, sizeof buf, got, truncated) == 16);
    CHECK(truncated);
    // a datagram without a descriptor, then EOF
    REQUIRE(::send(a.get(), "plain", 5, 0) == 5);
    CHECK(recv_with_fd(b.get(), buf, sizeof buf, got, truncated) == 5);
    CHECK_FALSE(got);
    a.reset();
    CHECK(recv_with_fd(b.get(), buf, sizeof buf, got, truncated) == 0);
}
