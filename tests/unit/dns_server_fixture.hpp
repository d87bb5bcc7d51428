// dns_server_fixture.hpp - tests/tools/dns_server.py as a child process on a
// free loopback port, for unit tests that need real DNS answers (spf_test,
// dnsbl_test). Zone text in, a resolver configuration out; stdin commands
// change the data while a test runs. The server dies with its stdin.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "lib/dns.hpp"
#include "lib/fd.hpp"

#ifndef TERN_SRCDIR
#error "TERN_SRCDIR must name the source tree (tests/local.mk)"
#endif

namespace tern::testing {

class dns_server {
public:
    explicit dns_server(const std::string& zone, const std::vector<std::string>& extra = {}) {
        char tmpl[] = "/tmp/tern-dnsfix.XXXXXX";
        REQUIRE(mkdtemp(tmpl));
        _dir = tmpl;
        _zone = _dir + "/zone";
        REQUIRE(write_file_atomic(_zone, zone, 0600));
        int in[2], out[2];
        REQUIRE(pipe2(in, O_CLOEXEC) == 0);
        REQUIRE(pipe2(out, O_CLOEXEC) == 0);
        std::vector<std::string> args{"/usr/bin/python3", TERN_SRCDIR "/tests/tools/dns_server.py", "--zone", _zone};
        args.insert(args.end(), extra.begin(), extra.end());
        _pid = fork();
        REQUIRE(_pid >= 0);
        if (_pid == 0) {
            dup2(in[0], 0);
            dup2(out[1], 1);
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execv(argv[0], argv.data());
            _exit(127);
        }
        close(in[0]);
        close(out[1]);
        _in.reset(in[1]);
        _out.reset(out[0]);
        auto line = read_line(10000);
        REQUIRE(line.rfind("PORT ", 0) == 0);
        _port = std::stoi(line.substr(5));
    }
    dns_server(const dns_server&) = delete;
    dns_server& operator=(const dns_server&) = delete;
    ~dns_server() {
        _in.reset();  // closing stdin stops it
        int st;
        for (int i = 0; i < 100 && _pid > 0; ++i) {
            if (waitpid(_pid, &st, WNOHANG) == _pid) {
                _pid = -1;
                break;
            }
            usleep(20000);
        }
        if (_pid > 0) {
            kill(_pid, SIGKILL);
            waitpid(_pid, &st, 0);
        }
        unlink(_zone.c_str());
        rmdir(_dir.c_str());
    }
    int port() const { return _port; }
    std::string forwarder() const { return "127.0.0.1@" + std::to_string(_port); }
    // One stdin command ("add ...", "timeout NAME", "queries"); true on OK.
    bool command(const std::string& cmd) {
        std::string l = cmd + "\n";
        if (!write_all(_in.get(), l)) return false;
        return read_line(5000) == "OK";
    }
    dns::options opts(std::chrono::milliseconds timeout = std::chrono::milliseconds(3000)) const {
        dns::options o;
        o.system = false;
        o.forwarders = {forwarder()};
        o.timeout = timeout;
        return o;
    }

private:
    std::string read_line(int timeout_ms) {
        std::string line;
        auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
            if (left.count() <= 0) return line;
            pollfd p{_out.get(), POLLIN, 0};
            if (poll(&p, 1, int(left.count())) <= 0) continue;
            char c;
            if (read(_out.get(), &c, 1) != 1) return line;
            if (c == '\n') return line;
            line += c;
        }
    }
    std::string _dir, _zone;
    pid_t _pid = -1;
    unique_fd _in, _out;
    int _port = 0;
};

}  // namespace tern::testing
