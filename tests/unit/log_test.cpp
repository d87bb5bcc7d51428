// log_test.cpp - log line format, newline scrubbing, error counting.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "lib/fd.hpp"
#include "lib/log.hpp"

using namespace tern;

// Capture what the logger writes to fd 2.
static std::string capture(const std::function<void()>& fn) {
    char path[] = "/tmp/tern-log-XXXXXX";
    unique_fd f(::mkstemp(path));
    REQUIRE(f);
    int saved = ::dup(2);
    ::dup2(f.get(), 2);
    fn();
    ::dup2(saved, 2);
    ::close(saved);
    auto text = read_file(path).value_or("");
    ::unlink(path);
    return text;
}

TEST_CASE("log lines: program, pid, level, one line per event") {
    log::init("smtpd", log::sink::stderr_stream, false);
    unsigned before = log::error_count();
    auto out = capture([] {
        log::info("%s: client=%s", "3F1B2C0A1D", "mx.example.net[192.0.2.1]");
        log::warn("bad\nthing\rhere");
        log::error("disk %d", 5);
        log::debug("not shown");
    });
    std::string pid = std::to_string(::getpid());
    CHECK(out.find("tern/smtpd[" + pid + "]: 3F1B2C0A1D: client=mx.example.net[192.0.2.1]\n") != std::string::npos);
    CHECK(out.find("warning: bad thing here\n") != std::string::npos);
    CHECK(out.find("error: disk 5\n") != std::string::npos);
    CHECK(out.find("not shown") == std::string::npos);
    CHECK(log::error_count() == before + 1);
    // exactly three lines
    CHECK(std::count(out.begin(), out.end(), '\n') == 3);
}

TEST_CASE("verbose mode and syslog_name prefix") {
    log::init("qmgr", log::sink::stderr_stream, true);
    log::set_ident("tern/submission");
    auto out = capture([] { log::debug("scan %d", 1); });
    CHECK(out.find("tern/submission/qmgr[") != std::string::npos);
    CHECK(out.find("scan 1") != std::string::npos);
    log::init("test", log::sink::stderr_stream, false);
}

TEST_CASE("overlong messages are cut, never overflow") {
    log::init("test", log::sink::stderr_stream, false);
    std::string big(20000, 'x');
    auto out = capture([&] { log::info("%s", big.c_str()); });
    CHECK(out.size() < 5000);
    CHECK(out.back() == '\n');
}
